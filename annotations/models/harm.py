from django.conf import settings
from django.db import models


class HarmDecision(models.Model):
    """A researcher's or admin's decision on one "potentially harmful" flag (a flag
    rating of a submission). A changed decision replaces this row; the audit log keeps
    the earlier one."""

    class Decision(models.TextChoices):
        CONFIRMED = "confirmed", "Harm confirmed"
        NOT_HARMFUL = "not_harmful", "Not harmful"
        UNCLEAR = "unclear", "Unclear: needs more review"

    rating = models.OneToOneField("annotations.Rating", on_delete=models.PROTECT, related_name="harm_decision")
    decision = models.CharField(max_length=12, choices=Decision.choices)
    note = models.TextField(blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField()

    class Meta:
        ordering = ["-decided_at"]

    def __str__(self) -> str:
        return f"{self.rating_id}: {self.decision}"
