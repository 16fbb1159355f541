from django.conf import settings
from django.db import models


class StudyRater(models.Model):
    """A clinician's standing in one study: whether they may take work there, and how far
    their onboarding went. A rater without a row is active and not yet onboarded; rows
    are made when something about the rater in that study is first recorded."""

    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        REMOVED = "removed", "Removed"

    study = models.ForeignKey("annotations.Study", on_delete=models.CASCADE, related_name="study_raters")
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="study_raters")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE, db_index=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    instructions_acknowledged_at = models.DateTimeField(null=True, blank=True)
    consent_at = models.DateTimeField(null=True, blank=True)
    consent_sha256 = models.CharField(max_length=64, blank=True, help_text="Of the consent text accepted.")
    practice_completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["study", "rater"]
        constraints = [models.UniqueConstraint(fields=["study", "rater"], name="one_standing_per_study_and_rater")]

    def __str__(self) -> str:
        return f"{self.rater} in {self.study} ({self.status})"
