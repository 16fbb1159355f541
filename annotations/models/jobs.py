from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from annotations.models import bounds
from annotations.models.arm import TRAINING_METHODS, ModelArm


class JobStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


# Seeds reach numpy, which takes 0 to 2^32 - 1.
ACTIVE_STATUSES = (JobStatus.QUEUED, JobStatus.RUNNING)
RETRYABLE_STATUSES = (JobStatus.FAILED, JobStatus.CANCELLED)
# Cases a generation job may list by id (the API, the jobs page's form and the service
# all refuse more): every query over the list stays under PostgreSQL's 65,535 parameters.
MAX_LISTED_CASES = 50_000


def listed_cases_check(text: str) -> None:
    """A form's list of case ids, separated by spaces or lines: at most MAX_LISTED_CASES."""
    count = len(text.split())
    if count > MAX_LISTED_CASES:
        raise ValidationError(f"{count:,} cases listed; a job lists at most {MAX_LISTED_CASES:,}. Queue the rest as "
                              f"another job, or choose all test cases instead.")


def worker_lost_s() -> float:
    """Seconds without a heartbeat after which a running chunk's worker is taken
    for lost (the JOB_WORKER_LOST_S setting). Generous, since a worker busy on a long
    batch beats from a thread that has to get the interpreter and the database now and
    then."""
    return float(settings.JOB_WORKER_LOST_S)


def heartbeat_every_s() -> float:
    """How often a running chunk beats: a dozen beats fit in the lost limit."""
    return min(30.0, max(0.1, worker_lost_s() / 12))


def worker_lost_q() -> Q:
    """Running chunks whose worker stopped beating. A chunk
    that never beat counts from its start; one with neither time is left alone."""
    cutoff = timezone.now() - timedelta(seconds=worker_lost_s())
    return Q(status=JobStatus.RUNNING) & (Q(heartbeat_at__lt=cutoff)
                                          | Q(heartbeat_at__isnull=True, started_at__lt=cutoff))


class JobBase(models.Model):
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    tokens_per_s = models.FloatField(null=True, blank=True)
    eta_s = models.FloatField(null=True, blank=True)
    # Given once, when the job is created: what its chunks' task ids are derived from
    # (annotations.services.jobs.chunk_task_id).
    celery_task_id = models.CharField(max_length=64, blank=True, db_index=True)
    cancel_requested = models.BooleanField(default=False)
    error = models.TextField(blank=True)
    traceback = models.TextField(blank=True)
    worker_host = models.CharField(max_length=200, blank=True)
    device_name = models.CharField(max_length=200, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["-created_at"]

    @property
    def progress_percent(self) -> float:
        return 100.0 * self.progress_done / self.progress_total if self.progress_total else 0.0

    @property
    def is_active(self) -> bool:
        return self.status in ACTIVE_STATUSES

    @property
    def is_retryable(self) -> bool:
        return self.status in RETRYABLE_STATUSES


class GenerationJob(JobBase):
    study = models.ForeignKey("annotations.Study", on_delete=models.CASCADE, related_name="generation_jobs")
    arm = models.ForeignKey("annotations.ModelArm", on_delete=models.PROTECT, related_name="generation_jobs")
    selection = models.JSONField(default=dict, blank=True,
                                 help_text='Which cases: {"case_ids": [...]}, or {"split": "test"} with '
                                           '"only_missing": true for those the arm has not answered yet.')
    decoding_params = models.JSONField(default=dict, blank=True)
    seed = models.BigIntegerField(default=0, validators=bounds.SEED.validators)

    class Meta(JobBase.Meta):
        pass

    def __str__(self) -> str:
        return f"generation #{self.pk} ({self.arm})"

    @property
    def summary(self) -> str:
        return self.arm.name


class TrainingJob(JobBase):
    study = models.ForeignKey("annotations.Study", on_delete=models.CASCADE, related_name="training_jobs")
    method = models.CharField(max_length=20, choices=TRAINING_METHODS)
    base_model = models.CharField(max_length=500)
    hyperparameters = models.JSONField(default=dict, blank=True)
    loss_history = models.JSONField(default=list, blank=True)
    result_arm = models.ForeignKey("annotations.ModelArm", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    adapter_path = models.CharField(max_length=500, blank=True)
    # An arm whose adapter this job trains (a demo arm on a fresh machine): on success the
    # arm takes the adapter, instead of a new arm being made.
    target_arm = models.ForeignKey("annotations.ModelArm", null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="adapter_trainings")
    # Where the run is tracked, as training reports it once it starts.
    tensorboard_dir = models.CharField(max_length=500, blank=True,
                                       help_text="TensorBoard's log folder of the run (tensorboard --logdir).")
    tracking_url = models.CharField(max_length=500, blank=True, help_text="The MLflow or W&B run, where one is set.")
    resumed_from_step = models.PositiveIntegerField(null=True, blank=True, validators=bounds.TRAINING_STEP.validators,
                                                    help_text="The checkpoint's step a retried run went on from.")

    class Meta(JobBase.Meta):
        pass

    def __str__(self) -> str:
        return f"training #{self.pk} ({self.method})"

    @property
    def summary(self) -> str:
        made = f" → {self.result_arm.name}" if self.result_arm_id else ""
        return f"{ModelArm.Method(self.method).label} on {self.base_model}{made}"


class ImportJob(JobBase):
    """A case file imported in the background (a large upload from the admin page):
    progress in bytes read, and the import's result or every problem found."""

    study = models.ForeignKey("annotations.Study", on_delete=models.CASCADE, related_name="import_jobs")
    source_name = models.CharField(max_length=255, help_text="The uploaded file's name.")
    path = models.CharField(max_length=500, help_text="Where the upload waits for the worker (removed once imported).")
    size = models.BigIntegerField(default=0)
    result = models.JSONField(default=dict, blank=True)
    problems = models.JSONField(default=list, blank=True, help_text="The first problems found, one line each.")
    problem_total = models.PositiveIntegerField(default=0)

    class Meta(JobBase.Meta):
        pass

    def __str__(self) -> str:
        return f"import #{self.pk} ({self.source_name})"

    @property
    def summary(self) -> str:
        done = f": {self.result['message']}" if self.result.get("message") else ""
        return f"{self.source_name} ({self.size / 1e6:,.1f} MB){done}"

    @property
    def warning_lines(self) -> list[str]:
        """The import's warnings listed on the jobs page (the first few; the summary counts
        them all)."""
        return list((self.result.get("warnings") or {}).get("examples") or [])


class ChunkBase(models.Model):
    """A slice of a job that any free worker takes: the cases with ids from ``first_case_id``
    to ``last_case_id`` among the job's selection. A job stores what it covers this way,
    not a row per case. Every job runs as chunks: a kind whose work is not cut by case
    (training, an import) has one chunk with no case range (both ids null), covering the
    whole job."""

    index = models.PositiveIntegerField()
    first_case_id = models.BigIntegerField(null=True, blank=True)
    last_case_id = models.BigIntegerField(null=True, blank=True)
    units = models.PositiveIntegerField(
        default=0, help_text="Work planned: cases (judge: prompts; training: steps; import: bytes).")
    done = models.PositiveIntegerField(default=0)
    tokens = models.BigIntegerField(default=0)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED, db_index=True)
    # Times a retry sent the chunk again: its task id is derived from the job's, its index
    # and this (annotations.services.jobs.chunk_task_id), never stored.
    sends = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True, help_text="The Celery worker that ran it last.")
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(blank=True)
    # The run that holds the chunk (a late message or a worker that was only frozen finds
    # another token and writes nothing) and when its worker last beat.
    run_token = models.CharField(max_length=32, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True
        ordering = ["job", "index"]


class GenerationChunk(ChunkBase):
    job = models.ForeignKey(GenerationJob, on_delete=models.CASCADE, related_name="chunks")

    class Meta(ChunkBase.Meta):
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="one_generation_chunk_per_index")]


class TrainingChunk(ChunkBase):
    job = models.ForeignKey(TrainingJob, on_delete=models.CASCADE, related_name="chunks")

    class Meta(ChunkBase.Meta):
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="one_training_chunk_per_index")]


class ImportChunk(ChunkBase):
    job = models.ForeignKey(ImportJob, on_delete=models.CASCADE, related_name="chunks")

    class Meta(ChunkBase.Meta):
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="one_import_chunk_per_index")]
