"""Gold cases: marked by the team with expected answers, mixed blind into raters' queues
at the study's rate, kept out of the main analysis, scored per rater on the dashboard; and
the analysis rerun without chosen raters."""

import pytest

from annotations.models import Assignment, AuditEvent, Case, Response
from annotations.selectors.analysis import rating_frames
from annotations.services.aggregation import study_aggregate
from annotations.services.planner import assignments_plan
from annotations.services.rating import assignment_submit
from evalportal.roles import CLINICIAN
from tests.conftest import RATED_STUDY_TEXTS, complete_rating
from tests.factories import CaseFactory, ResponseFactory, UserFactory

pytestmark = pytest.mark.django_db


def _gold_case(study, n):
    case = CaseFactory(study=study, external_id=f"gold-{n}")
    for sa, text in zip(study.study_arms.order_by("position"), RATED_STUDY_TEXTS):
        ResponseFactory(case=case, arm=sa.arm, text=f"{text} (yardstick {n})")
    return case


def _mark_gold(client, study, case):
    best = Response.objects.get(case=case, arm__name="BehaviorSFT")
    worst = Response.objects.get(case=case, arm__name="Baseline")
    return client.post(f"/studies/{study.slug}/cases/{case.pk}/expected/", {
        "role": "gold", f"e{best.pk}_realism": "5", f"e{best.pk}_rank": "1", f"e{worst.pk}_rank": "3",
        f"e{worst.pk}_intervention": "under", "explanation": "Only one answer holds the heparin."})


def test_the_team_marks_a_gold_case_with_expected_answers(rated_study, researcher_client):
    case = _gold_case(rated_study, 0)
    page = researcher_client.get(f"/studies/{rated_study.slug}/cases/{case.pk}/expected/").content.decode()
    assert "BehaviorSFT" in page  # unblinded, for the team
    assert _mark_gold(researcher_client, rated_study, case).status_code == 302
    case.refresh_from_db()
    best = Response.objects.get(case=case, arm__name="BehaviorSFT")
    assert case.role == "gold" and not case.in_rating_sample
    assert case.expected["ratings"][str(best.pk)] == {"realism": 5}
    assert case.expected["ranks"][str(best.pk)] == 1
    assert AuditEvent.objects.filter(action="case.expected").count() == 1


@pytest.mark.parametrize("data", [{"role": "gold"}, {"role": "gold", "e1_realism": "9"}, {"role": "bogus"}])
def test_bad_expected_answers_change_nothing(rated_study, researcher_client, data):
    case = _gold_case(rated_study, 0)
    response = Response.objects.filter(case=case).first()
    data = {k.replace("e1_", f"e{response.pk}_"): v for k, v in data.items()}
    page = researcher_client.post(f"/studies/{rated_study.slug}/cases/{case.pk}/expected/", data)
    assert page.status_code == 400
    case.refresh_from_db()
    assert case.role == "study" and case.expected == {}


@pytest.fixture
def gold_study(rated_study, researcher_client):
    for n in range(3):
        _mark_gold(researcher_client, rated_study, _gold_case(rated_study, n))
    rated_study.gold_rate = 0.25
    rated_study.save()
    raters = [UserFactory(username=f"g{i}", role=CLINICIAN) for i in range(3)]
    assignments_plan(study=rated_study, raters=raters)
    return rated_study, raters


def test_gold_cases_are_mixed_into_each_queue_at_the_rate_and_blind(gold_study, client):
    study, raters = gold_study
    for rater in raters:
        queue = list(Assignment.objects.filter(rater=rater).select_related("case").order_by("queue_position"))
        roles = [a.case.role for a in queue]
        assert roles.count("study") == 4 and roles.count("gold") == 1  # 1 of 5 is about 0.25 / 0.75 of 4
        assert roles[0] == "study" and roles[-1] == "study"  # spread inside the queue, not at an end
        assert len({a.queue_position for a in queue}) == len(queue)
        gold = [a for a in queue if a.case.role == "gold"][0]
        assert sorted(gold.slots) == sorted(Response.objects.filter(case=gold.case).values_list("id", flat=True))
    # Nothing on a gold case's page tells the rater it is one.
    client.force_login(raters[0])
    gold = Assignment.objects.filter(rater=raters[0], case__role="gold").first()
    page = client.get(f"/rate/{gold.pk}/")
    assert page.status_code == 200 and "yardstick" in page.content.decode()
    assert "gold" not in page.content.decode().lower()


def test_gold_answers_are_scored_per_rater_and_kept_out_of_the_analysis(gold_study, researcher_client, client):
    study, raters = gold_study
    arm_of = dict(Response.objects.values_list("id", "arm__name"))
    for assignment in Assignment.objects.filter(study=study).select_related("study", "rater", "case"):
        data = complete_rating(3, study.rubric, likert="3")
        for slot, rid in enumerate(assignment.slots):
            data[f"rank_{slot}"] = {"BehaviorSFT": "1", "GeneralSFT": "2", "Baseline": "3"}[arm_of[rid]]
        assignment_submit(assignment=assignment, rater=assignment.rater, data=data)
    from annotations.selectors.studies import study_progress

    progress = study_progress(study)
    assert progress["submitted"] == progress["needed"] == 12 and progress["percent"] == 100.0
    likert, _, prefs = rating_frames(study)
    gold_ids = set(Case.objects.filter(role="gold").values_list("id", flat=True))
    assert not set(likert["case_id"]) & gold_ids and not set(prefs["case_id"]) & gold_ids

    body = researcher_client.get(f"/studies/{study.slug}/dashboard/")
    rows = {r["rater"]: r for r in body.context["gold"]}
    assert set(rows) == {"g0", "g1", "g2"}
    assert all(r["gold_cases"] == 1 and r["rank_agree"] == 1.0 and r["likert_exact"] == 0.0 for r in rows.values())



def test_sensitivity_reruns_without_the_chosen_raters(rated_submissions, researcher_client):
    study_aggregate(study=rated_submissions, n_boot=50)
    from django.contrib.auth import get_user_model

    rater = get_user_model().objects.get(username="rater0")
    page = researcher_client.get(f"/studies/{rated_submissions.slug}/dashboard/sensitivity/?exclude={rater.pk}")
    assert page.status_code == 200 and "without rater0" in page.content.decode()
    row = [r for r in page.context["rows"] if r["dimension"] == "realism" and r["arm"] == "BehaviorSFT"][0]
    assert row["main"]["n"] == 12 and row["rerun"]["n"] == 8  # 12 ratings, rater0 gave 4 of them
    # Unknown or malformed raters are ignored, never an error.
    assert researcher_client.get(f"/studies/{rated_submissions.slug}/dashboard/sensitivity/?exclude=x&exclude=999"
                                 ).status_code == 200


def test_cannot_judge_on_a_gold_case_is_no_answer_not_a_disagreement(gold_study):
    from annotations.models import Rating
    from annotations.selectors.gold import study_gold_agreement

    study, _ = gold_study
    for assignment in Assignment.objects.filter(study=study).select_related("study", "rater", "case"):
        assignment_submit(assignment=assignment, rater=assignment.rater, data=complete_rating(3, study.rubric))
    gold_interventions = Rating.objects.filter(dimension="intervention", submission__assignment__case__role="gold",
                                               response__arm__name="Baseline")
    before = {r["rater"]: r["categorical_n"] for r in study_gold_agreement(study)}
    skipped = gold_interventions.order_by("pk").first()
    Rating.objects.filter(pk=skipped.pk).update(choice="cannot_judge")
    after = {r["rater"]: r["categorical_n"] for r in study_gold_agreement(study)}
    rater = skipped.submission.assignment.rater.username
    assert after[rater] == before[rater] - 1 and before[rater] >= 1
