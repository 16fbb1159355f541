from django.conf import settings
from django.db import models

from annotations.rubric import CANNOT_JUDGE


class Submission(models.Model):
    """A rater's submitted judgment of one assignment. Immutable: a correction is a new
    revision (``revision`` + 1) and the earlier one stays, marked not current."""

    assignment = models.ForeignKey("annotations.Assignment", on_delete=models.PROTECT, related_name="submissions")
    revision = models.PositiveSmallIntegerField(default=1)
    is_current = models.BooleanField(default=True)
    comment = models.TextField(blank=True)
    reason = models.TextField(blank=True, help_text="Why a revision was made.")
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    submitted_at = models.DateTimeField(auto_now_add=True)
    idempotency_key = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["assignment", "revision"]
        constraints = [models.UniqueConstraint(fields=["assignment", "revision"], name="unique_revision")]

    def __str__(self) -> str:
        return f"{self.assignment} r{self.revision}"


class RatingQuerySet(models.QuerySet):
    def answered(self):
        """The ratings that answer their question: "cannot judge" is missing to every
        statistic (agreement, gold, the readings' comparison), never a value of the scale."""
        return self.exclude(choice=CANNOT_JUDGE)


class Rating(models.Model):
    """Long format: one row per response x dimension of a submission."""

    objects = RatingQuerySet.as_manager()

    submission = models.ForeignKey(Submission, on_delete=models.PROTECT, related_name="ratings")
    response = models.ForeignKey("annotations.Response", on_delete=models.PROTECT, related_name="ratings")
    slot = models.PositiveSmallIntegerField(help_text="0 = Response A.")
    dimension = models.CharField(max_length=40, db_index=True)
    score = models.FloatField(null=True, blank=True)
    choice = models.CharField(max_length=40, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["submission", "slot", "dimension"]
        constraints = [models.UniqueConstraint(fields=["submission", "response", "dimension"],
                                               name="one_rating_per_dimension")]

    def __str__(self) -> str:
        return f"{self.dimension}={self.score if self.score is not None else self.choice}"


class Preference(models.Model):
    """The rank a submission gives one response (1 = best; equal ranks are ties)."""

    submission = models.ForeignKey(Submission, on_delete=models.PROTECT, related_name="preferences")
    response = models.ForeignKey("annotations.Response", on_delete=models.PROTECT, related_name="preferences")
    slot = models.PositiveSmallIntegerField()
    rank = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["submission", "rank", "slot"]
        constraints = [models.UniqueConstraint(fields=["submission", "response"], name="one_rank_per_response")]
