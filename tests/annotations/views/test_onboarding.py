"""Onboarding per study: consent recorded with its time, then practice cases rated like
real ones, with feedback against the expected answers, and never counted."""

import pytest

from annotations.models import Assignment, AuditEvent, Case, PracticeAttempt, Rating, StudyRater, Submission
from annotations.services.planner import assignments_plan
from tests.conftest import complete_rating
from tests.factories import CaseFactory, ResponseFactory

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]
CONSENT = "I agree that my ratings are used **anonymously** in publications."


@pytest.fixture
def onboarding(rated_study, clinician):
    rated_study.consent_text = CONSENT
    rated_study.save()
    practice = CaseFactory(study=rated_study, external_id="practice-1", role=Case.Role.PRACTICE,
                           in_rating_sample=False)
    responses = [ResponseFactory(case=practice, arm=sa.arm, text=f"Practice answer {i}")
                 for i, sa in enumerate(rated_study.study_arms.order_by("position"))]
    practice.expected = {"ratings": {str(responses[2].pk): {"realism": 5, "intervention": "appropriate"}},
                         "ranks": {str(responses[2].pk): 1}, "explanation": "The third answer **flags the HIT risk**."}
    practice.save()
    assignments_plan(study=rated_study, raters=[clinician])
    return rated_study, practice, responses


def test_a_rater_consents_then_practises_then_rates(onboarding, clinician, clinician_client):
    study, practice, responses = onboarding
    url = clinician_client.get("/rate/next/")["Location"]
    assert clinician_client.get(url)["Location"] == f"/rate/studies/{study.pk}/consent/"
    page = clinician_client.get(f"/rate/studies/{study.pk}/consent/").content.decode()
    assert "<strong>anonymously</strong>" in page

    refused = clinician_client.post(f"/rate/studies/{study.pk}/consent/", {})
    assert refused.status_code == 400 and StudyRater.objects.filter(consent_at__isnull=False).count() == 0
    clinician_client.post(f"/rate/studies/{study.pk}/consent/", {"agree": "yes"})
    standing = StudyRater.objects.get(study=study, rater=clinician)
    assert standing.consent_at is not None and len(standing.consent_sha256) == 64

    assert clinician_client.get(url)["Location"] == f"/rate/studies/{study.pk}/practice/"
    case_url = clinician_client.get(f"/rate/studies/{study.pk}/practice/")["Location"]
    assert case_url == f"/rate/studies/{study.pk}/practice/{practice.pk}/"
    form = clinician_client.get(case_url).content.decode()
    assert "Practice case 1 of 1" in form and "Practice answer 2" in form and "data-draft-url" not in form
    assert "Baseline" not in form and "BehaviorSFT" not in form  # blind like every rating page

    assert clinician_client.post(case_url, {"r0_realism": "3"}).status_code == 400
    done = clinician_client.post(case_url, complete_rating(3, study.rubric, likert="5"))
    feedback = clinician_client.get(done["Location"]).content.decode()
    assert "<strong>flags the HIT risk</strong>" in feedback and 'class="match"' in feedback
    assert "Done practising: start rating" in feedback
    attempt = PracticeAttempt.objects.get(rater=clinician)
    assert attempt.slots and sorted(attempt.slots) == sorted(r.pk for r in responses)

    standing.refresh_from_db()
    assert standing.practice_completed_at is not None
    assert clinician_client.get(url).status_code == 200  # now the real case
    # Practice is not counted: no submission, no rating, no assignment of the practice case.
    assert not Submission.objects.exists() and not Rating.objects.exists()
    assert not Assignment.objects.filter(case=practice).exists()
    actions = set(AuditEvent.objects.values_list("action", flat=True))
    assert {"rater.consent", "practice.attempt", "rater.practice_done"} <= actions


def test_a_resent_practice_answer_is_kept_once(onboarding, clinician, clinician_client):
    study, practice, _ = onboarding
    clinician_client.post(f"/rate/studies/{study.pk}/consent/", {"agree": "yes"})
    case_url = f"/rate/studies/{study.pk}/practice/{practice.pk}/"
    clinician_client.post(case_url, complete_rating(3, study.rubric))
    clinician_client.post(case_url, complete_rating(3, study.rubric, likert="1"))
    assert PracticeAttempt.objects.count() == 1


def test_a_study_case_is_no_practice_case(onboarding, clinician_client):
    study, _, _ = onboarding
    real = study.cases.filter(role=Case.Role.STUDY).first()
    assert clinician_client.get(f"/rate/studies/{study.pk}/practice/{real.pk}/").status_code == 404


def test_cannot_judge_on_a_practice_case_gets_feedback_neither_a_match_nor_a_miss(onboarding, clinician_client):
    study, practice, _ = onboarding
    clinician_client.post(f"/rate/studies/{study.pk}/consent/", {"agree": "yes"})
    case_url = f"/rate/studies/{study.pk}/practice/{practice.pk}/"
    answers = complete_rating(3, study.rubric, likert="5")
    for slot in range(3):  # the expected answers name one response's realism and intervention
        answers[f"r{slot}_realism"] = answers[f"r{slot}_intervention"] = "na"
    done = clinician_client.post(case_url, answers)
    feedback = clinician_client.get(done["Location"])
    page = feedback.content.decode()
    assert feedback.status_code == 200 and "Cannot judge" in page
    for label in ("Realism", "Intervention"):  # the rank still gets its match
        assert f'<tr class=""><td>{label}</td><td>Cannot judge</td>' in page
