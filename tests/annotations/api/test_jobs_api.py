"""Queueing, cancelling and retrying jobs through the API (admins), against the local
Redis (test db 15; nothing consumes, messages are flushed)."""

from __future__ import annotations

from dataclasses import asdict

import pytest

from annotations.models import AuditEvent, GenerationJob, JobStatus, TrainingJob
from modeling.params import TrainParams
from tests.annotations.worker_helpers import redis_down

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_broker")]


# The job is sent to the broker when its transaction commits: this test commits.
@pytest.mark.django_db(transaction=True)
def test_admin_queues_generation_for_chosen_cases(world, admin_api):
    response = admin_api.post("/api/generation-jobs/", {"study": "rated", "arm": world.arm.pk,
                                                         "cases": ["rc-2", "rc-3"], "max_new_tokens": 48, "seed": 7},
                              format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    job = GenerationJob.objects.get(pk=body["id"])
    assert job.status == JobStatus.QUEUED and job.celery_task_id and body["celery_task_id"] == job.celery_task_id
    assert sorted(job.study.cases.filter(pk__in=job.selection["case_ids"]).values_list("external_id", flat=True)) \
        == ["rc-2", "rc-3"]
    assert job.chunks.count() == 1 and job.chunks.get().units == 2
    assert job.decoding_params["max_new_tokens"] == 48 and job.seed == 7 and job.created_by.username == "boss"
    assert body["study"] == "rated" and body["arm_name"] == "Baseline" and body["progress_total"] == 2
    assert AuditEvent.objects.filter(action="job.generation.queue", object_id=str(job.pk)).exists()


def test_generation_defaults_to_the_test_cases(world, admin_api):
    response = admin_api.post("/api/generation-jobs/", {"study": "rated", "arm": world.arm.pk}, format="json")
    assert response.status_code == 201
    job = GenerationJob.objects.get(pk=response.json()["id"])
    assert job.selection == {"split": "test", "only_missing": False} and job.progress_total == 6
    assert job.decoding_params["max_new_tokens"] == 160


def test_generation_of_only_missing_cases_with_decoding(world, admin_api):
    """What the page offers, the API does: only the cases the arm has not answered, and
    every decoding setting."""
    world.study.cases.get(external_id="rc-0").responses.filter(arm=world.arm).delete()
    response = admin_api.post("/api/generation-jobs/", {
        "study": "rated", "arm": world.arm.pk, "only_missing": True, "do_sample": True, "temperature": 0.7,
        "top_p": 0.9}, format="json")
    assert response.status_code == 201, response.json()
    job = GenerationJob.objects.get(pk=response.json()["id"])
    assert job.selection == {"split": "test", "only_missing": True} and job.progress_total == 1
    assert job.decoding_params == {"max_new_tokens": 160, "do_sample": True, "temperature": 0.7, "top_p": 0.9}


@pytest.mark.parametrize(("payload", "field", "message"), [
    ({"cases": ["rc-1", "nope-9", "nope-1"]}, "cases", "Unknown case ids in study 'rated': nope-9, nope-1"),
    ({"cases": []}, "cases", "This list may not be empty."),
    ({"max_new_tokens": 0}, "max_new_tokens", "greater than or equal to 1"),
    ({"study": "no-such-study"}, "study", "does not exist"),
    ({"arm": 999999}, "arm", "does not exist"),
])
def test_bad_generation_input_is_named_and_queues_nothing(world, admin_api, payload, field, message):
    data = {"study": "rated", "arm": world.arm.pk, **payload}
    response = admin_api.post("/api/generation-jobs/", data, format="json")
    assert response.status_code == 400
    assert message in " ".join(response.json()[field])
    assert GenerationJob.objects.count() == 2  # the world's two


def test_arm_outside_the_study_is_a_400_from_the_service(world, admin_api):
    from tests.factories import ModelArmFactory

    stranger = ModelArmFactory(name="Stranger")
    response = admin_api.post("/api/generation-jobs/", {"study": "rated", "arm": stranger.pk}, format="json")
    assert response.status_code == 400
    assert response.json() == {"detail": "Arm 'Stranger' is not part of study 'rated'."}
    assert GenerationJob.objects.count() == 2


# The job is sent to the broker when its transaction commits: this test commits.
@pytest.mark.django_db(transaction=True)
def test_queue_unreachable_is_a_503_and_creates_nothing(world, admin_api):
    with redis_down():
        gen = admin_api.post("/api/generation-jobs/", {"study": "rated", "arm": world.arm.pk}, format="json")
        train = admin_api.post("/api/training-jobs/", {"study": "rated", "method": "general_sft"}, format="json")
    for response in (gen, train):
        assert response.status_code == 503
        detail = response.json()["detail"]
        assert "cannot be reached" in detail and "Nothing was queued" in detail
    assert GenerationJob.objects.count() == 2 and TrainingJob.objects.count() == 2


# The job is sent to the broker when its transaction commits: this test commits.
@pytest.mark.django_db(transaction=True)
def test_admin_queues_training_with_hyperparameters(world, admin_api, settings):
    settings.EVALPORTAL_MODEL_ROOTS = [*settings.EVALPORTAL_MODEL_ROOTS, "/models"]
    response = admin_api.post("/api/training-jobs/", {
        "study": "rated", "method": "behavior_sft", "base_model": "/models/qwen",
        "hyperparameters": {"epochs": 2, "learning_rate": 1e-4, "lora_r": 8, "batch_size": 2}}, format="json")
    assert response.status_code == 201, response.json()
    job = TrainingJob.objects.get(pk=response.json()["id"])
    assert job.status == JobStatus.QUEUED and job.celery_task_id and job.base_model == "/models/qwen"
    assert job.hyperparameters == {**asdict(TrainParams()), "epochs": 2.0, "learning_rate": 1e-4, "lora_r": 8,
                                   "batch_size": 2}
    assert response.json()["method"] == "behavior_sft"


@pytest.mark.parametrize(("payload", "field", "message"), [
    ({"method": "magic_sft"}, "method", "not a valid choice"),
    ({"hyperparameters": {"epochs": 2, "warp_speed": 9}}, "hyperparameters", "Unknown hyperparameter"),
    ({"hyperparameters": {"lora_r": 0}}, "hyperparameters", "greater than or equal to 1"),
    ({"hyperparameters": "fast"}, "hyperparameters", "Invalid data"),
])
def test_bad_training_input_is_named_and_queues_nothing(world, admin_api, payload, field, message):
    response = admin_api.post("/api/training-jobs/", {"study": "rated", "method": "general_sft", **payload},
                              format="json")
    assert response.status_code == 400
    assert message in str(response.json()[field])
    assert TrainingJob.objects.count() == 2


def test_training_needs_a_training_split(world, admin_api):
    world.study.cases.filter(split="train").delete()
    response = admin_api.post("/api/training-jobs/", {"study": "rated", "method": "general_sft"}, format="json")
    assert response.status_code == 400
    assert "has no cases in its training split" in response.json()["detail"]


# The job is sent to the broker when its transaction commits: this test commits.
@pytest.mark.django_db(transaction=True)
def test_cancel_then_retry_then_refuse_a_second_retry(world, admin_api):
    job = world.train_queued
    cancelled = admin_api.post(f"/api/training-jobs/{job.pk}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["cancel_requested"] is True
    retried = admin_api.post(f"/api/training-jobs/{job.pk}/retry/")
    assert retried.status_code == 200 and retried.json()["status"] == "queued"
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and not job.cancel_requested and job.celery_task_id
    chunk = job.chunks.get()  # the retry sent the job's chunk again, under a new task id
    assert chunk.status == JobStatus.QUEUED and chunk.sends == 1
    again = admin_api.post(f"/api/training-jobs/{job.pk}/retry/")
    assert again.status_code == 409
    assert "only failed or cancelled jobs can be retried" in again.json()["detail"]


def test_cancelling_a_finished_job_is_a_409(world, admin_api):
    GenerationJob.objects.filter(pk=world.gen_queued.pk).update(status=JobStatus.SUCCEEDED)
    response = admin_api.post(f"/api/generation-jobs/{world.gen_queued.pk}/cancel/")
    assert response.status_code == 409
    assert "only queued or running jobs can be cancelled" in response.json()["detail"]
    assert admin_api.post("/api/generation-jobs/999999/cancel/").status_code == 404


# The job is sent to the broker when its transaction commits: this test commits.
@pytest.mark.django_db(transaction=True)
def test_retry_with_the_queue_down_is_a_503(world, admin_api):
    with redis_down():
        response = admin_api.post(f"/api/generation-jobs/{world.gen_failed.pk}/retry/")
    assert response.status_code == 503 and "Nothing was queued" in response.json()["detail"]
    world.gen_failed.refresh_from_db()
    assert world.gen_failed.status == JobStatus.FAILED
    chunk = world.gen_failed.chunks.get()
    assert chunk.status == JobStatus.FAILED and chunk.sends == 0


def test_researcher_cannot_queue_cancel_or_retry(world, researcher_api):
    assert researcher_api.post("/api/generation-jobs/", {"study": "rated", "arm": world.arm.pk},
                               format="json").status_code == 403
    assert researcher_api.post(f"/api/generation-jobs/{world.gen_queued.pk}/cancel/").status_code == 403
    assert researcher_api.post(f"/api/training-jobs/{world.train_failed.pk}/retry/").status_code == 403
    world.gen_queued.refresh_from_db()
    world.train_failed.refresh_from_db()
    assert world.gen_queued.status == JobStatus.QUEUED and world.train_failed.status == JobStatus.FAILED
    assert GenerationJob.objects.count() == 2 and TrainingJob.objects.count() == 2


def test_browsable_api_offers_admins_the_queue_form(world, admin_api, researcher_api):
    page = admin_api.get("/api/generation-jobs/", HTTP_ACCEPT="text/html").content.decode()
    assert "max_new_tokens" in page
    assert "max_new_tokens" not in researcher_api.get("/api/generation-jobs/", HTTP_ACCEPT="text/html").content.decode()
    options = admin_api.options("/api/training-jobs/").json()
    assert set(options["actions"]["POST"]) == {"study", "method", "base_model", "hyperparameters"}
