from django.core.exceptions import ValidationError
from django.db import models

from annotations.errors import InvalidRequest
from annotations.model_refs import model_ref_check
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

    def clean(self) -> None:
        errors = {}
        for field, what, allow_demo in (("base_model", "base model", True), ("adapter_path", "adapter", False)):
            value = getattr(self, field)
            if value or field == "base_model":
                try:
                    model_ref_check(value, what=what, allow_demo=allow_demo)
                except InvalidRequest as exc:
                    errors[field] = str(exc)
        if errors:
            raise ValidationError(errors)


# The methods a training job can train (the arm it makes gets the same method).
TRAINING_METHODS = [(value, label) for value, label in ModelArm.Method.choices if value in TRAINABLE_ARMS]
