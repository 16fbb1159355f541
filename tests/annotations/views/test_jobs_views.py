"""Job pages: admins queue, cancel and retry; researchers watch; clinicians see none of it
(nor the responses page, tests/annotations/views/test_responses_views.py)."""

from dataclasses import asdict

import pytest

from annotations.models import GenerationJob, JobStatus, TrainingJob
from modeling.params import TrainParams

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_broker")]


# The job is sent to the broker when its transaction commits: this test commits.
@pytest.mark.django_db(transaction=True)
def test_admin_queues_generation_for_missing_cases(rated_study, admin_client_):
    arm = rated_study.study_arms.first().arm
    rated_study.cases.get(external_id="rc-0").responses.filter(arm=arm).delete()
    response = admin_client_.post(f"/studies/{rated_study.slug}/jobs/generation/",
                                  {"arm": arm.pk, "only_missing": "on", "max_new_tokens": 64, "seed": 3},
                                  follow=True)
    html = response.content.decode()
    job = GenerationJob.objects.get()
    assert f"Queued generation job #{job.pk} (1 cases)." in html
    assert job.status == JobStatus.QUEUED and job.celery_task_id
    assert job.selection == {"split": "test", "only_missing": True}
    assert [(c.first_case_id, c.units) for c in job.chunks.all()] == [(rated_study.cases.get(external_id="rc-0").pk, 1)]
    assert job.decoding_params["max_new_tokens"] == 64 and job.seed == 3


def test_a_refused_generation_form_comes_back_as_typed(rated_study, admin_client_):
    """An unknown case id: the page again (400), the form holding what was typed, the
    reason in words (no internal key), and no job."""
    arm = rated_study.study_arms.first().arm
    response = admin_client_.post(f"/studies/{rated_study.slug}/jobs/generation/",
                                  {"arm": arm.pk, "cases": "rc-1 nope-9", "max_new_tokens": 64, "seed": 11})
    html = response.content.decode()
    assert response.status_code == 400 and "Unknown case ids: nope-9" in html and "__all__" not in html
    assert "rc-1 nope-9</textarea>" in html and 'value="11"' in html and 'value="64"' in html
    assert not GenerationJob.objects.exists()


def test_a_service_refusal_comes_back_on_the_form(rated_study, admin_client_):
    """Every listed case answered already, with only missing ticked: the service refuses
    (InvalidRequest), and the page says so over the form as typed."""
    arm = rated_study.study_arms.first().arm
    response = admin_client_.post(f"/studies/{rated_study.slug}/jobs/generation/",
                                  {"arm": arm.pk, "cases": "rc-1", "only_missing": "on"})
    html = response.content.decode()
    assert response.status_code == 400 and "every case already has a response from this arm" in html
    assert "rc-1</textarea>" in html and not GenerationJob.objects.exists()


def test_a_training_form_out_of_bounds_names_the_field(rated_study, admin_client_):
    response = admin_client_.post(f"/studies/{rated_study.slug}/jobs/training/",
                                  {"method": "behavior_sft", "base_model": "demo", "lora_r": 100000})
    html = response.content.decode()
    assert response.status_code == 400 and "Not queued: LoRA r: Ensure this value is less than or equal to 256" in html
    assert 'value="100000"' in html and not TrainingJob.objects.exists()


def test_admin_queues_training_and_cancels_then_retries(rated_study, admin_client_):
    response = admin_client_.post(f"/studies/{rated_study.slug}/jobs/training/",
                                  {"method": "behavior_sft", "base_model": "demo", "epochs": 2,
                                   "learning_rate": 0.0002, "lora_r": 8, "seed": 1}, follow=True)
    job = TrainingJob.objects.get()
    assert f"Queued training job #{job.pk}." in response.content.decode()
    assert job.hyperparameters == {**asdict(TrainParams()), "epochs": 2.0, "learning_rate": 0.0002, "lora_r": 8,
                                   "seed": 1}

    admin_client_.post(f"/studies/{rated_study.slug}/jobs/training/{job.pk}/cancel/")
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.cancel_requested
    admin_client_.post(f"/studies/{rated_study.slug}/jobs/training/{job.pk}/retry/")
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and not job.cancel_requested
    response = admin_client_.post(f"/studies/{rated_study.slug}/jobs/training/{job.pk}/retry/", follow=True)
    assert "only failed or cancelled jobs can be retried" in response.content.decode()


def test_training_needs_a_training_split(admin_client_, rated_study):
    rated_study.cases.filter(split="train").delete()
    response = admin_client_.post(f"/studies/{rated_study.slug}/jobs/training/",
                                  {"method": "general_sft", "base_model": "demo", "epochs": 1,
                                   "learning_rate": 0.0002, "lora_r": 8, "seed": 0})
    assert response.status_code == 400 and "has no cases in its training split" in response.content.decode()
    assert not TrainingJob.objects.exists()


def test_job_list_polls_a_partial_with_progress_and_errors(rated_study, researcher_client):
    arm = rated_study.study_arms.first().arm
    GenerationJob.objects.create(study=rated_study, arm=arm, status=JobStatus.FAILED, progress_done=2,
                                 progress_total=4, error="CUDA out of memory", traceback="Traceback: boom")
    page = researcher_client.get(f"/studies/{rated_study.slug}/jobs/").content.decode()
    assert 'hx-get="/studies/rated/jobs/"' in page and "Queue generation" not in page
    partial = researcher_client.get(f"/studies/{rated_study.slug}/jobs/", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in partial and 'data-width="50"' in partial and "CUDA out of memory" in partial
    assert "Traceback: boom" not in partial  # tracebacks are for admins


def test_researchers_cannot_queue_or_cancel(rated_study, researcher_client):
    arm = rated_study.study_arms.first().arm
    job = GenerationJob.objects.create(study=rated_study, arm=arm)
    assert researcher_client.post(f"/studies/{rated_study.slug}/jobs/generation/",
                                  {"arm": arm.pk, "max_new_tokens": 5}).status_code == 403
    assert researcher_client.post(f"/studies/{rated_study.slug}/jobs/generation/{job.pk}/cancel/").status_code == 403
    assert GenerationJob.objects.count() == 1 and GenerationJob.objects.get().status == JobStatus.QUEUED


@pytest.mark.parametrize("path", ["jobs/", "responses/"])
def test_clinicians_never_reach_jobs_or_responses(rated_study, clinician_client, path):
    assert clinician_client.get(f"/studies/{rated_study.slug}/{path}").status_code == 403


@pytest.mark.django_db(transaction=True)  # the job is sent when its transaction commits
def test_a_queue_that_cannot_be_reached_shows_the_form_again(rated_study, admin_client_):
    from tests.annotations.worker_helpers import redis_down

    arm = rated_study.study_arms.first().arm
    with redis_down():
        response = admin_client_.post(f"/studies/{rated_study.slug}/jobs/generation/",
                                      {"arm": arm.pk, "max_new_tokens": 32})
    html = response.content.decode()
    assert response.status_code == 503 and "cannot be reached" in html and 'value="32"' in html
    assert not GenerationJob.objects.exists()
