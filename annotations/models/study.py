from django.core.exceptions import ValidationError
from django.db import models

from annotations.models import bounds
from annotations.rubric import default_rubric, validate_rubric
from modeling.splits import DEFAULT_SPLIT_SEED


class Study(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=80, unique=True)
    instructions = models.TextField(blank=True, help_text="Markdown (no HTML). Raters acknowledge it on their "
                                                          "first case and can open it on every rating page.")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT, db_index=True)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    closed_reason = models.TextField(blank=True, help_text="Why the study was closed; raters are told.")
    consent_text = models.TextField(blank=True, help_text="Markdown (no HTML). When set, each rater accepts it "
                                                          "(recorded with the time) before any case.")
    gold_rate = models.FloatField(default=0.0, validators=bounds.GOLD_RATE.validators,
                                  help_text="Share of each rater's new assignments that are gold cases (0 to 0.5), "
                                            "mixed in blind when planning.")
    rubric = models.JSONField(default=default_rubric, help_text="List of rating dimensions; see README.")
    raters_per_item = models.PositiveSmallIntegerField(default=3, validators=bounds.RATERS_PER_ITEM.validators,
                                                       help_text="k: raters per case (1 to 50).")
    arms_per_screen = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=bounds.ARMS_PER_SCREEN.validators,
        help_text="Responses a clinician sees per case: blank for all arms, 2 for pairwise (as Chatbot Arena), 3 as "
                  "in the paper's clinician study. Fewer than the study's arms: each case shows a subset from a "
                  "balanced incomplete block plan.")
    seed = models.BigIntegerField(default=DEFAULT_SPLIT_SEED, validators=bounds.SEED.validators,
                                  help_text="Seeds the assignment planner (0 to 2^32 - 1).")
    assignment_timeout_minutes = models.PositiveIntegerField(
        default=120, validators=bounds.ASSIGNMENT_TIMEOUT_MINUTES.validators,
        help_text="An untouched assignment returns to the pool after this long (1 minute to 7 days).")
    extra_tasks = models.JSONField(default=list, blank=True,
                                   help_text="Task types this study adds to the registry.")
    arms = models.ManyToManyField("annotations.ModelArm", through="annotations.StudyArm",
                                  related_name="studies", blank=True)
    planted_reading_job = models.ForeignKey(
        "annotations.JudgeJob", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        help_text="The judge job whose reading of \"was the planted problem named\" the automatic metrics use; "
                  "empty: the terms' reading (ConText).")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "studies"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        problems = validate_rubric(self.rubric)
        if problems:
            raise ValidationError({"rubric": problems})

    def task_registry(self):
        from modeling.task_types import build_registry

        return build_registry(self.extra_tasks)


class StudyArm(models.Model):
    """An arm compared in a study; the order is the arms' stable index for the planner."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="study_arms")
    arm = models.ForeignKey("annotations.ModelArm", on_delete=models.PROTECT, related_name="study_arms")
    position = models.PositiveSmallIntegerField(default=0, validators=bounds.ARM_POSITION.validators)

    class Meta:
        ordering = ["study", "position", "id"]
        constraints = [models.UniqueConstraint(fields=["study", "arm"], name="unique_arm_per_study")]

    def __str__(self) -> str:
        return f"{self.study.slug}: {self.arm.name}"


def rating_refusal(status: str, closed_reason: str) -> str | None:
    """Why a study of this status takes no rating, in words for the rater; None when open."""
    if status == Study.Status.OPEN:
        return None
    if status == Study.Status.CLOSED:
        return f"This study is closed and takes no more ratings: {closed_reason or 'no reason given'}"
    return "This study is not open yet."
