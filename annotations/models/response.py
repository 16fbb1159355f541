from django.db import models

from annotations.models import bounds
from modeling.behavior import shown_text

# The finish reason of a response cut at max_new_tokens (our engine's and OpenAI's word).
FINISH_LENGTH = "length"


class Response(models.Model):
    """One arm's response to one case. ``text`` is what raters see (behavior token stripped)."""

    case = models.ForeignKey("annotations.Case", on_delete=models.CASCADE, related_name="responses")
    arm = models.ForeignKey("annotations.ModelArm", on_delete=models.PROTECT, related_name="responses")
    job = models.ForeignKey("annotations.GenerationJob", null=True, blank=True, on_delete=models.SET_NULL,
                            related_name="responses")
    text = models.TextField(blank=True)
    raw_text = models.TextField(blank=True)
    predicted_behavior = models.CharField(max_length=10, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True, validators=bounds.TOKEN_COUNT.validators)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True, validators=bounds.TOKEN_COUNT.validators)
    latency_s = models.FloatField(null=True, blank=True, validators=bounds.LATENCY_SECONDS.validators)
    finish_reason = models.CharField(
        max_length=20, blank=True,
        help_text="Why the response ended: stop (the model ended it), length (cut at the token limit), or what an "
                  "inference server said; blank where nothing said.")
    provenance = models.JSONField(default=dict, blank=True,
                                  help_text="checkpoint hash, decoding params, seed, template version, host, device")
    names_model = models.BooleanField(default=False, help_text="The text names a model; review before rating.")
    # Scored against its case when written (modeling.metrics.score_response), so the
    # responses page can filter on it at any study size; None where it cannot be scored.
    correct = models.BooleanField(null=True, blank=True)
    # The whole reading of that scoring (modeling.metrics.score_response: the label read,
    # flagged, issue found, concern found...), so the automatic metrics count stored
    # readings instead of reading every response again; None where it cannot be scored.
    reading = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["case", "arm", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["case", "arm", "job"], name="unique_response_per_job"),
            models.UniqueConstraint(fields=["case", "arm"], condition=models.Q(job__isnull=True),
                                    name="unique_response_without_job"),
        ]

    @property
    def cut_at_token_limit(self) -> bool:
        return self.finish_reason == FINISH_LENGTH

    def __str__(self) -> str:
        return f"{self.case} / {self.arm}"

    @property
    def display_text(self) -> str:
        return shown_text(self.text)


class GenerationFailure(models.Model):
    """A case a generation job asked and got no answer for, for good: the server refused
    the prompt (longer than the model's context, or another 400), so asking again as it
    is gets the same refusal. Kept for the job's page and the API; the job's retry leaves
    it alone, while a later job (say, for missing responses, once the server's context is
    larger) asks it again. Failures that may pass (a timeout, a server error) are not
    stored: they fail their chunk, and its retry asks them again."""

    job = models.ForeignKey("annotations.GenerationJob", on_delete=models.CASCADE, related_name="failures")
    case = models.ForeignKey("annotations.Case", on_delete=models.CASCADE, related_name="generation_failures")
    kind = models.CharField(max_length=20, help_text="context (the prompt is longer than the model's context), "
                                                     "logprobs or refused (another refusal)")
    message = models.TextField(help_text="What the failure means, in the portal's words and the server's error names.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["job", "case"]
        constraints = [models.UniqueConstraint(fields=["job", "case"], name="unique_generation_failure_per_job")]

    def __str__(self) -> str:
        return f"{self.case} / job #{self.job_id}: {self.kind}"
