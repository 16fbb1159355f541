"""A case that went back to the pool (left idle past the study's timeout, or its rater
set aside) while its page was open: what the rater then posts is stored when the case
can be theirs again, and otherwise shown back with the reason, never a bare 404."""

import html
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from annotations.errors import NotFound
from annotations.models import Assignment, AuditEvent, StudyRater, Submission
from annotations.selectors.rating import assignment_for_rater, shown_token
from annotations.services.lifecycle import study_set_status
from annotations.services.planner import assignments_plan, assignments_release_idle
from annotations.services.raters import study_rater_set_status
from annotations.services.rating import assignment_next, assignment_open, assignment_save_draft
from evalportal.roles import CLINICIAN
from tests.conftest import complete_rating
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]
COMMENT = "Response C is the only one that sees the platelet drop & says so."
REASON = "Response A would let the heparin run <on>."


@pytest.fixture
def planned(rated_study, clinician):
    assignments_plan(study=rated_study, raters=[clinician, UserFactory(username="other", role=CLINICIAN)])
    return rated_study


def _open(client) -> tuple[Assignment, str, str]:
    """The rater's next case opened: the assignment, its URL and the page's token."""
    url = client.get("/rate/next/")["Location"]
    page = client.get(url).content.decode()
    token = html.unescape(re.search(r'name="shown" value="([^"]+)"', page)[1])
    return Assignment.objects.get(pk=int(url.strip("/").split("/")[-1])), url, token


def _release(assignment: Assignment, study) -> None:
    """As if the page had been left idle past the study's timeout, and the sweep ran."""
    Assignment.objects.filter(pk=assignment.pk).update(
        last_activity_at=timezone.now() - timedelta(minutes=study.assignment_timeout_minutes + 1))
    assert assignments_release_idle(study=study) == 1
    assert Assignment.objects.get(pk=assignment.pk).rater_id is None


def _typed(study, token=None) -> dict:
    data = complete_rating(3, study.rubric)
    data.update(comment=COMMENT, r0_harmful="1", r0_harmful_reason=REASON)
    if token is not None:
        data["shown"] = token
    return data


def _shows_typed_text(page: str) -> bool:
    return html.escape(COMMENT) in page and html.escape(REASON) in page


def test_a_submission_after_the_timeout_is_stored_when_nobody_took_the_case(planned, clinician, clinician_client):
    assignment, url, token = _open(clinician_client)
    _release(assignment, planned)

    response = clinician_client.post(f"{url}submit/", _typed(planned, token))

    assert response.status_code == 302 and response["Location"] == "/rate/next/"
    submission = Submission.objects.get(assignment=assignment)
    assert submission.comment == COMMENT and submission.submitted_by == clinician
    assignment.refresh_from_db()
    assert assignment.rater == clinician and assignment.status == Assignment.Status.SUBMITTED
    assert AuditEvent.objects.filter(action="assignment.reclaim", object_id=str(assignment.pk)).exists()


def test_a_draft_after_the_timeout_claims_the_case_back(planned, clinician, clinician_client):
    assignment, url, token = _open(clinician_client)
    _release(assignment, planned)

    response = clinician_client.post(f"{url}draft/", {"comment": COMMENT, "shown": token})

    assert response.status_code == 200 and response.json() == {"saved": True}
    assignment.refresh_from_db()
    assert assignment.rater == clinician and assignment.draft["comment"] == COMMENT


def test_the_case_opened_again_with_its_token_is_claimed_back(planned, clinician, clinician_client):
    assignment, url, token = _open(clinician_client)
    _release(assignment, planned)

    assert clinician_client.get(url, {"shown": token}).status_code == 200
    assert Assignment.objects.get(pk=assignment.pk).rater == clinician


def test_a_case_another_rater_took_is_refused_with_the_typed_text_shown(planned, clinician, clinician_client):
    assignment, url, token = _open(clinician_client)
    _release(assignment, planned)
    newcomer = UserFactory(username="newcomer", role=CLINICIAN)
    assert assignment_next(rater=newcomer).pk == assignment.pk
    Assignment.objects.filter(pk=assignment.pk).update(draft={"comment": "the newcomer's own"})

    page = clinician_client.post(f"{url}submit/", _typed(planned, token))
    assert page.status_code == 409
    text = page.content.decode()
    assert "another rater has taken it" in text and _shows_typed_text(text)
    draft = clinician_client.post(f"{url}draft/", {"comment": COMMENT, "shown": token})
    assert draft.status_code == 409 and "another rater has taken it" in draft.json()["reason"]

    assignment.refresh_from_db()
    assert assignment.rater == newcomer and assignment.draft == {"comment": "the newcomer's own"}
    assert not Submission.objects.exists()


@pytest.mark.parametrize("proof", ["none", "forged", "another rater's", "another case's"])
def test_without_proof_of_the_page_a_pooled_case_is_not_claimed(planned, clinician, clinician_client, proof):
    assignment, url, token = _open(clinician_client)
    _release(assignment, planned)
    other_case = Assignment.objects.filter(rater=clinician).exclude(pk=assignment.pk).first()
    data = _typed(planned, {"none": None, "forged": token[:-2] + "xx",
                            "another rater's": shown_token(assignment_id=assignment.pk, rater_id=clinician.pk + 99),
                            "another case's": shown_token(assignment_id=other_case.pk, rater_id=clinician.pk)}[proof])
    data["r99999999999999999999_harmful_reason"] = "not a field of the form"

    page = clinician_client.post(f"{url}submit/", data)

    assert page.status_code == 404 and "not assigned to you" in page.content.decode()
    assert _shows_typed_text(page.content.decode())
    assert Assignment.objects.get(pk=assignment.pk).rater_id is None and not Submission.objects.exists()
    draft = clinician_client.post(f"{url}draft/", data)
    assert draft.status_code == 404 and draft.json()["saved"] is False
    assert Assignment.objects.get(pk=assignment.pk).draft == {}


@pytest.mark.parametrize("status", [StudyRater.Status.PAUSED, StudyRater.Status.REMOVED])
def test_a_rater_set_aside_does_not_get_the_case_back(planned, clinician, clinician_client, researcher, status):
    assignment, url, token = _open(clinician_client)
    study_rater_set_status(study=planned, rater=clinician, status=status, actor=researcher)

    page = clinician_client.post(f"{url}submit/", _typed(planned, token))

    assert page.status_code == 409
    assert "paused or ended your rating in this study" in page.content.decode()
    assert _shows_typed_text(page.content.decode())
    assert Assignment.objects.get(pk=assignment.pk).rater_id is None and not Submission.objects.exists()


def test_a_closed_study_shows_the_typed_text_back(planned, clinician_client, researcher):
    assignment, url, token = _open(clinician_client)
    study_set_status(study=planned, status="closed", reason="Recruitment ended early", actor=researcher)

    page = clinician_client.post(f"{url}submit/", _typed(planned, token))

    assert page.status_code == 409
    assert "Recruitment ended early" in page.content.decode() and _shows_typed_text(page.content.decode())
    assert not Submission.objects.exists()


def test_a_case_released_while_loaded_keeps_no_draft_and_no_clock_in_the_pool(planned, clinician, clinician_client):
    """Released between the page's read and its write: nothing lands on the pooled case,
    which the next rater would otherwise find filled in by someone else."""
    loaded = assignment_for_rater(assignment_id=Assignment.objects.filter(rater=clinician).first().pk,
                                  rater=clinician)
    Assignment.objects.filter(pk=loaded.pk).update(shown_at=timezone.now() - timedelta(days=1))
    assert assignments_release_idle(study=planned) == 1

    assignment_open(assignment=loaded)
    with pytest.raises(NotFound):
        assignment_save_draft(assignment=loaded, data={"comment": COMMENT})

    pooled = Assignment.objects.get(pk=loaded.pk)
    assert pooled.rater_id is None and pooled.draft == {}
    assert pooled.status == Assignment.Status.PENDING and pooled.shown_at is None
