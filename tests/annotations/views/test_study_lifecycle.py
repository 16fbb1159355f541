"""A study's life as raters and the research team meet it: a draft is invisible, a
closed study refuses new work and says why, and every change is recorded."""

import pytest

from annotations.models import Assignment, AuditEvent, Study, Submission
from annotations.services.lifecycle import study_set_status
from annotations.services.planner import assignments_plan
from tests.conftest import complete_rating

pytestmark = pytest.mark.django_db


@pytest.fixture
def planned(rated_study, clinician):
    assignments_plan(study=rated_study, raters=[clinician])
    return rated_study


def test_a_draft_study_is_invisible_to_its_raters(planned, clinician, clinician_client):
    Study.objects.filter(pk=planned.pk).update(status=Study.Status.DRAFT)
    own = Assignment.objects.filter(rater=clinician).first()
    page = clinician_client.get("/rate/")
    assert "no cases waiting" in page.content.decode()
    assert clinician_client.get("/rate/next/")["Location"] == "/rate/done/"
    assert clinician_client.get(f"/rate/{own.pk}/").status_code == 404
    assert clinician_client.get(f"/rate/studies/{planned.pk}/instructions/").status_code == 404


def test_a_closed_study_refuses_a_submission_and_says_why(planned, clinician, clinician_client, researcher):
    done, own = Assignment.objects.filter(rater=clinician).order_by("queue_position")[:2]
    from annotations.services.rating import assignment_submit

    assignment_submit(assignment=done, rater=clinician, data=complete_rating(3, planned.rubric))
    assert clinician_client.get(f"/rate/{own.pk}/").status_code == 200
    study_set_status(study=planned, status="closed", reason="Recruitment ended early", actor=researcher)

    page = clinician_client.get(f"/rate/{own.pk}/")
    assert page.status_code == 409 and "Recruitment ended early" in page.content.decode()
    posted = clinician_client.post(f"/rate/{own.pk}/submit/", complete_rating(3, planned.rubric))
    assert posted.status_code == 409 and "Recruitment ended early" in posted.content.decode()
    draft = clinician_client.post(f"/rate/{own.pk}/draft/", {"r0_realism": "3"})
    assert draft.status_code == 409 and "Recruitment ended early" in draft.json()["reason"]
    assert Submission.objects.count() == 1  # the one before closing
    start = clinician_client.get("/rate/").content.decode()
    assert "A study you were rating is closed: Recruitment ended early" in start
    own.refresh_from_db()
    assert own.status != Assignment.Status.SUBMITTED and own.draft == {}


def test_researchers_open_and_close_from_the_study_page(rated_study, researcher_client):
    Study.objects.filter(pk=rated_study.pk).update(status=Study.Status.DRAFT)
    url = f"/studies/{rated_study.slug}/status/"
    assert "Open the study to raters" in researcher_client.get(f"/studies/{rated_study.slug}/").content.decode()
    researcher_client.post(url, {"status": "open"})
    assert Study.objects.get(pk=rated_study.pk).status == "open"

    refused = researcher_client.post(url, {"status": "closed", "reason": "  "}, follow=True)
    assert "Say why the study is closed" in refused.content.decode()
    assert Study.objects.get(pk=rated_study.pk).status == "open"

    researcher_client.post(url, {"status": "closed", "reason": "Enough ratings"})
    study = Study.objects.get(pk=rated_study.pk)
    assert (study.status, study.closed_reason) == ("closed", "Enough ratings")
    events = list(AuditEvent.objects.filter(action="study.status").order_by("id").values_list("summary", flat=True))
    assert events == ["draft -> open", "open -> closed: Enough ratings"]


@pytest.mark.parametrize(("start", "target"), [("open", "draft"), ("draft", "closed"), ("open", "bogus")])
def test_a_move_the_lifecycle_does_not_allow_changes_nothing(rated_study, researcher_client, start, target):
    Study.objects.filter(pk=rated_study.pk).update(status=start)
    page = researcher_client.post(f"/studies/{rated_study.slug}/status/", {"status": target, "reason": "x"},
                                  follow=True)
    assert page.status_code == 200 and "Status not changed" in page.content.decode()
    assert Study.objects.get(pk=rated_study.pk).status == start
    assert not AuditEvent.objects.filter(action="study.status").exists()


def test_the_admin_shows_the_new_records_read_only(admin_client_, rated_study):
    for path in ("studyrater", "invitation", "harmdecision", "practiceattempt"):
        assert admin_client_.get(f"/admin/annotations/{path}/").status_code == 200
        assert admin_client_.get(f"/admin/annotations/{path}/add/").status_code == 403
    # The status moves through the study page only (checked, with a closing reason).
    page = admin_client_.get(f"/admin/annotations/study/{rated_study.pk}/change/").content.decode()
    assert 'name="status"' not in page and 'name="gold_rate"' in page
