from django.conf import settings
from django.db import models


class PracticeAttempt(models.Model):
    """A rater's answers to a practice case during onboarding: kept apart from the study's
    submissions, so it is never counted."""

    study = models.ForeignKey("annotations.Study", on_delete=models.CASCADE, related_name="practice_attempts")
    case = models.ForeignKey("annotations.Case", on_delete=models.CASCADE, related_name="practice_attempts")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="practice_attempts")
    slots = models.JSONField(help_text="Response ids in the order shown.")
    answers = models.JSONField(help_text="Per slot: dimension -> value; and the ranks.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "rater", "created_at"]
        constraints = [models.UniqueConstraint(fields=["case", "rater"], name="one_practice_attempt_per_case")]
