from django.db import models

from modeling.data import TRAINABLE_ARMS


class ModelArm(models.Model):
    """A model configuration compared in studies: base model + optional adapter + prompting."""

    class Method(models.TextChoices):
        BASELINE = "baseline", "Baseline"
        FEWSHOT = "fewshot", "Few-shot (k=3)"
        INSTRUCTED = "instructed", "Instructed"
        GENERAL_SFT = "general_sft", "GeneralSFT"
        BEHAVIOR_SFT = "behavior_sft", "BehaviorSFT"

    name = models.CharField(max_length=120, unique=True)
    method = models.CharField(max_length=20, choices=Method.choices)
    base_model = models.CharField(max_length=500, help_text='A Hugging Face directory, a .gguf file, or "demo".')
    adapter_path = models.CharField(max_length=500, blank=True)
    uses_behavior_tokens = models.BooleanField(default=False)
    prompt_template = models.CharField(max_length=40, blank=True, help_text="Prompt template version.")
    decoding_params = models.JSONField(default=dict, blank=True)
    checkpoint_hash = models.CharField(max_length=64, blank=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


# The methods a training job can train (the arm it makes gets the same method).
TRAINING_METHODS = [(value, label) for value, label in ModelArm.Method.choices if value in TRAINABLE_ARMS]
