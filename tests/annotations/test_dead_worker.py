"""A job whose worker died (kill -9, a lost machine) or froze: seen as "worker lost" once
it stops beating for JOB_WORKER_LOST_S, cancelled or sent again at once, and whatever the
lost worker or its message, delivered late, does afterwards changes nothing. Service
level here, in this process; at the end, a real Celery worker killed with SIGKILL or
stopped with SIGSTOP."""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter
from datetime import timedelta

import pytest
import redis
from django.db import transaction
from django.utils import timezone

from annotations.errors import JobStateError
from annotations.job_kinds import JOB_KINDS
from annotations.models import (
    GenerationChunk,
    GenerationJob,
    ImportChunk,
    JobStatus,
    Response,
    TrainingChunk,
    TrainingJob,
)
from annotations.selectors.jobs import study_jobs
from annotations.services.chunks import ChunkProgress, RunLost, chunk_run
from annotations.services.generation import generation_job_queue
from annotations.services.jobs import chunk_task_id, job_cancel, job_retry
from modeling.generate import GenerationResult
from tests.annotations.worker_helpers import TEST_REDIS_URL, wait_until
from tests.chat_server import FakeChatModel
from tests.factories import JOB_KIND_FIELDS, CaseFactory, StudyArmFactory, StudyFactory, endpoint_arm_study

pytestmark = pytest.mark.sqlite
LONG_AGO = timedelta(hours=1)


@pytest.fixture(autouse=True)
def lost_after_a_minute(settings):
    settings.JOB_WORKER_LOST_S = 60


def _job(kind: str, study, chunks=(), **extra):
    """A running job of ``kind`` with a chunk per ``(status, beat)`` of ``chunks`` (beat:
    how long ago its worker last beat)."""
    fields = dict(JOB_KIND_FIELDS[kind])
    if kind == "generation":
        fields["arm"] = StudyArmFactory(study=study).arm
    now = timezone.now()
    model, chunk_model = JOB_KINDS[kind].model, JOB_KINDS[kind].chunk_model
    job = model.objects.create(study=study, status=JobStatus.RUNNING, celery_task_id="sent", **fields, **extra)
    for index, (status, ago) in enumerate(chunks):
        chunk_model.objects.create(
            job=job, index=index, first_case_id=index, last_case_id=index, units=1, status=status,
            started_at=now - LONG_AGO if ago is not None else None,
            heartbeat_at=now - ago if ago is not None else None, run_token="the-run" if ago is not None else "",
            finished_at=now if status == JobStatus.SUCCEEDED else None)
    return job


def _row_html(html: str, kind: str, pk: int) -> str:
    start = html.index(f'id="job-{kind}-{pk}"')
    return html[start:html.index("</tr>", start)]


@pytest.mark.django_db
def test_the_judge_page_offers_retry_for_a_judge_job_whose_worker_was_lost(admin_client_):
    study = StudyFactory(slug="lost-judge")
    lost = _job("judge", study, [(JobStatus.RUNNING, timedelta(seconds=90))])
    alive = _job("judge", study, [(JobStatus.RUNNING, timedelta(seconds=5))])
    html = admin_client_.get(f"/studies/{study.slug}/judge/").content.decode()
    assert f"/studies/{study.slug}/judge/{lost.pk}/retry/" in html
    assert f"/studies/{study.slug}/judge/{alive.pk}/retry/" not in html


@pytest.mark.django_db
def test_a_job_whose_worker_stopped_beating_is_shown_as_worker_lost(admin_client_):
    study = StudyFactory(slug="lost")
    lost = _job("generation", study, [(JobStatus.SUCCEEDED, None), (JobStatus.RUNNING, timedelta(seconds=90)),
                                      (JobStatus.RUNNING, timedelta(seconds=2)), (JobStatus.QUEUED, None)])
    alive = _job("judge", study, [(JobStatus.RUNNING, timedelta(seconds=30))])
    trained = _job("training", study, [(JobStatus.RUNNING, timedelta(minutes=5))])
    training = _job("training", study, [(JobStatus.RUNNING, timedelta(seconds=5))])
    never_beat = _job("import", study, [(JobStatus.RUNNING, LONG_AGO)])
    ImportChunk.objects.filter(job=never_beat).update(heartbeat_at=None)  # counted from its start
    rows = {(row.kind.name, row.job.pk): row for row in study_jobs(study)}
    assert [rows["generation", lost.pk].worker_lost, rows["generation", lost.pk].chunks["lost"]] == [True, 1]
    assert rows["generation", lost.pk].chunks["running"] == 2  # one of them still beating
    assert not rows["judge", alive.pk].worker_lost and not rows["judge", alive.pk].retryable
    assert rows["training", trained.pk].worker_lost and rows["training", trained.pk].retryable
    assert not rows["training", training.pk].worker_lost
    assert rows["import", never_beat.pk].worker_lost

    html = admin_client_.get("/studies/lost/jobs/").content.decode()
    row = _row_html(html, "generation", lost.pk)
    assert "worker lost" in row and "1 with the worker lost" in row and ">Retry<" in row and ">Cancel<" in row
    row = _row_html(html, "judge", alive.pk)
    assert "worker lost" not in row and ">Retry<" not in row
    assert html.count("worker lost</span>") == 3


@pytest.mark.django_db
@pytest.mark.parametrize("kind", sorted(JOB_KINDS))
def test_cancel_ends_a_job_whose_worker_was_lost_at_once(kind, admin_user):
    job = _job(kind, StudyFactory(), [(JobStatus.SUCCEEDED, None), (JobStatus.RUNNING, LONG_AGO),
                                      (JobStatus.QUEUED, None)])
    job_cancel(job=job, actor=admin_user)
    assert job.status == JobStatus.CANCELLED and job.finished_at
    assert [(c.status, c.run_token) for c in job.chunks.order_by("index")] == [
        (JobStatus.SUCCEEDED, ""), (JobStatus.CANCELLED, ""), (JobStatus.CANCELLED, "")]


@pytest.mark.django_db
@pytest.mark.parametrize("kind", ["training", "import"])
def test_cancel_ends_a_one_chunk_job_whose_worker_was_lost_at_once(kind, admin_user):
    job = _job(kind, StudyFactory(), [(JobStatus.RUNNING, LONG_AGO)])
    job_cancel(job=job, actor=admin_user)
    assert job.status == JobStatus.CANCELLED and job.finished_at
    assert [(c.status, c.run_token) for c in job.chunks.all()] == [(JobStatus.CANCELLED, "")]


@pytest.mark.django_db
@pytest.mark.parametrize("kind", sorted(JOB_KINDS))
def test_cancel_of_a_job_whose_worker_is_alive_waits_for_it(kind, admin_user):
    job = _job(kind, StudyFactory(), [(JobStatus.RUNNING, LONG_AGO), (JobStatus.RUNNING, timedelta(seconds=1))])
    job_cancel(job=job, actor=admin_user)
    assert job.status == JobStatus.RUNNING and job.cancel_requested  # stops between batches
    # what the lost worker held ends now, what the live one holds is its to end
    assert list(job.chunks.order_by("index").values_list("status", flat=True)) == [
        JobStatus.CANCELLED, JobStatus.RUNNING]
    with pytest.raises(JobStateError, match="only failed or cancelled jobs can be retried"):
        job_retry(job=job)


def _task_id(chunk) -> str:
    """The task id the chunk was last sent under."""
    return chunk_task_id(chunk.job.celery_task_id, chunk.index, chunk.sends)


def _waiting(queue: str) -> list[str]:
    """The task id of each message waiting in ``queue`` on the test broker."""
    return sorted(json.loads(m)["headers"]["id"] for m in redis.Redis.from_url(TEST_REDIS_URL).lrange(queue, 0, -1))


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clean_broker")
def test_retry_sends_again_only_the_chunks_a_lost_worker_held(admin_user):
    job = _job("generation", StudyFactory(), [(JobStatus.SUCCEEDED, None), (JobStatus.RUNNING, LONG_AGO),
                                              (JobStatus.RUNNING, timedelta(seconds=1)), (JobStatus.QUEUED, None)])
    job_retry(job=job, actor=admin_user)
    chunks = list(job.chunks.order_by("index"))
    assert job.status == JobStatus.RUNNING  # the live worker goes on with its chunk
    assert job.celery_task_id == "sent" and _task_id(chunks[1]) == "sent.1.1"  # sent again: a new id
    assert [(c.status, c.run_token) for c in chunks] == [
        (JobStatus.SUCCEEDED, ""), (JobStatus.QUEUED, ""), (JobStatus.RUNNING, "the-run"), (JobStatus.QUEUED, "")]
    assert [_task_id(c) for c in (chunks[0], chunks[2], chunks[3])] == ["sent.0", "sent.2", "sent.3"]
    assert _waiting("gpu") == [_task_id(chunks[1])]  # the queued chunk's message waits already


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clean_broker")
@pytest.mark.parametrize("kind", ["training", "judge"])
def test_retry_of_a_job_whose_only_worker_was_lost_queues_it_again(kind):
    job = _job(kind, StudyFactory(), [(JobStatus.RUNNING, LONG_AGO)])
    job_retry(job=job)
    chunk = job.chunks.get()
    assert job.status == JobStatus.QUEUED and job.celery_task_id == "sent"
    assert (chunk.status, chunk.run_token, _task_id(chunk)) == (JobStatus.QUEUED, "", "sent.0.1")
    assert _waiting("gpu") == [_task_id(chunk)]


# --- what the lost run does afterwards ------------------------------------------------------

BETWEEN_BATCHES: list = []  # called before each batch after the first, once each


class ScriptedEngine:
    """One case a batch, with the test's doings between batches."""

    def generate_iter(self, items, progress=None, should_stop=None, *, arm=None, fewshot_pool=None,
                      on_lasting_failure=None):
        for n, item in enumerate(items):
            if n and BETWEEN_BATCHES:
                BETWEEN_BATCHES.pop(0)()
            if should_stop is not None and should_stop():
                return
            yield [GenerationResult(key=item["external_id"], text=f"Answer to {item['external_id']}.",
                                    raw_text="", predicted_behavior="", prompt_tokens=1, completion_tokens=3,
                                    latency_s=0.0)]


def scripted_engine(job):
    return ScriptedEngine(), {"engine": "scripted"}


@pytest.fixture
def scripted(settings):
    settings.EVALPORTAL_GENERATION_ENGINE = "tests.annotations.test_dead_worker.scripted_engine"
    BETWEEN_BATCHES.clear()
    study = StudyFactory()
    arm = StudyArmFactory(study=study).arm
    cases = [CaseFactory(study=study, external_id=f"dw-{n}") for n in range(3)]
    yield study, arm, cases
    BETWEEN_BATCHES.clear()


def _lose(chunk) -> None:
    """The chunk's worker stops beating (as if killed)."""
    GenerationChunk.objects.filter(pk=chunk.pk).update(heartbeat_at=timezone.now() - LONG_AGO)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clean_broker")
def test_a_run_whose_chunk_was_sent_again_writes_nothing_more_and_its_late_message_is_ignored(scripted):
    study, arm, cases = scripted
    job = generation_job_queue(study=study, arm=arm)
    chunk = job.chunks.get()
    first_message = _task_id(chunk)
    BETWEEN_BATCHES.append(lambda: (_lose(chunk), job_retry(job=GenerationJob.objects.get(pk=job.pk))))
    assert generation_chunk_run_as(chunk, first_message) == "superseded"
    chunk.refresh_from_db()
    assert chunk.status == JobStatus.QUEUED and _task_id(chunk) != first_message
    assert Response.objects.filter(job=job).count() == 1  # the batch after the retry was rolled back
    assert chunk.done == 1 and chunk.run_token == ""

    assert generation_chunk_run_as(chunk, first_message) == "superseded"  # delivered again, late
    assert GenerationChunk.objects.get(pk=chunk.pk).status == JobStatus.QUEUED

    assert generation_chunk_run_as(chunk, _task_id(chunk)) == "succeeded"
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and (job.progress_done, job.progress_total) == (3, 3)
    assert Counter(Response.objects.filter(job=job).values_list("case_id", flat=True)) == {c.pk: 1 for c in cases}
    assert job.chunks.get().attempts == 2


def generation_chunk_run_as(chunk, task_id: str) -> str:
    """What a worker runs for a message with ``task_id``."""
    from annotations.services.generation import _generate

    return chunk_run(kind_name="generation", chunk_id=chunk.pk, worker="test@host", work=_generate, task_id=task_id)


@pytest.mark.django_db(transaction=True)
def test_a_run_whose_job_was_cancelled_as_lost_writes_nothing_more(scripted, admin_user):
    study, arm, cases = scripted
    with transaction.atomic():  # queued without a broker: only the rows matter here
        job = GenerationJob.objects.create(study=study, arm=arm, selection={"split": "test"}, celery_task_id="t",
                                           progress_total=3)
        GenerationChunk.objects.create(job=job, index=0, first_case_id=cases[0].pk, last_case_id=cases[-1].pk,
                                       units=3)
    chunk = job.chunks.get()
    BETWEEN_BATCHES.append(lambda: (_lose(chunk), job_cancel(job=GenerationJob.objects.get(pk=job.pk),
                                                             actor=admin_user)))
    assert generation_chunk_run_as(chunk, "t.0") == "superseded"
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.chunks.get().status == JobStatus.CANCELLED
    assert Response.objects.filter(job=job).count() == 1
    assert generation_chunk_run_as(chunk, "t.0") == "cancelled"  # the message, delivered again
    assert Response.objects.filter(job=job).count() == 1 and job.chunks.get().status == JobStatus.CANCELLED


@pytest.mark.django_db(transaction=True)
def test_the_same_message_delivered_again_takes_a_running_chunk_over(scripted):
    study, arm, cases = scripted
    with transaction.atomic():
        job = GenerationJob.objects.create(study=study, arm=arm, selection={"split": "test"}, celery_task_id="t",
                                           status=JobStatus.RUNNING)
        GenerationChunk.objects.create(job=job, index=0, first_case_id=cases[0].pk, last_case_id=cases[-1].pk,
                                       units=3, status=JobStatus.RUNNING, run_token="first",
                                       attempts=1, started_at=timezone.now(), heartbeat_at=timezone.now())
    first_run = job.chunks.get()
    assert generation_chunk_run_as(first_run, "t.0") == "succeeded"
    assert job.chunks.get().attempts == 2 and Response.objects.filter(job=job).count() == 3
    with pytest.raises(RunLost):  # the first run, if it still went on, stops at its next write
        ChunkProgress(job, first_run).add(1)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("clean_broker")
def test_a_one_chunk_training_run_that_lost_its_chunk_writes_nothing_more():
    job = TrainingJob.objects.create(study=StudyFactory(), method="behavior_sft", base_model="demo",
                                     celery_task_id="first")
    chunk = TrainingChunk.objects.create(job=job, index=0)
    sent_again = []

    def work(running, running_chunk, progress):
        assert progress.at(1, 3) is False
        TrainingChunk.objects.filter(pk=chunk.pk).update(heartbeat_at=timezone.now() - LONG_AGO)
        job_retry(job=TrainingJob.objects.get(pk=job.pk))
        sent_again.append(_task_id(TrainingChunk.objects.get(pk=chunk.pk)))
        with pytest.raises(RunLost):
            progress.at(3, 3)  # done: written at once, were the chunk still this run's
        raise RunLost("stopped")

    def run(task_id: str) -> str:
        return chunk_run(kind_name="training", chunk_id=chunk.pk, worker="w", work=work, task_id=task_id)

    assert run("first.0") == "superseded"
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and job.progress_done == 1 and sent_again == ["first.0.1"]
    assert TrainingChunk.objects.get(pk=chunk.pk).done == 1
    assert run("first.0") == "superseded"  # the first message, delivered late
    assert TrainingChunk.objects.get(pk=chunk.pk).status == JobStatus.QUEUED
    assert chunk_run(kind_name="training", chunk_id=chunk.pk, worker="w", work=lambda *a: True,
                     task_id=sent_again[0]) == "succeeded"
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and job.attempts == 2
    assert TrainingChunk.objects.get(pk=chunk.pk).attempts == 2


@pytest.mark.django_db(transaction=True)
def test_a_chunk_busy_on_one_long_batch_keeps_beating(scripted, settings):
    settings.JOB_WORKER_LOST_S = 1.2  # a beat every 0.1 s
    study, arm, cases = scripted
    with transaction.atomic():
        job = GenerationJob.objects.create(study=study, arm=arm, selection={"split": "test"}, celery_task_id="t")
        GenerationChunk.objects.create(job=job, index=0, first_case_id=cases[0].pk, last_case_id=cases[-1].pk,
                                       units=3)
    seen = {}

    def long_batch(running_job, chunk, progress):
        time.sleep(2.0)
        seen["lost"] = [row.worker_lost for row in study_jobs(study)]
        seen["beat"] = GenerationChunk.objects.get(pk=chunk.pk).heartbeat_at - chunk.started_at
        return True

    assert chunk_run(kind_name="generation", chunk_id=job.chunks.get().pk, worker="w", work=long_batch,
                     task_id="t.0") == "succeeded"
    assert seen["lost"] == [False] and seen["beat"] > timedelta(seconds=1.5)


# --- a real worker, killed or frozen --------------------------------------------------------

LOST_S = 3


@pytest.fixture
def slow_endpoint(settings, monkeypatch):
    """An endpoint arm answering one request at a time, each after 1.5 s (a batch of 4 takes
    6 s, twice the lost limit), and workers that take a worker for lost after 3 s."""
    settings.JOB_WORKER_LOST_S = LOST_S
    monkeypatch.setenv("JOB_WORKER_LOST_S", str(LOST_S))  # the workers' setting
    with FakeChatModel() as server:
        server.slow_s, server.faults = 1.5, ["slow"] * 100
        study, arm = endpoint_arm_study(server.base_url, slug="dead", cases=8, case_prefix="dead",
                                        name="Slow endpoint", method="instructed", max_concurrency=1)
        yield study, arm, server


def _row(study, job):
    return next(row for row in study_jobs(study) if row.job.pk == job.pk)


def _running_a_long_batch(study, arm, workers):
    """A job whose one chunk a worker has been running for longer than the lost limit."""
    worker = workers()
    job = generation_job_queue(study=study, arm=arm)
    chunk = job.chunks.get()
    wait_until(lambda: GenerationChunk.objects.get(pk=chunk.pk).status == JobStatus.RUNNING, 60, "the chunk to start")
    time.sleep(LOST_S + 1)
    assert not _row(study, job).worker_lost, worker.log()  # its heartbeat goes on during the batch
    return worker, job, chunk


@pytest.mark.parametrize("stop", ["SIGKILL", "SIGSTOP"])
@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
@pytest.mark.postgres
@pytest.mark.slow
def test_a_killed_or_frozen_worker_is_seen_lost_and_a_retry_finishes_its_job(slow_endpoint, workers, stop,
                                                                              admin_client_):
    study, arm, server = slow_endpoint
    first, job, chunk = _running_a_long_batch(study, arm, workers)
    old_message = _task_id(GenerationChunk.objects.get(pk=chunk.pk))
    os.kill(first.process.pid, getattr(signal, stop))
    wait_until(lambda: _row(study, job).worker_lost, LOST_S + 5, "the worker to be taken for lost")
    assert "worker lost" in _row_html(admin_client_.get("/studies/dead/jobs/").content.decode(), "generation", job.pk)

    job_retry(job=GenerationJob.objects.get(pk=job.pk))
    assert _task_id(GenerationChunk.objects.get(pk=chunk.pk)) != old_message
    server.faults = []  # answers at once from now on
    second = workers()  # also gets the first message back once its visibility timeout passes
    wait_until(lambda: GenerationJob.objects.get(pk=job.pk).status == JobStatus.SUCCEEDED, 120, "the retried job")
    wait_until(lambda: f"[{old_message}] succeeded" in second.log_path.read_text(), 60, "the late message")
    assert "'superseded'" in second.log_path.read_text()
    if stop == "SIGSTOP":  # the frozen worker wakes up in the middle of its batch
        os.kill(first.process.pid, signal.SIGCONT)
        wait_until(lambda: "'superseded'" in first.log_path.read_text(), 60, "the frozen worker to give up")
    done = GenerationJob.objects.get(pk=job.pk)
    assert done.status == JobStatus.SUCCEEDED and (done.progress_done, done.progress_total) == (8, 8)
    assert set(Counter(Response.objects.filter(job=job).values_list("case_id", flat=True)).values()) == {1}
    assert Response.objects.filter(job=job).count() == 8
    assert done.chunks.get().attempts == 2 and done.chunks.get().status == JobStatus.SUCCEEDED


@pytest.mark.django_db(transaction=True)
@pytest.mark.worker
@pytest.mark.postgres
@pytest.mark.slow
def test_a_killed_workers_job_is_cancelled_at_once_and_its_late_message_leaves_it_so(slow_endpoint, workers,
                                                                                      admin_user):
    study, arm, server = slow_endpoint
    first, job, chunk = _running_a_long_batch(study, arm, workers)
    message = _task_id(GenerationChunk.objects.get(pk=chunk.pk))
    first.kill()
    wait_until(lambda: _row(study, job).worker_lost, LOST_S + 5, "the worker to be taken for lost")
    job_cancel(job=GenerationJob.objects.get(pk=job.pk), actor=admin_user)
    cancelled = GenerationJob.objects.get(pk=job.pk)
    assert cancelled.status == JobStatus.CANCELLED and cancelled.chunks.get().status == JobStatus.CANCELLED
    written, asked = Response.objects.filter(job=job).count(), len(server.requests)

    second = workers()  # the killed worker's message comes back to it
    wait_until(lambda: f"[{message}] succeeded" in second.log_path.read_text(), 60, "the late message")
    assert "'cancelled'" in second.log_path.read_text()
    after = GenerationJob.objects.get(pk=job.pk)
    assert after.status == JobStatus.CANCELLED and after.chunks.get().status == JobStatus.CANCELLED
    assert Response.objects.filter(job=job).count() == written and len(server.requests) == asked
