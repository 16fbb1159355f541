"""A queued job says where it stands on its queue and what it waits behind, read from the
job rows of every study and kind: on the jobs page, in the API, and without naming
another study's jobs to a viewer who may not see that study."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from annotations.job_kinds import kind_of
from annotations.models import GenerationJob, ImportJob, JobStatus, JudgeJob, TrainingJob
from annotations.selectors.job_queues import NAMED_AHEAD, QueueBoard
from tests.factories import ModelArmFactory, StudyArmFactory, StudyFactory

pytestmark = pytest.mark.django_db

LONG_AGO = timedelta(hours=3)


def _aged(job, minutes_ago: float, *, chunk_status=None, heartbeat_minutes_ago: float | None = None):
    """The job as created ``minutes_ago``, with its one chunk in the job's state (or
    ``chunk_status``), beating ``heartbeat_minutes_ago`` where given."""
    now = timezone.now()
    type(job).objects.filter(pk=job.pk).update(created_at=now - timedelta(minutes=minutes_ago))
    beat = None if heartbeat_minutes_ago is None else now - timedelta(minutes=heartbeat_minutes_ago)
    kind_of(job).chunk_model.objects.create(job=job, index=0, status=chunk_status or job.status, heartbeat_at=beat,
                                            started_at=beat)
    job.refresh_from_db()
    return job


@pytest.fixture
def queues(db):
    """Two studies' jobs on the three queues, oldest first: another study's training
    running (40%), then queued: a local generation, an endpoint generation, the other
    study's judge job, a training, an import."""
    mine, theirs = StudyFactory(name="Sepsis handover", slug="sepsis"), StudyFactory(name="Demo", slug="demo")
    local = StudyArmFactory(study=mine, arm__name="Baseline").arm
    remote = StudyArmFactory(study=mine, arm=ModelArmFactory(name="Served", endpoint_url="http://10.0.0.5/v1",
                                                             served_model="m")).arm
    jobs = {
        "their_training": _aged(TrainingJob.objects.create(
            study=theirs, method="behavior_sft", base_model="demo", status=JobStatus.RUNNING, progress_done=4,
            progress_total=10, started_at=timezone.now()), 30, heartbeat_minutes_ago=0),
        "generation": _aged(GenerationJob.objects.create(study=mine, arm=local), 20),
        "endpoint": _aged(GenerationJob.objects.create(study=mine, arm=remote), 15),
        "their_judge": _aged(JudgeJob.objects.create(study=theirs, model_ref="judge-7b", dimensions=[]), 10),
        "training": _aged(TrainingJob.objects.create(study=mine, method="general_sft", base_model="demo"), 5),
        "import": _aged(ImportJob.objects.create(study=mine, source_name="cases.jsonl", path="x", size=2_000_000), 1),
    }
    return mine, theirs, jobs


@pytest.fixture
def api_as(researcher, clinician):
    def client(user):
        api = APIClient()
        api.force_login(user)
        return api

    return {"researcher": client(researcher), "clinician": client(clinician)}


def _place(board, job):
    return board.place(kind_of(job), job)


def test_each_queued_job_says_its_place_and_what_it_waits_behind_on_its_own_queue(queues):
    _, _, jobs = queues
    board = QueueBoard(sees_study=lambda study_id: True)
    assert _place(board, jobs["training"]).text == (
        "3rd on the gpu queue, behind: Training BehaviorSFT on demo (running, 40%, study Demo), "
        "Generation Baseline (queued) and LLM judge judge-7b judging 0 dimensions (queued, study Demo)")
    assert _place(board, jobs["generation"]).text == (
        "1st on the gpu queue, behind: Training BehaviorSFT on demo (running, 40%, study Demo)")
    # An endpoint arm's job goes to the endpoint queue, an import to the default queue:
    # what the gpu queue holds is not in their way.
    assert _place(board, jobs["endpoint"]).text == "1st on the endpoint queue, nothing ahead of it"
    assert _place(board, jobs["import"]).text == "1st on the default queue, nothing ahead of it"
    assert _place(board, jobs["their_training"]) is None  # running: it has no place in the queue


def test_a_viewer_who_may_not_see_another_study_reads_no_name_of_it(queues):
    mine, theirs, jobs = queues
    board = QueueBoard(sees_study=lambda study_id: study_id == mine.pk)
    place = _place(board, jobs["training"])
    assert place.text == ("3rd on the gpu queue, behind: a job of another study (running, 40%), "
                          "Generation Baseline (queued) and a job of another study (queued)")
    assert [(job.name, job.study) for job in place.ahead] == [(None, None), ("Generation Baseline", None),
                                                              (None, None)]
    assert theirs.name not in place.text and "judge-7b" not in place.text and "BehaviorSFT" not in place.text


def test_past_the_named_jobs_the_rest_are_counted(queues):
    mine, _, jobs = queues
    arm = mine.study_arms.get(arm__name="Baseline").arm
    for minutes in (4, 3, 2):
        _aged(GenerationJob.objects.create(study=mine, arm=arm), minutes)
    last = _aged(GenerationJob.objects.create(study=mine, arm=arm), 0.5)
    place = _place(QueueBoard(sees_study=lambda study_id: True), last)
    assert place.position == 7 and len(place.ahead) == NAMED_AHEAD and place.ahead_more == 7 - NAMED_AHEAD  # 1 running, 6 queued
    assert place.text.endswith(f"and {7 - NAMED_AHEAD} more")


def test_a_queue_no_worker_has_run_a_job_from_lately_is_told_apart(queues, settings):
    settings.JOB_WORKER_LOST_S = 120
    mine, _, jobs = queues
    # The endpoint queue: nothing running, its last job ended 25 minutes ago.
    ended = GenerationJob.objects.create(study=mine, arm=jobs["endpoint"].arm, status=JobStatus.SUCCEEDED,
                                         started_at=timezone.now() - timedelta(minutes=40),
                                         finished_at=timezone.now() - timedelta(minutes=25))
    _aged(ended, 45)
    board = QueueBoard(sees_study=lambda study_id: True)
    endpoint = _place(board, jobs["endpoint"])
    assert endpoint.idle_minutes == 25
    assert endpoint.idle_text == ("No worker has run a job from the endpoint queue in the last 25 minutes: is a "
                                  "worker consuming endpoint running?")
    # The gpu queue has a job running on a live worker; the import has waited a minute only.
    assert _place(board, jobs["generation"]).idle_text == "" and _place(board, jobs["import"]).idle_minutes is None

    # The training's worker stops beating: nothing runs on the gpu queue any more, and no
    # job from it ended in the last hour.
    kind_of(jobs["their_training"]).chunk_model.objects.filter(job=jobs["their_training"]).update(
        heartbeat_at=timezone.now() - LONG_AGO)
    place = _place(QueueBoard(sees_study=lambda study_id: True), jobs["generation"])
    assert place.ahead[0].worker_lost and "(running, worker lost, study Demo)" in place.text
    assert place.idle_minutes == 60 and "from the gpu queue in the last hour" in place.idle_text


def test_the_jobs_page_shows_each_queued_job_its_place(queues, researcher_client):
    mine, _, jobs = queues
    html = researcher_client.get(f"/studies/{mine.slug}/jobs/", HTTP_HX_REQUEST="true").content.decode()
    training_row = html.index(f'id="job-training-{jobs["training"].pk}"')
    place_row = html.index(f'id="job-training-{jobs["training"].pk}-place"')
    assert training_row < place_row and (
        "3rd on the gpu queue, behind: Training BehaviorSFT on demo (running, 40%, study Demo), "
        "Generation Baseline (queued) and LLM judge judge-7b judging 0 dimensions (queued, study Demo)"
        in html[place_row:])
    assert "1st on the endpoint queue, nothing ahead of it" in html
    # The other study's jobs are not rows of this page.
    assert f'id="job-judge-{jobs["their_judge"].pk}"' not in html


def test_cancel_on_the_jobs_page_asks_first(queues, admin_client_):
    mine, _, jobs = queues
    html = admin_client_.get(f"/studies/{mine.slug}/jobs/", HTTP_HX_REQUEST="true").content.decode()
    cancel = f'action="/studies/{mine.slug}/jobs/training/{jobs["training"].pk}/cancel/"'
    assert f'{cancel} data-confirm="Cancel this job? Chunks already done stay."' in html


def test_the_api_gives_a_queued_job_its_place(queues, api_as):
    _, _, jobs = queues
    researcher_api = api_as["researcher"]
    body = researcher_api.get(f"/api/training-jobs/{jobs['training'].pk}/").json()
    place = body["queue_place"]
    assert place["queue"] == "gpu" and place["position"] == 3 and place["ahead_more"] == 0
    assert [(a["name"], a["study"], a["status"], a["percent"]) for a in place["ahead"]] == [
        ("Training BehaviorSFT on demo", "Demo", "running", 40.0), ("Generation Baseline", None, "queued", None),
        ("LLM judge judge-7b judging 0 dimensions", "Demo", "queued", None)]
    assert place["text"].startswith("3rd on the gpu queue, behind: Training BehaviorSFT")
    running = researcher_api.get(f"/api/training-jobs/{jobs['their_training'].pk}/").json()
    assert running["queue_place"] is None


def test_the_api_reads_the_queues_once_for_a_list(queues, api_as, django_assert_max_num_queries):
    mine, _, jobs = queues
    researcher_api = api_as["researcher"]
    listed = researcher_api.get("/api/generation-jobs/").json()["results"]
    assert {job["id"]: job["queue_place"]["position"] for job in listed} == {
        jobs["generation"].pk: 1, jobs["endpoint"].pk: 1}
    with django_assert_max_num_queries(30) as few:
        researcher_api.get("/api/generation-jobs/")
    arm = mine.study_arms.get(arm__name="Baseline").arm
    for _ in range(10):
        GenerationJob.objects.create(study=mine, arm=arm)
    with django_assert_max_num_queries(len(few.captured_queries)):
        listed = researcher_api.get("/api/generation-jobs/").json()["results"]
    # Behind the first generation, the judge and the training: the new jobs are 4th to 13th.
    assert sorted(job["queue_place"]["position"] for job in listed if job["queue_place"]["queue"] == "gpu") == \
        [1, *range(4, 14)]


def test_clinicians_read_no_queue(queues, clinician_client, api_as):
    mine, _, jobs = queues
    assert clinician_client.get(f"/studies/{mine.slug}/jobs/").status_code == 403
    assert api_as["clinician"].get(f"/api/training-jobs/{jobs['training'].pk}/").status_code == 403
