from django.conf import settings
from django.db import models

from annotations.models import bounds


class Assignment(models.Model):
    """One rater's task to rate one case. ``slots`` holds response ids in display order."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        IN_PROGRESS = "in_progress", "In progress"
        SUBMITTED = "submitted", "Submitted"

    study = models.ForeignKey("annotations.Study", on_delete=models.CASCADE, related_name="assignments")
    case = models.ForeignKey("annotations.Case", on_delete=models.CASCADE, related_name="assignments")
    # Null while the assignment waits in the pool for any rater (after an idle rater let it go).
    rater = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                              related_name="assignments")
    slots = models.JSONField(default=list, help_text="Response ids in the order shown (A, B, C...).")
    square_row = models.PositiveSmallIntegerField(default=0, validators=bounds.SQUARE_ROW.validators,
                                                  help_text="Row of the rater's balanced square the slot order "
                                                            "was drawn from.")
    queue_position = models.PositiveIntegerField(default=0, validators=bounds.QUEUE_POSITION.validators)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.PENDING, db_index=True)
    draft = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    shown_at = models.DateTimeField(null=True, blank=True)
    first_input_at = models.DateTimeField(null=True, blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True)
    active_seconds = models.FloatField(default=0, validators=bounds.ACTIVE_SECONDS.validators)

    class Meta:
        ordering = ["study", "rater", "queue_position"]
        constraints = [models.UniqueConstraint(fields=["case", "rater"], name="one_assignment_per_case_and_rater")]
        indexes = [models.Index(fields=["rater", "status"]), models.Index(fields=["study", "status"])]

    def __str__(self) -> str:
        return f"{self.case} for {self.rater}"
