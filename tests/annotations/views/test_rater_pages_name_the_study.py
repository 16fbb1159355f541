"""The pages around the rating form tell a clinician which study they are in, and count
cases in words that agree ("1 case", "2 cases"): a clinician in two studies never has to
guess which one a consent, a practice case or a refusal belongs to."""

import pytest

from annotations.models import Assignment, Case, Study
from annotations.services.planner import assignments_plan
from annotations.services.rating import assignment_submit
from tests.conftest import complete_rating
from tests.factories import CaseFactory, ResponseFactory, StudyArmFactory, StudyFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def named_study(rated_study):
    rated_study.name = "Heparin handover study"
    rated_study.instructions = "Read the whole conversation."
    rated_study.consent_text = "You may stop at any time."
    rated_study.save()
    return rated_study


def test_instructions_and_consent_name_the_study(named_study, clinician, clinician_client):
    assignments_plan(study=named_study, raters=[clinician])
    instructions = clinician_client.get(f"/rate/studies/{named_study.pk}/instructions/").content.decode()
    assert "<title>Instructions · Heparin handover study · evalportal</title>" in instructions
    assert '<p class="study-name">Heparin handover study</p>' in instructions
    consent = clinician_client.get(f"/rate/studies/{named_study.pk}/consent/").content.decode()
    assert "I consent to take part in Heparin handover study." in consent
    refused = clinician_client.post(f"/rate/studies/{named_study.pk}/consent/", {})
    assert refused.status_code == 400
    assert 'aria-invalid="true" aria-describedby="consent-error"' in refused.content.decode()


def test_practice_feedback_names_the_study(named_study, clinician, clinician_client):
    named_study.instructions = named_study.consent_text = ""
    named_study.save()
    practice = CaseFactory(study=named_study, external_id="practice-1", role=Case.Role.PRACTICE)
    for sa in named_study.study_arms.order_by("position"):
        ResponseFactory(case=practice, arm=sa.arm)
    assignments_plan(study=named_study, raters=[clinician])
    posted = clinician_client.post(f"/rate/studies/{named_study.pk}/practice/{practice.pk}/",
                                   complete_rating(3, named_study.rubric))
    assert posted.status_code == 302
    feedback = clinician_client.get(posted["Location"]).content.decode()
    assert '<p class="study-name">Heparin handover study</p>' in feedback


def test_a_refused_case_names_its_study_to_its_rater_only(named_study, clinician, clinician_client):
    named_study.instructions = named_study.consent_text = ""
    named_study.save()
    assignments_plan(study=named_study, raters=[clinician])
    mine = Assignment.objects.filter(rater=clinician).first()
    Study.objects.filter(pk=named_study.pk).update(status=Study.Status.CLOSED, closed_reason="Enough ratings")
    closed = clinician_client.get(f"/rate/{mine.pk}/")
    assert closed.status_code == 409
    assert '<p class="study-name">Heparin handover study</p>' in closed.content.decode()

    elsewhere = StudyFactory(name="A study this rater never joined")
    stranger = UserFactory(username="stranger")
    theirs = Assignment.objects.create(study=elsewhere, case=CaseFactory(study=elsewhere), rater=stranger,
                                       slots=[], queue_position=1)
    gone = clinician_client.get(f"/rate/{theirs.pk}/")
    assert gone.status_code == 404
    assert "This case is no longer yours to rate" in gone.content.decode()
    assert "A study this rater never joined" not in gone.content.decode()


def test_done_page_counts_each_study_in_agreeing_words(named_study, clinician, clinician_client):
    small = StudyFactory(name="One-case study", raters_per_item=1)
    arms = [StudyArmFactory(study=small, position=i).arm for i in range(3)]
    case = CaseFactory(study=small)
    for arm in arms:
        ResponseFactory(case=case, arm=arm)
    named_study.instructions = named_study.consent_text = ""
    named_study.save()
    for study in (named_study, small):
        assignments_plan(study=study, raters=[clinician])
    for assignment in Assignment.objects.filter(rater=clinician):
        assignment_submit(assignment=assignment, rater=clinician,
                          data=complete_rating(len(assignment.slots), assignment.study.rubric))
    assert clinician_client.get("/rate/next/")["Location"] == "/rate/done/"
    html = clinician_client.get("/rate/done/").content.decode()
    assert "<strong>Heparin handover study</strong>: 6 of 6 cases done" in html
    assert "<strong>One-case study</strong>: 1 of 1 case done" in html
    assert "1 of 1 cases" not in html


def test_the_next_case_of_a_study_stays_in_that_study(named_study, clinician, clinician_client):
    named_study.instructions = named_study.consent_text = ""
    named_study.save()
    other = StudyFactory(name="Another study", raters_per_item=1)
    arms = [StudyArmFactory(study=other, position=i).arm for i in range(3)]
    case = CaseFactory(study=other)
    for arm in arms:
        ResponseFactory(case=case, arm=arm)
    for study in (named_study, other):
        assignments_plan(study=study, raters=[clinician])
    response = clinician_client.get(f"/rate/studies/{other.pk}/next/")
    opened = Assignment.objects.get(pk=int(response["Location"].strip("/").split("/")[-1]))
    assert opened.study_id == other.pk
    assert clinician_client.get("/rate/studies/not-a-number/next/").status_code == 404
    stranger_study = StudyFactory(name="Not theirs")
    assert clinician_client.get(f"/rate/studies/{stranger_study.pk}/next/").status_code == 404
    assert clinician_client.get(f"/rate/studies/{other.pk}/next/", follow=False)["Location"] == response["Location"]
