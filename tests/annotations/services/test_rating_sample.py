"""Two kinds of work per study: the automatic benchmark over every test case, and a
seeded rating sample, stratified by task, category and gold label, which is all the
planner gives the clinicians."""

from __future__ import annotations

from collections import Counter

import pytest

from annotations.models import Assignment, Case
from annotations.services import planner
from annotations.services.planner import assignments_plan
from annotations.services.studies import rating_sample_draw
from evalportal.roles import CLINICIAN
from tests.factories import CaseFactory, ResponseFactory, StudyArmFactory, StudyFactory, UserFactory

pytestmark = pytest.mark.django_db


def _study(n_per_stratum: int = 20, with_responses: bool = False):
    study = StudyFactory(slug="sampled")
    arms = [StudyArmFactory(study=study, position=i).arm for i in range(2)]
    strata = [("omission_detection", "proactive", "flag"), ("omission_detection", "proactive", "no_flag"),
              ("ddx_reasoning", "reactive", "A"), ("ddx_reasoning", "reactive", "C")]
    for s, (task, category, label) in enumerate(strata):
        for i in range(n_per_stratum * (s + 1)):  # strata of 20, 40, 60 and 80 cases
            case = CaseFactory(study=study, external_id=f"{task}-{label}-{i}", task=task, category=category,
                               gold_behavior=category, gold_label=label,
                               label_space=["flag", "no_flag"] if category == "proactive" else list("ABCD"))
            if with_responses:
                for arm in arms:
                    ResponseFactory(case=case, arm=arm)
    CaseFactory(study=study, external_id="train-0", split="train")
    return study


def _makeup(study) -> Counter:
    return Counter(study.cases.filter(in_rating_sample=True).values_list("task", "gold_label"))


def test_the_sample_keeps_each_strata_share_and_the_seed_makes_it_reproducible():
    study = _study()
    assert rating_sample_draw(study=study, size=50)["drawn"] == 50
    assert _makeup(study) == {("omission_detection", "flag"): 5, ("omission_detection", "no_flag"): 10,
                              ("ddx_reasoning", "A"): 15, ("ddx_reasoning", "C"): 20}
    first = set(study.cases.filter(in_rating_sample=True).values_list("pk", flat=True))
    rating_sample_draw(study=study, size=50)
    assert set(study.cases.filter(in_rating_sample=True).values_list("pk", flat=True)) == first
    assert not study.cases.filter(split="train", in_rating_sample=True).exists()
    rating_sample_draw(study=study, size=500)  # more than there are: every test case
    assert study.cases.filter(in_rating_sample=True).count() == 200


def test_the_planner_plans_only_the_sample_and_draws_one_when_none_was_drawn(monkeypatch):
    study = _study(n_per_stratum=5, with_responses=True)  # 50 test cases
    raters = [UserFactory(username=f"r{i}", role=CLINICIAN) for i in range(3)]
    monkeypatch.setattr(planner, "DEFAULT_RATING_SAMPLE", 10)
    result = assignments_plan(study=study, raters=raters)
    assert result.sample_drawn == 10 and result.message.startswith("Drew a rating sample of 10 test cases")
    planned = set(Assignment.objects.filter(study=study).values_list("case_id", flat=True))
    assert planned == set(study.cases.filter(in_rating_sample=True).values_list("pk", flat=True))
    assert Assignment.objects.filter(study=study).count() == 10 * study.raters_per_item

    rating_sample_draw(study=study, size=20)
    result = assignments_plan(study=study, raters=raters)  # unopened assignments follow the new sample
    assert result.sample_drawn is None and result.cases_planned == 20
    assert set(Assignment.objects.filter(study=study).values_list("case_id", flat=True)) == set(
        Case.objects.filter(study=study, in_rating_sample=True).values_list("pk", flat=True))


def test_the_study_page_shows_the_sample_and_a_researcher_draws_it(researcher_client, clinician_client):
    study = _study(n_per_stratum=2)
    response = researcher_client.post(f"/studies/{study.slug}/sample/", {"size": "8"}, follow=True)
    html = response.content.decode()
    assert "Drew a rating sample of 8 test cases" in html
    assert "scores every arm on all 20 test cases" in html
    assert "<strong>8</strong> cases" in html and "<td>ddx_reasoning</td><td>C</td><td>8</td><td>3</td>" in html
    assert researcher_client.post(f"/studies/{study.slug}/sample/", {"size": "0"}, follow=True).status_code == 200
    assert clinician_client.post(f"/studies/{study.slug}/sample/", {"size": "8"}).status_code == 403
    assert study.cases.filter(in_rating_sample=True).count() == 8
