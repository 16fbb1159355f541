"""A rater set aside in a study (removed or paused) changes nothing for the others: every
page of theirs (instructions, consent, practice, the next case, the rating page, drafts
and submissions) judges each rater on their own standing alone."""

import pytest
from django.test import Client

from annotations.models import Assignment, Case, PracticeAttempt, StudyRater, Submission
from annotations.services.planner import assignments_plan
from annotations.services.raters import study_rater_set_status
from annotations.services.rating import assignment_submit
from evalportal.roles import CLINICIAN
from tests.conftest import complete_rating
from tests.factories import CaseFactory, ResponseFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def team(rated_study, researcher):
    """A study with instructions, consent and a practice case; three raters planned, one
    of whom is then removed and one paused, each after submitting a case."""
    rated_study.instructions = "Rate what a colleague would do."
    rated_study.consent_text = "I agree to take part."
    rated_study.save()
    practice = CaseFactory(study=rated_study, external_id="practice-1", role=Case.Role.PRACTICE,
                           in_rating_sample=False)
    for sa in rated_study.study_arms.order_by("position"):
        ResponseFactory(case=practice, arm=sa.arm, text=f"Practice answer of {sa.position}")
    other, removed, paused = (UserFactory(username=name, role=CLINICIAN) for name in ("other", "removed", "paused"))
    assignments_plan(study=rated_study, raters=[other, removed, paused])
    for rater in (removed, paused):
        first = Assignment.objects.filter(rater=rater).order_by("queue_position").first()
        assignment_submit(assignment=first, rater=rater, data=complete_rating(3, rated_study.rubric))
    study_rater_set_status(study=rated_study, rater=removed, status=StudyRater.Status.REMOVED, actor=researcher)
    study_rater_set_status(study=rated_study, rater=paused, status=StudyRater.Status.PAUSED, actor=researcher)
    return rated_study, practice, other, removed, paused


def test_the_other_raters_onboard_and_rate_when_one_is_removed_and_one_paused(team):
    study, practice, other, _, _ = team
    client = _client(other)
    url = client.get("/rate/next/")["Location"]
    base = f"/rate/studies/{study.pk}"

    assert client.get(url)["Location"] == f"{base}/instructions/"
    assert client.get(f"{base}/instructions/").status_code == 200
    assert client.post(f"{base}/instructions/")["Location"] == "/rate/next/"

    assert client.get(url)["Location"] == f"{base}/consent/"
    assert client.get(f"{base}/consent/").status_code == 200
    assert client.post(f"{base}/consent/", {"agree": "yes"})["Location"] == "/rate/next/"

    assert client.get(url)["Location"] == f"{base}/practice/"
    case_url = client.get(f"{base}/practice/")["Location"]
    assert case_url == f"{base}/practice/{practice.pk}/"
    assert client.get(case_url).status_code == 200
    feedback = client.post(case_url, complete_rating(3, study.rubric))["Location"]
    assert client.get(feedback).status_code == 200

    assert client.get(url).status_code == 200
    assert client.post(f"{url}draft/", {"comment": "Half way."}).json() == {"saved": True}
    assert client.post(f"{url}submit/", complete_rating(3, study.rubric))["Location"] == "/rate/next/"
    assert Submission.objects.filter(assignment__rater=other).count() == 1
    standing = StudyRater.objects.get(study=study, rater=other)
    assert standing.instructions_acknowledged_at and standing.consent_at and standing.practice_completed_at


def test_the_removed_rater_reads_none_of_the_studys_pages(team):
    study, practice, _, removed, _ = team
    client = _client(removed)
    base = f"/rate/studies/{study.pk}"
    for path in ("instructions/", "consent/", "practice/", f"practice/{practice.pk}/",
                 f"practice/{practice.pk}/feedback/"):
        assert client.get(f"{base}/{path}").status_code == 404, path
    assert client.post(f"{base}/consent/", {"agree": "yes"}).status_code == 404
    assert not StudyRater.objects.filter(rater=removed, consent_at__isnull=False).exists()
    assert client.get("/rate/next/")["Location"] == "/rate/done/"
    submitted = Assignment.objects.get(rater=removed)
    assert client.get(f"/rate/{submitted.pk}/").status_code == 404


def test_the_paused_rater_keeps_the_studys_texts_but_gets_no_case(team):
    study, _, _, _, paused = team
    client = _client(paused)
    assert client.get(f"/rate/studies/{study.pk}/instructions/").status_code == 200
    assert client.get("/rate/next/")["Location"] == "/rate/done/"


def test_practice_still_to_do_is_each_raters_own(team):
    """Another rater's practice attempt leaves the case to do for everyone else."""
    study, practice, other, _, _ = team
    newcomer = UserFactory(username="newcomer", role=CLINICIAN)
    pooled = Assignment.objects.filter(study=study, rater__isnull=True).first()
    Assignment.objects.filter(pk=pooled.pk).update(rater=newcomer)
    PracticeAttempt.objects.create(study=study, case=practice, rater=newcomer, slots=[],
                                   answers={"slots": [], "ranks": []})
    client = _client(other)
    client.post(f"/rate/studies/{study.pk}/instructions/")
    client.post(f"/rate/studies/{study.pk}/consent/", {"agree": "yes"})
    assert client.get(f"/rate/studies/{study.pk}/practice/")["Location"].endswith(f"/practice/{practice.pk}/")


def test_the_start_page_counts_every_case_of_the_others(team):
    study, _, other, _, _ = team
    left = Assignment.objects.filter(rater=other).count()
    page = _client(other).get("/rate/").content.decode()
    assert f"You have <strong>{left}</strong> cases left" in page
