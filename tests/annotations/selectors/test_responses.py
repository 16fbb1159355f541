"""The one definition of which response counts: the newest of each arm to each case."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from annotations.models import GenerationJob, Response
from annotations.selectors.responses import newest_responses
from tests.factories import CaseFactory, ModelArmFactory, ResponseFactory, StudyArmFactory, StudyFactory

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def _at(response: Response, when) -> Response:
    Response.objects.filter(pk=response.pk).update(created_at=when)
    return response


def test_newest_by_time_then_by_id_per_case_and_arm_of_the_study_only():
    study = StudyFactory()
    arm_a, arm_b = (StudyArmFactory(study=study, position=i).arm for i in range(2))
    outsider = ModelArmFactory()  # answered the case but is not compared in the study
    case, train = CaseFactory(study=study), CaseFactory(study=study, split="train")
    now = timezone.now()
    jobs = [GenerationJob.objects.create(study=study, arm=arm_a) for _ in range(3)]
    # An older response written later (a re-import) loses to the newer one.
    newer_a = _at(ResponseFactory(case=case, arm=arm_a, job=jobs[0]), now)
    _at(ResponseFactory(case=case, arm=arm_a, job=jobs[1]), now - timedelta(hours=1))
    # Two responses with the same time: the higher id wins.
    tie_1 = _at(ResponseFactory(case=case, arm=arm_b, job=jobs[0]), now)
    tie_2 = _at(ResponseFactory(case=case, arm=arm_b, job=jobs[2]), now)
    ResponseFactory(case=case, arm=outsider)
    train_response = ResponseFactory(case=train, arm=arm_a)

    assert sorted(newest_responses(study).values_list("id", flat=True)) == sorted([newer_a.pk, max(tie_1.pk,
                                                                                                    tie_2.pk)])
    assert list(newest_responses(study, arm_ids=[arm_b.pk]).values_list("id", flat=True)) == [max(tie_1.pk,
                                                                                                   tie_2.pk)]
    assert set(newest_responses(study, split=None).values_list("id", flat=True)) == {
        newer_a.pk, max(tie_1.pk, tie_2.pk), train_response.pk}


def test_every_reader_counts_the_same_responses(rated_study):
    """The planner, the judge, the automatic metrics and the responses page once each had
    their own copy of this query; a second, newer response of one arm must win in all."""
    from annotations.selectors.analysis import automatic_rows
    from annotations.selectors.jobs import study_responses_page
    from annotations.services.judging import judge_responses_for
    from annotations.services.planner import latest_responses_by_case
    from annotations.services.studies import rating_sample_draw

    rating_sample_draw(study=rated_study, size=6)
    case = rated_study.cases.get(external_id="rc-0")
    arm = rated_study.study_arms.order_by("position").first().arm
    newer = ResponseFactory(case=case, arm=arm, job=GenerationJob.objects.create(study=rated_study, arm=arm),
                            text="A newer answer.")
    assert latest_responses_by_case(rated_study)[case.pk][0] == newer.pk
    assert newer.pk in judge_responses_for(rated_study)
    assert len(judge_responses_for(rated_study)) == 6 * 3
    names, rows = automatic_rows(rated_study)
    texts = [r["text"] for r in rows if r["case__external_id"] == "rc-0" and names[r["arm_id"]] == arm.name]
    assert texts == ["A newer answer."]
    _, page = study_responses_page(rated_study, {}, 1)
    cell = next(row for row in page.rows if row["case"].pk == case.pk)["cells"][0]
    assert cell == (arm, newer)
