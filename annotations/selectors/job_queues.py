"""Where a queued job stands on its Celery queue: the jobs it waits behind and its place
among them, read from the job rows of every study (every kind of
:mod:`annotations.job_kinds`, routed with ``queue_for``) in creation order, never from
the broker, whose messages say nothing a researcher could read. A queue from which no
worker has run a job for a while is told apart: its worker may not be running."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.contrib.humanize.templatetags.humanize import ordinal
from django.db.models import Q
from django.utils import timezone
from django.utils.text import get_text_list

from annotations.job_kinds import JOB_KINDS, JobKind, kind_of
from annotations.models import JobStatus
from annotations.models.jobs import ACTIVE_STATUSES, JobBase, worker_lost_q, worker_lost_s
from evalportal.roles import ADMIN, RESEARCHER, has_role

# How far back the last job a worker ran from a queue is looked for: a queue idle for
# longer is said to have been idle for this long.
QUEUE_HISTORY = timedelta(hours=1)
# The jobs ahead that a place names; the rest are counted.
NAMED_AHEAD = 4
OTHER_STUDY_JOB = "a job of another study"


def studies_visible_to(user) -> Callable[[int], bool]:
    """Whose jobs ``user`` may see named, by study id: researchers and admins see every
    study (the jobs pages and the jobs API are theirs alone), anyone else none."""
    sees_every_study = has_role(user, (RESEARCHER, ADMIN))
    return lambda study_id: sees_every_study


@dataclass(frozen=True)
class JobAhead:
    """A job that a queued job waits behind, as the viewer may see it."""

    name: str | None  # "Training BehaviorSFT on demo"; None: a job of a study the viewer may not see
    study: str | None  # its study's name, where it is not the study of the job that waits
    status: str
    percent: float | None  # how far a running job has got
    worker_lost: bool = False

    def __str__(self) -> str:
        state = [JobStatus(self.status).label.lower()]
        if self.worker_lost:
            state.append("worker lost")
        elif self.percent is not None:
            state.append(f"{self.percent:.0f}%")
        if self.name is not None and self.study is not None:
            state.append(f"study {self.study}")
        return f"{self.name or OTHER_STUDY_JOB} ({', '.join(state)})"


@dataclass(frozen=True)
class QueuePlace:
    """A queued job's place on its queue: ``position`` 1 is taken next; ``ahead`` the
    jobs running on the queue, then those queued before it (``ahead_more`` more not
    named); ``idle_minutes`` when no worker has run a job from the queue for that long
    while this one waited (None otherwise)."""

    queue: str
    position: int
    ahead: tuple[JobAhead, ...]
    ahead_more: int = 0
    idle_minutes: int | None = None

    @property
    def text(self) -> str:
        where = f"{ordinal(self.position)} on the {self.queue} queue"
        if not self.ahead:
            return f"{where}, nothing ahead of it"
        names = [str(job) for job in self.ahead] + ([f"{self.ahead_more} more"] if self.ahead_more else [])
        return f"{where}, behind: {get_text_list(names, 'and')}"

    @property
    def idle_text(self) -> str:
        if self.idle_minutes is None:
            return ""
        span = "hour" if self.idle_minutes >= QUEUE_HISTORY.total_seconds() // 60 else (
            f"{self.idle_minutes} minute{'s' if self.idle_minutes != 1 else ''}")
        return (f"No worker has run a job from the {self.queue} queue in the last {span}: is a worker "
                f"consuming {self.queue} running?")


def _order(kind: JobKind, job: JobBase) -> tuple:
    """Creation order across kinds (ties, by kind and id, never left to chance)."""
    return job.created_at, kind.name, job.pk


@dataclass(frozen=True)
class _Entry:
    kind: JobKind
    job: JobBase
    worker_lost: bool


class QueueBoard:
    """Every queued and running job on every queue, and when a worker last ran a job
    from each; read once (a few queries per job kind), then asked for each job's place."""

    def __init__(self, *, sees_study: Callable[[int], bool]):
        self.sees_study = sees_study
        self.now = timezone.now()
        self.active: dict[str, list[_Entry]] = {}
        self.busy: set[str] = set()  # queues with a job running on a live worker
        self.last_run: dict[str, datetime] = {}  # when a job a worker ran from each queue last ended
        since = self.now - QUEUE_HISTORY
        for kind in JOB_KINDS.values():
            jobs = list(kind.model.objects.filter(Q(status__in=ACTIVE_STATUSES)
                                                  | Q(finished_at__gte=since, started_at__isnull=False))
                        .select_related("study", *kind.related))
            running = [job.pk for job in jobs if job.status == JobStatus.RUNNING]
            lost = set(kind.chunk_model.objects.filter(worker_lost_q(), job__in=running)
                       .values_list("job", flat=True)) if running else set()
            for job in jobs:
                self._add(kind, job, job.pk in lost)
        for entries in self.active.values():
            entries.sort(key=lambda entry: _order(entry.kind, entry.job))

    def _add(self, kind: JobKind, job: JobBase, worker_lost: bool) -> None:
        queue = kind.queue_for(job)
        if job.is_active:
            self.active.setdefault(queue, []).append(_Entry(kind, job, worker_lost))
            if job.status == JobStatus.RUNNING and not worker_lost:
                self.busy.add(queue)
        elif job.finished_at is not None:
            self.last_run[queue] = max(job.finished_at, self.last_run.get(queue, job.finished_at))

    def place(self, kind: JobKind, job: JobBase) -> QueuePlace | None:
        """Where ``job`` (of ``kind``) stands on its queue; None unless it is queued."""
        if job.status != JobStatus.QUEUED:
            return None
        queue = kind.queue_for(job)
        entries = self.active.get(queue, [])
        mine = _order(kind, job)
        running = [e for e in entries if e.job.status == JobStatus.RUNNING]
        before = [e for e in entries if e.job.status == JobStatus.QUEUED and _order(e.kind, e.job) < mine]
        ahead = [self._seen(e, job.study_id) for e in running + before]
        return QueuePlace(queue, len(before) + 1, tuple(ahead[:NAMED_AHEAD]), max(0, len(ahead) - NAMED_AHEAD),
                          self._idle_minutes(queue, job))

    def _seen(self, entry: _Entry, study_id: int) -> JobAhead:
        job = entry.job
        percent = job.progress_percent if job.status == JobStatus.RUNNING else None
        if not self.sees_study(job.study_id):
            return JobAhead(None, None, job.status, percent, entry.worker_lost)
        return JobAhead(f"{entry.kind.label} {job.summary}", job.study.name if job.study_id != study_id else None,
                        job.status, percent, entry.worker_lost)

    def _idle_minutes(self, queue: str, job: JobBase) -> int | None:
        """Minutes since a worker last ran a job from ``queue``, once ``job`` has waited as
        long as a silent worker is given before it is taken for lost and no worker has run
        one for as long; None while a live worker runs one."""
        quiet_after = timedelta(seconds=worker_lost_s())
        if queue in self.busy or self.now - job.created_at < quiet_after:
            return None
        idle = self.now - self.last_run.get(queue, self.now - QUEUE_HISTORY)
        if idle < quiet_after:
            return None
        return int(min(idle, QUEUE_HISTORY).total_seconds() // 60)


def job_queue_place(job: JobBase, *, viewer, cache: dict) -> QueuePlace | None:
    """Where one job stands on its queue, as ``viewer`` may see it (None unless queued);
    the queues are read once per ``cache`` (a request's serializer context), however
    many jobs are asked about."""
    if job.status != JobStatus.QUEUED:
        return None
    if "queue_board" not in cache:
        cache["queue_board"] = QueueBoard(sees_study=studies_visible_to(viewer))
    return cache["queue_board"].place(kind_of(job), job)
