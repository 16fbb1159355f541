"""A screen of three of a study's five arms, through the real rating page: three
responses, ranks 1 to 3, and what is stored is what was shown; the statistics read a
response scored "cannot judge" (no score) as missing, never as a zero."""

from __future__ import annotations

import re

import numpy as np
import pytest

from annotations.analysis import summarize_study
from annotations.models import Assignment, Preference, Rating, Response, Submission
from annotations.selectors.analysis import analysis_dimensions, rating_frames
from annotations.services.planner import assignments_plan
from annotations.services.rating import assignment_submit
from evalportal.roles import CLINICIAN
from tests.conftest import complete_rating
from tests.factories import CaseFactory, ResponseFactory, StudyArmFactory, StudyFactory, UserFactory

pytestmark = pytest.mark.django_db

ARM_NAMES = ["Baseline", "FewShot", "Instructed", "GeneralSFT", "BehaviorSFT"]


@pytest.fixture
def five_arm_study(db):
    study = StudyFactory(slug="five", raters_per_item=2, arms_per_screen=3)
    arms = [StudyArmFactory(study=study, arm__name=name, position=i).arm for i, name in enumerate(ARM_NAMES)]
    for n in range(10):
        case = CaseFactory(study=study, external_id=f"five-{n}")
        for arm in arms:
            ResponseFactory(case=case, arm=arm, text=f"Reply of arm {arm.pk} to case {n}: review the plan.")
    return study


def test_a_screen_of_three_shows_three_responses_and_ranks_them_1_to_3(five_arm_study, clinician, clinician_client):
    assignments_plan(study=five_arm_study, raters=[clinician, UserFactory(role=CLINICIAN)])
    url = clinician_client.get("/rate/next/")["Location"]
    assignment = Assignment.objects.get(pk=int(url.strip("/").split("/")[-1]))
    assert len(assignment.slots) == 3
    html = clinician_client.get(url).content.decode()
    for letter in "ABC":
        assert f"Response {letter}</h2>" in html
    assert "Response D</h2>" not in html
    shown = set(re.findall(r"Reply of arm (\d+) to case", html))
    assert shown == {str(Response.objects.get(pk=r).arm_id) for r in assignment.slots}
    for slot in range(3):
        assert set(re.findall(rf'name="rank_{slot}" value="(\d+)"', html)) == {"1", "2", "3"}
    # A fourth rank is refused; ranks 1 to 3 are stored against the responses shown.
    data = complete_rating(3, five_arm_study.rubric)
    refused = clinician_client.post(f"{url}submit/", {**data, "rank_2": "4"})
    assert "give a rank from 1 (best) to 3" in refused.content.decode() and not Submission.objects.exists()
    clinician_client.post(f"{url}submit/", {**data, "rank_0": "3", "rank_1": "1", "rank_2": "2"})
    submission = Submission.objects.get()
    assert sorted(Preference.objects.values_list("slot", "response_id", "rank")) == [
        (0, assignment.slots[0], 3), (1, assignment.slots[1], 1), (2, assignment.slots[2], 2)]
    assert set(Rating.objects.filter(submission=submission).values_list("response_id", flat=True)) == set(
        assignment.slots)


def test_a_response_without_a_score_is_missing_in_the_statistics_not_a_zero(five_arm_study):
    raters = [UserFactory(role=CLINICIAN) for _ in range(2)]
    assignments_plan(study=five_arm_study, raters=raters)
    for assignment in Assignment.objects.filter(study=five_arm_study).select_related("study", "rater"):
        assignment_submit(assignment=assignment, rater=assignment.rater,
                          data=complete_rating(len(assignment.slots), five_arm_study.rubric, likert="4"))
    # One response's realism left without a score, as "cannot judge" stores it.
    unscored = Rating.objects.filter(dimension="realism").order_by("pk").first()
    Rating.objects.filter(pk=unscored.pk).update(score=None, choice="cannot_judge")
    ratings, _, _ = rating_frames(five_arm_study)
    realism = ratings[ratings["dimension"] == "realism"]
    assert len(realism) == Rating.objects.filter(dimension="realism").count() - 1 and set(realism["value"]) == {4.0}
    result = summarize_study(ratings, None, None, analysis_dimensions(five_arm_study.rubric), n_boot=50,
                             arms=ARM_NAMES)
    overall = [r for r in result["descriptives"]["records"] if r["scope"] == "overall" and r["dimension"] == "realism"]
    unscored_arm = Response.objects.get(pk=unscored.response_id).arm.name
    n_rated = {r["arm"]: r["n"] for r in overall}
    assert all(r["mean"] == 4.0 for r in overall)  # a zero would pull the arm's mean below 4
    assert n_rated[unscored_arm] == int((realism["arm"] == unscored_arm).sum())
    paired = next(t for t in result["paired_tests"] if t["scope"] == "overall" and t["dimension"] == "realism")
    assert paired["friedman"]["test"] in ("durbin", "skillings_mack")
    assert all(np.isclose(p["mean_difference"], 0.0) for p in paired["pairwise"] if p["n"])


def test_cannot_judge_on_a_choice_is_missing_in_the_statistics_not_a_category(five_arm_study):
    raters = [UserFactory(role=CLINICIAN) for _ in range(2)]
    assignments_plan(study=five_arm_study, raters=raters)
    for assignment in Assignment.objects.filter(study=five_arm_study).select_related("study", "rater"):
        assignment_submit(assignment=assignment, rater=assignment.rater,
                          data=complete_rating(len(assignment.slots), five_arm_study.rubric))
    answered = Rating.objects.filter(dimension="intervention").count()
    Rating.objects.filter(pk=Rating.objects.filter(dimension="intervention").order_by("pk").first().pk).update(
        choice="cannot_judge")
    _, judgments, _ = rating_frames(five_arm_study)
    intervention = judgments[judgments["dimension"] == "intervention"]
    assert len(intervention) == answered - 1 and "cannot_judge" not in set(intervention["value"])
    result = summarize_study(None, judgments, None, analysis_dimensions(five_arm_study.rubric), n_boot=50,
                             arms=ARM_NAMES)
    shares = [r for r in result["judgments"] if r["dimension"] == "intervention" and r["scope"] == "overall"]
    assert shares and all(r["choices"] == ["under", "appropriate", "over"] for r in shares)
    assert sum(r["n"] for r in shares) == answered - 1
