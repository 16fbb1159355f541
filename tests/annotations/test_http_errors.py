"""Domain errors become HTTP answers in one place, for pages and the API alike, with the
status they mean, never a 500."""

from __future__ import annotations

import pytest

from annotations.models import JobStatus, TrainingJob

pytestmark = pytest.mark.django_db


def test_pages_answer_a_missing_study_or_assignment_with_404(researcher_client, clinician_client):
    assert researcher_client.get("/studies/no-such-study/").status_code == 404
    assert researcher_client.get("/studies/no-such-study/dashboard/").status_code == 404
    assert clinician_client.get("/rate/123456/").status_code == 404


def test_the_api_answers_a_refused_state_change_with_409_and_its_reason(rated_study, admin_user):
    from rest_framework.test import APIClient

    job = TrainingJob.objects.create(study=rated_study, method="behavior_sft", base_model="demo",
                                     status=JobStatus.SUCCEEDED)
    client = APIClient()
    client.force_login(admin_user)
    response = client.post(f"/api/training-jobs/{job.pk}/cancel/")
    assert response.status_code == 409
    assert response.json() == {"detail": f"Job {job.pk} is succeeded; only queued or running jobs can be cancelled."}


def test_a_domain_error_no_view_handles_is_a_page_with_its_status(rf, researcher):
    from annotations.errors import QueueUnavailable
    from annotations.http_errors import DomainErrorMiddleware

    request = rf.get("/studies/")
    request.user = researcher
    middleware = DomainErrorMiddleware(lambda r: None)
    response = middleware.process_exception(request, QueueUnavailable("The task queue cannot be reached."))
    assert response.status_code == 503 and b"The task queue cannot be reached." in response.content
    assert middleware.process_exception(request, ValueError("not ours")) is None
