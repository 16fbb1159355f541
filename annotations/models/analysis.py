from django.db import models


class StudyAnalysis(models.Model):
    """The stored dashboard result of a study. Page loads read it; only the aggregation
    task (or an explicit recompute) writes it."""

    study = models.OneToOneField("annotations.Study", on_delete=models.CASCADE, related_name="analysis")
    result = models.JSONField(null=True, blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)
    compute_seconds = models.FloatField(null=True, blank=True)
    n_ratings = models.PositiveIntegerField(default=0)
    requested_at = models.DateTimeField(null=True, blank=True, help_text="Newest submission not yet analysed.")
    queued_at = models.DateTimeField(null=True, blank=True, help_text="An aggregation task is waiting.")
    error = models.TextField(blank=True)

    class Meta:
        verbose_name_plural = "study analyses"

    def __str__(self) -> str:
        return f"analysis of {self.study}"

    @property
    def stale(self) -> bool:
        return bool(self.requested_at and (self.computed_at is None or self.requested_at > self.computed_at))
