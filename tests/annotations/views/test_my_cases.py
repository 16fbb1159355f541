"""A clinician's "My cases": their studies and submitted cases, each case read back as
submitted, and its correction (a new revision, the original kept, the reason audited)."""

import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from annotations.models import Assignment, AuditEvent, Rating, StudyRater, Submission
from annotations.services.lifecycle import study_set_status
from annotations.services.planner import assignments_plan
from annotations.services.raters import study_rater_set_status
from annotations.services.rating import submission_revise
from evalportal.roles import CLINICIAN
from tests.conftest import complete_rating
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def other(db):
    return UserFactory(username="other", role=CLINICIAN)


@pytest.fixture
def planned(rated_study, clinician, other):
    assignments_plan(study=rated_study, raters=[clinician, other])
    return rated_study


def _submit(client, study, likert="3", comment="Clear case.") -> Assignment:
    url = client.get("/rate/next/")["Location"]
    data = complete_rating(3, study.rubric, likert=likert)
    data["comment"] = comment
    assert client.post(f"{url}submit/", data).status_code == 302
    return Assignment.objects.get(pk=int(url.strip("/").split("/")[-1]))


def _correction(study, likert="5", reason="I misread the platelet count.", **extra) -> dict:
    data = complete_rating(3, study.rubric, likert=likert)
    data.update(comment="Clear case, corrected.", reason=reason, base_revision="1", **extra)
    return data


def _scores(submission) -> set[float]:
    return set(Rating.objects.filter(submission=submission, dimension="realism").values_list("score", flat=True))


def test_my_cases_lists_the_study_with_progress_and_submitted_cases_newest_first(planned, clinician_client):
    first = _submit(clinician_client, planned)
    second = _submit(clinician_client, planned)
    html = clinician_client.get("/rate/").content.decode()
    assert planned.name in html
    assert re.search(r"<strong>2</strong> of 6 cases done", html)
    assert f'href="/rate/studies/{planned.pk}/next/"' in html and ">Rate next case<" in html
    assert "4 cases left in this study" in html
    first_link, second_link = f'href="/rate/{first.pk}/submitted/"', f'href="/rate/{second.pk}/submitted/"'
    assert html.index(second_link) < html.index(first_link)  # newest first
    assert re.search(rf'{second_link}>Case 2</a>', html) and re.search(rf'{first_link}>Case 1</a>', html)
    assert "rc-" not in html  # the case's id in the study's files is never shown


def test_submitted_cases_are_paginated_per_study(planned, clinician_client, monkeypatch):
    monkeypatch.setattr("annotations.selectors.my_cases.SUBMITTED_PER_PAGE", 1)
    first = _submit(clinician_client, planned)
    second = _submit(clinician_client, planned)
    page_one = clinician_client.get("/rate/").content.decode()
    assert f"/rate/{second.pk}/submitted/" in page_one and f"/rate/{first.pk}/submitted/" not in page_one
    assert f"?study={planned.pk}&amp;page=2#study-{planned.pk}" in page_one
    page_two = clinician_client.get(f"/rate/?study={planned.pk}&page=2").content.decode()
    assert f"/rate/{first.pk}/submitted/" in page_two and f"/rate/{second.pk}/submitted/" not in page_two
    assert "Case 1</a>" in page_two
    # a page number that is not one shows a page rather than an error
    assert clinician_client.get(f"/rate/?study={planned.pk}&page=zzz").status_code == 200
    assert clinician_client.get("/rate/?study=x&page=99").status_code == 200


def test_opening_a_submitted_case_shows_what_was_submitted_read_only(planned, clinician_client):
    assignment = _submit(clinician_client, planned, comment="Potassium was fine.")
    response = clinician_client.get(f"/rate/{assignment.pk}/")
    assert response.status_code == 302 and response["Location"] == f"/rate/{assignment.pk}/submitted/"
    html = clinician_client.get(response["Location"]).content.decode()
    assert "<h1>Case 1" in html and html.count("<h1") == 1
    assert "Plan: start the heparin infusion at 18:00." in html  # the case
    for letter in "ABC":
        assert f"Response {letter}</h2>" in html
    assert "Potassium was fine." in html
    assert re.search(r"<th scope=\"row\">Realism</th><td>3", html)
    assert 'id="rating-form"' not in html and 'type="radio"' not in html and "<textarea" not in html
    assert f'href="/rate/{assignment.pk}/correct/"' in html


def test_a_case_not_yet_submitted_opens_its_rating_page(planned, clinician_client):
    url = clinician_client.get("/rate/next/")["Location"]
    assignment_id = int(url.strip("/").split("/")[-1])
    assert clinician_client.get(f"/rate/{assignment_id}/submitted/")["Location"] == f"/rate/{assignment_id}/"
    assert clinician_client.get(f"/rate/{assignment_id}/correct/")["Location"] == f"/rate/{assignment_id}/"


def test_the_correction_form_holds_the_current_answers(planned, clinician_client):
    assignment = _submit(clinician_client, planned, likert="2", comment="First thoughts.")
    html = clinician_client.get(f"/rate/{assignment.pk}/correct/").content.decode()
    assert re.search(r'name="r0_realism" value="2"[^>]*checked', html)
    assert not re.search(r'name="r0_realism" value="4"[^>]*checked', html)
    assert "First thoughts." in html
    assert '<label for="id_reason">Reason for the correction' in html and 'name="base_revision" value="1"' in html
    assert "Save the correction" in html and html.count("<h1") == 1


def test_a_correction_is_a_new_current_revision_with_the_original_kept_and_audited(
        planned, clinician_client, clinician, researcher_client):
    assignment = _submit(clinician_client, planned, likert="3")
    original = Submission.objects.get(assignment=assignment)
    response = clinician_client.post(f"/rate/{assignment.pk}/correct/", _correction(planned, likert="5"))
    assert response.status_code == 302 and response["Location"] == f"/rate/{assignment.pk}/submitted/"

    original.refresh_from_db()
    revised = Submission.objects.get(assignment=assignment, is_current=True)
    assert not original.is_current and _scores(original) == {3.0}  # the original stays as it was
    assert revised.revision == 2 and _scores(revised) == {5.0}
    assert revised.reason == "I misread the platelet count." and revised.submitted_by == clinician
    event = AuditEvent.objects.get(action="submission.revise")
    assert event.actor == clinician and event.object_id == str(revised.pk)
    assert event.before["revision"] == 1 and event.after["reason"] == "I misread the platelet count."

    html = clinician_client.get(response["Location"]).content.decode()
    assert "Your correction is saved (revision 2)." in html
    assert "I misread the platelet count." in html and re.search(r"<th scope=\"row\">Realism</th><td>5", html)
    assert ">Corrected<" in clinician_client.get("/rate/").content.decode()

    # researchers get both revisions, the reason and who stored each, in the export
    rows = [json.loads(line) for line in b"".join(researcher_client.get(
        f"/studies/{planned.slug}/export/ratings.jsonl?revisions=all").streaming_content).splitlines()]
    mine = [r for r in rows if r["assignment_id"] == assignment.pk and r["dimension"] == "realism"]
    assert {(r["revision"], r["is_current"], r["score"]) for r in mine} == {(1, False, 3.0), (2, True, 5.0)}
    assert {r["revision_reason"] for r in mine if r["revision"] == 2} == {"I misread the platelet count."}
    assert {r["submitted_by"] for r in mine} == {"clin"}


def test_the_time_a_rater_spends_correcting_counts_in_their_time_on_task(planned, clinician_client, admin_user):
    """The correction page counts its active time as the rating page does; the rater's
    own correction adds it to the case's time on task (never more than has passed since
    they last worked on it), a correction by the study team adds none."""
    assignment = _submit(clinician_client, planned, likert="3")
    ten_minutes_ago = timezone.now() - timedelta(minutes=10)
    Assignment.objects.filter(pk=assignment.pk).update(last_activity_at=ten_minutes_ago)
    before = Assignment.objects.get(pk=assignment.pk).active_seconds
    url = f"/rate/{assignment.pk}/correct/"
    assert clinician_client.post(url, _correction(planned, active_seconds="42.5")).status_code == 302
    assignment.refresh_from_db()
    assert assignment.active_seconds == pytest.approx(before + 42.5)
    assert assignment.last_activity_at > ten_minutes_ago

    Assignment.objects.filter(pk=assignment.pk).update(last_activity_at=timezone.now() - timedelta(seconds=30))
    claimed = _correction(planned, likert="4", reason="Second look.", active_seconds="86400")
    claimed["base_revision"] = "2"
    assert clinician_client.post(url, claimed).status_code == 302
    assignment.refresh_from_db()
    assert before + 42.5 + 30 <= assignment.active_seconds < before + 42.5 + 60  # what passed, not what was claimed

    counted = assignment.active_seconds
    submission_revise(assignment=assignment, actor=admin_user, data=_correction(planned, likert="2"),
                      reason="The rater asked us to fix a slip.", active_seconds="300")
    assignment.refresh_from_db()
    assert assignment.active_seconds == counted


def test_a_correction_without_a_reason_is_refused_with_what_was_typed_kept(planned, clinician_client):
    assignment = _submit(clinician_client, planned, likert="3")
    data = _correction(planned, likert="5", reason="  ")
    data["comment"] = "My new comment."
    response = clinician_client.post(f"/rate/{assignment.pk}/correct/", data)
    assert response.status_code == 400
    html = response.content.decode()
    assert "Say why you are correcting this case." in html and 'href="#f-reason"' in html
    assert re.search(r'name="r0_realism" value="5"[^>]*checked', html) and "My new comment." in html
    assert Submission.objects.filter(assignment=assignment).count() == 1
    assert not AuditEvent.objects.filter(action="submission.revise").exists()


def test_an_incomplete_correction_is_refused_with_the_reason_kept(planned, clinician_client):
    assignment = _submit(clinician_client, planned)
    data = _correction(planned, reason="Second look.")
    del data["r1_realism"]
    response = clinician_client.post(f"/rate/{assignment.pk}/correct/", data)
    assert response.status_code == 400
    html = response.content.decode()
    assert "Response B: rate Realism" in html and ">Second look.</textarea>" in html
    assert Submission.objects.filter(assignment=assignment).count() == 1


def test_another_raters_case_is_a_404_and_stays_untouched(planned, clinician_client, other):
    theirs = _submit(_client(other), planned)
    for url in (f"/rate/{theirs.pk}/submitted/", f"/rate/{theirs.pk}/correct/"):
        assert clinician_client.get(url).status_code == 404
    assert clinician_client.post(f"/rate/{theirs.pk}/correct/", _correction(planned)).status_code == 404
    assert Submission.objects.filter(assignment=theirs).count() == 1
    assert clinician_client.get("/rate/999999/submitted/").status_code == 404


def _client(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def test_a_closed_study_refuses_the_correction_and_keeps_what_was_typed(planned, clinician_client):
    assignment = _submit(clinician_client, planned, likert="3")
    form = clinician_client.get(f"/rate/{assignment.pk}/correct/")
    assert form.status_code == 200
    study_set_status(study=planned, status="closed", reason="Enough ratings.")  # while the form was open
    response = clinician_client.post(f"/rate/{assignment.pk}/correct/", _correction(planned, reason="Typo in B."))
    assert response.status_code == 409
    html = response.content.decode()
    assert "Not saved:" in html and "Enough ratings." in html
    assert ">Typo in B.</textarea>" in html and "Clear case, corrected." in html
    assert Submission.objects.filter(assignment=assignment).count() == 1
    # what was submitted can still be read; the correction is no longer offered
    page = clinician_client.get(f"/rate/{assignment.pk}/submitted/").content.decode()
    assert "no longer takes ratings" in page and 'id="correct-button"' not in page
    assert clinician_client.get(f"/rate/{assignment.pk}/correct/")["Location"] == f"/rate/{assignment.pk}/submitted/"


def test_a_paused_rater_may_read_but_not_correct(planned, clinician_client, clinician, researcher):
    assignment = _submit(clinician_client, planned, likert="3")
    study_rater_set_status(study=planned, rater=clinician, status=StudyRater.Status.PAUSED, actor=researcher)
    home = clinician_client.get("/rate/").content.decode()
    assert f"/rate/{assignment.pk}/submitted/" in home and "paused your rating in this study" in home
    page = clinician_client.get(f"/rate/{assignment.pk}/submitted/")
    assert page.status_code == 200 and 'id="correct-button"' not in page.content.decode()
    response = clinician_client.post(f"/rate/{assignment.pk}/correct/", _correction(planned, reason="Fix."))
    assert response.status_code == 409 and ">Fix.</textarea>" in response.content.decode()
    assert Submission.objects.filter(assignment=assignment).count() == 1


def test_a_removed_rater_sees_nothing_of_the_study(planned, clinician_client, clinician, researcher):
    assignment = _submit(clinician_client, planned)
    study_rater_set_status(study=planned, rater=clinician, status=StudyRater.Status.REMOVED, actor=researcher)
    home = clinician_client.get("/rate/").content.decode()
    assert planned.name not in home and f"/rate/{assignment.pk}/" not in home
    for url in (f"/rate/{assignment.pk}/submitted/", f"/rate/{assignment.pk}/correct/"):
        assert clinician_client.get(url).status_code == 404
    assert clinician_client.post(f"/rate/{assignment.pk}/correct/", _correction(planned)).status_code == 404


def test_a_resent_correction_stores_one_revision_and_a_stale_form_is_refused(planned, clinician_client):
    assignment = _submit(clinician_client, planned, likert="3")
    url = f"/rate/{assignment.pk}/correct/"
    assert clinician_client.post(url, _correction(planned, likert="5")).status_code == 302
    assert clinician_client.post(url, _correction(planned, likert="5")).status_code == 302  # double click
    assert list(Submission.objects.filter(assignment=assignment).values_list("revision", flat=True)) == [1, 2]
    # a form opened on revision 1 with another reason would overwrite revision 2 unseen
    response = clinician_client.post(url, _correction(planned, likert="1", reason="Another thought."))
    assert response.status_code == 409 and "corrected again since this form was opened" in response.content.decode()
    assert Submission.objects.get(assignment=assignment, is_current=True).revision == 2


def test_the_admin_lists_the_revision_its_reason_and_the_audit_event(planned, clinician_client, admin_client_):
    assignment = _submit(clinician_client, planned)
    clinician_client.post(f"/rate/{assignment.pk}/correct/", _correction(planned, reason="Swapped B and C."))
    submissions = admin_client_.get("/admin/annotations/submission/").content.decode()
    assert "Swapped B and C." in submissions
    audit = admin_client_.get("/admin/annotations/auditevent/?action=submission.revise").content.decode()
    assert "revision 2: Swapped B and C." in audit


def test_cannot_judge_reads_back_as_given_and_fills_the_correction_form(planned, clinician_client):
    url = clinician_client.get("/rate/next/")["Location"]
    data = complete_rating(3, planned.rubric)
    data["r1_realism"] = data["r2_intervention"] = "na"
    assert clinician_client.post(f"{url}submit/", data).status_code == 302
    assignment_id = int(url.strip("/").split("/")[-1])
    read_only = clinician_client.get(f"/rate/{assignment_id}/submitted/").content.decode()
    assert read_only.count("Cannot judge") >= 2
    form = clinician_client.get(f"/rate/{assignment_id}/correct/").content.decode()
    for name in ("r1_realism", "r2_intervention"):
        assert re.search(rf'name="{name}" value="na"[^>]*checked', form), name
