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

    @classmethod
    def takes_work(cls, status: str | None) -> bool:
        """Whether a rater whose standing in a study is ``status`` (None: no row) may rate
        or correct there: not paused, not removed."""
        return status in (None, cls.Status.ACTIVE)

    @classmethod
    def takes_work_in(cls, *, study_id: int, rater_id: int) -> bool:
        """:meth:`takes_work` for the rater's standing row in the study, read now."""
        return cls.takes_work(cls.objects.filter(study_id=study_id, rater_id=rater_id)
                              .values_list("status", flat=True).first())
