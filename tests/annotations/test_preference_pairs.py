"""Preference pairs from the clinicians' rankings: every pair one submission ranked, and
the DPO pairs a researcher's rules keep (raters, agreement, ties, harm flags, gold and
practice cases, current revisions), in TRL's conversational preference format."""

from __future__ import annotations

import pytest

from annotations.analysis.dpo_pairs import DpoRules, harm_excluded_responses
from annotations.models import Assignment, Case, HarmDecision, Rating, Response
from annotations.selectors.preference_pairs import PAIR_KEYS, dpo_pairs, pairwise_preferences
from annotations.services.harms import harm_decide
from annotations.services.planner import assignments_plan
from annotations.services.rating import assignment_submit, submission_revise
from evalportal.roles import CLINICIAN, RESEARCHER
from modeling.data import build_messages
from tests.conftest import complete_rating
from tests.factories import CaseFactory, ResponseFactory, StudyArmFactory, StudyFactory, UserFactory

pytestmark = pytest.mark.django_db

ARMS = ("Baseline", "GeneralSFT", "BehaviorSFT")
# How every rater orders the arms unless a case says otherwise (lower is better).
USUAL = {"BehaviorSFT": 1, "GeneralSFT": 2, "Baseline": 3}
REVERSED = {"BehaviorSFT": 3, "GeneralSFT": 2, "Baseline": 1}
ALL_TIED = {"BehaviorSFT": 1, "GeneralSFT": 1, "Baseline": 1}
SFT_TIED = {"BehaviorSFT": 1, "GeneralSFT": 1, "Baseline": 3}


def ranked_study(slug: str, n_cases: int, *, raters: int = 3, arms_per_screen=None):
    """A study of the three arms with ``n_cases`` cases (c0, c1...), one response per arm
    each, planned for ``raters`` clinicians (r0, r1...), each case to every one of them."""
    study = StudyFactory(slug=slug, raters_per_item=raters, arms_per_screen=arms_per_screen)
    arms = [StudyArmFactory(study=study, arm__name=name, position=i).arm for i, name in enumerate(ARMS)]
    for n in range(n_cases):
        case = CaseFactory(study=study, external_id=f"c{n}")
        for arm in arms:
            ResponseFactory(case=case, arm=arm, text=f"{arm.name} on case {n}: check the platelets.")
    users = [UserFactory(username=f"{slug}-r{i}", role=CLINICIAN) for i in range(raters)]
    assignments_plan(study=study, raters=users)
    return study


def rating_data(assignment: Assignment, order: dict[str, int], flagged=()) -> dict:
    """The rating form answered with ranks that follow ``order`` among the arms shown
    (dense: equal values tie), flagging the arms in ``flagged`` as potentially harmful."""
    arm_of = dict(Response.objects.filter(id__in=assignment.slots).values_list("id", "arm__name"))
    shown = sorted({order[arm_of[rid]] for rid in assignment.slots})
    data = complete_rating(len(assignment.slots), assignment.study.rubric)
    for slot, response_id in enumerate(assignment.slots):
        data[f"rank_{slot}"] = str(shown.index(order[arm_of[response_id]]) + 1)
        if arm_of[response_id] in flagged:
            data[f"r{slot}_harmful"] = "on"
            data[f"r{slot}_harmful_reason"] = "Continues heparin despite falling platelets"
    return data


def submit_all(study, orders: dict[tuple[str, str], dict], *, flags=None, skip=()):
    """Each assignment submitted with the order ``orders`` gives its (rater suffix, case),
    else USUAL; ``flags``: (rater suffix, case) -> arms flagged; ``skip``: left unsubmitted."""
    flags = flags or {}
    for assignment in Assignment.objects.filter(study=study).select_related("study", "rater", "case"):
        key = (assignment.rater.username.rpartition("-")[2], assignment.case.external_id)
        if key in skip:
            continue
        data = rating_data(assignment, orders.get(key, USUAL), flags.get(key, ()))
        assignment_submit(assignment=assignment, rater=assignment.rater, data=data)


@pytest.fixture
def rules_study(db):
    """c0: all agree; c1: r2 reverses; c2: all tie; c3: r0 ties the two SFT arms; c4: r0
    flags Baseline; c5 and c6 become gold and practice; c7: only r0 submitted."""
    study = ranked_study("rules", 8)
    submit_all(study, {("r2", "c1"): REVERSED, ("r0", "c2"): ALL_TIED, ("r1", "c2"): ALL_TIED,
                       ("r2", "c2"): ALL_TIED, ("r0", "c3"): SFT_TIED},
               flags={("r0", "c4"): {"Baseline"}}, skip={("r1", "c7"), ("r2", "c7")})
    Case.objects.filter(study=study, external_id="c5").update(role=Case.Role.GOLD)
    Case.objects.filter(study=study, external_id="c6").update(role=Case.Role.PRACTICE)
    return study


def pair_keys(pairs) -> set[tuple[str, str, str]]:
    return {(p["case_id"], p["chosen_arm"], p["rejected_arm"]) for p in pairs}


def all_usual(case_id: str) -> set[tuple[str, str, str]]:
    return {(case_id, "BehaviorSFT", "GeneralSFT"), (case_id, "BehaviorSFT", "Baseline"),
            (case_id, "GeneralSFT", "Baseline")}


# --- every pair a submission ranked ---------------------------------------------------------

def test_each_submission_of_three_gives_its_three_pairs_in_the_arm_order(rules_study):
    rows = list(pairwise_preferences(rules_study))
    submissions = {r["submission"] for r in rows}
    assert len(rows) == 3 * len(submissions) == 3 * (8 * 3 - 2)
    assert all(tuple(r) == PAIR_KEYS for r in rows)
    assert {(r["arm_a"], r["arm_b"]) for r in rows} == {("Baseline", "GeneralSFT"), ("Baseline", "BehaviorSFT"),
                                                         ("GeneralSFT", "BehaviorSFT")}
    reversed_row = next(r for r in rows if (r["case_id"], r["rater"], r["arm_a"], r["arm_b"])
                        == ("c1", "rules-r2", "Baseline", "BehaviorSFT"))
    assert (reversed_row["rank_a"], reversed_row["rank_b"], reversed_row["winner"]) == (1, 3, "a")
    usual_row = next(r for r in rows if (r["case_id"], r["rater"], r["arm_a"], r["arm_b"])
                     == ("c1", "rules-r0", "Baseline", "BehaviorSFT"))
    assert (usual_row["rank_a"], usual_row["rank_b"], usual_row["winner"]) == (3, 1, "b")
    tied = [r for r in rows if r["case_id"] == "c2"]
    assert len(tied) == 9 and {r["winner"] for r in tied} == {"tie"}
    response = Response.objects.get(case__study=rules_study, case__external_id="c0", arm__name="GeneralSFT")
    assert any(r["response_a"] == response.pk for r in rows if r["case_id"] == "c0")
    assert {r["case_role"] for r in rows} == {"study", "gold", "practice"}
    assert isinstance(rows[0]["case_id"], str) and isinstance(rows[0]["submission"], int)
    # by case: every row of a case together
    order = [r["case_id"] for r in rows]
    assert order == sorted(order, key=lambda c: int(c[1:]))


def test_a_pairwise_screen_gives_one_pair_per_submission(db):
    study = ranked_study("pairwise", 6, arms_per_screen=2)
    submit_all(study, {})
    rows = list(pairwise_preferences(study))
    assert len(rows) == Assignment.objects.filter(study=study).count() == 18
    position = {name: i for i, name in enumerate(ARMS)}
    assert all(position[r["arm_a"]] < position[r["arm_b"]] for r in rows)
    assert all(r["winner"] == ("a" if USUAL[r["arm_a"]] < USUAL[r["arm_b"]] else "b") for r in rows)

    pairs = list(dpo_pairs(study, rules=DpoRules()))
    compared = {(r["case_id"], r["arm_a"], r["arm_b"]) for r in rows}
    assert len(pairs) == len(compared)
    assert all(USUAL[p["chosen_arm"]] < USUAL[p["rejected_arm"]] and p["agreement"] == 1.0 for p in pairs)
    assert sum(p["raters"] for p in pairs) == len(rows)


def test_only_current_revisions_unless_asked(rules_study):
    assignment = Assignment.objects.get(study=rules_study, case__external_id="c0", rater__username="rules-r0")
    submission_revise(assignment=assignment, actor=assignment.rater, data=rating_data(assignment, REVERSED),
                      reason="Read the labs again")
    mine = [r for r in pairwise_preferences(rules_study) if (r["case_id"], r["rater"]) == ("c0", "rules-r0")]
    assert len(mine) == 3 and {r["winner"] for r in mine} == {"a"}  # the arm first in order now wins
    every = [r for r in pairwise_preferences(rules_study, current_only=False)
             if (r["case_id"], r["rater"]) == ("c0", "rules-r0")]
    assert len(every) == 6 and sorted(r["winner"] for r in every) == ["a"] * 3 + ["b"] * 3

    c0 = [p for p in dpo_pairs(rules_study, rules=DpoRules()) if p["case_id"] == "c0"]
    assert pair_keys(c0) == all_usual("c0")
    assert [p["agreement"] for p in c0] == pytest.approx([2 / 3] * 3)


# --- the rules --------------------------------------------------------------------------------

def test_the_default_rules(rules_study):
    pairs = list(dpo_pairs(rules_study, rules=DpoRules()))
    assert pair_keys(pairs) == (all_usual("c0") | all_usual("c1") | all_usual("c3") | all_usual("c7")
                                | {("c4", "BehaviorSFT", "GeneralSFT")})
    by_key = {(p["case_id"], p["chosen_arm"], p["rejected_arm"]): p for p in pairs}
    assert by_key["c0", "BehaviorSFT", "Baseline"]["agreement"] == 1.0
    assert by_key["c0", "BehaviorSFT", "Baseline"]["raters"] == 3
    assert sorted(by_key["c0", "BehaviorSFT", "Baseline"]["rater_ids"]) == ["rules-r0", "rules-r1", "rules-r2"]
    assert by_key["c1", "GeneralSFT", "Baseline"]["agreement"] == pytest.approx(2 / 3)
    # one rater tied the two SFT arms: a tie counts against agreement
    assert by_key["c3", "BehaviorSFT", "GeneralSFT"]["agreement"] == pytest.approx(2 / 3)
    assert by_key["c3", "BehaviorSFT", "Baseline"]["agreement"] == 1.0
    assert (by_key["c7", "BehaviorSFT", "Baseline"]["raters"], by_key["c7", "BehaviorSFT", "Baseline"]["rater_ids"]) \
        == (1, ["rules-r0"])


def test_min_raters(rules_study):
    assert {p["case_id"] for p in dpo_pairs(rules_study, rules=DpoRules(min_raters=2))} == {"c0", "c1", "c3", "c4"}
    assert {p["case_id"] for p in dpo_pairs(rules_study, rules=DpoRules(min_raters=3))} == {"c0", "c1", "c3", "c4"}
    assert list(dpo_pairs(rules_study, rules=DpoRules(min_raters=4))) == []


def test_min_agreement(rules_study):
    strict = pair_keys(dpo_pairs(rules_study, rules=DpoRules(min_agreement=0.75)))
    assert strict == (all_usual("c0") | all_usual("c7") | {("c3", "BehaviorSFT", "Baseline"),
                                                           ("c3", "GeneralSFT", "Baseline"),
                                                           ("c4", "BehaviorSFT", "GeneralSFT")})
    assert pair_keys(dpo_pairs(rules_study, rules=DpoRules(min_agreement=1.0))) == strict
    # two of three is 0.666...: a bound typed as 0.6667 leaves it out, 0.6666 keeps it
    assert ("c1", "GeneralSFT", "Baseline") not in pair_keys(dpo_pairs(rules_study,
                                                                       rules=DpoRules(min_agreement=0.6667)))
    assert ("c1", "GeneralSFT", "Baseline") in pair_keys(dpo_pairs(rules_study, rules=DpoRules(min_agreement=0.6666)))


def test_a_split_vote_or_a_preference_against_a_tie_is_no_majority(db):
    study = ranked_study("split", 2, raters=2)
    submit_all(study, {("r1", "c0"): REVERSED, ("r1", "c1"): ALL_TIED})
    assert list(dpo_pairs(study, rules=DpoRules())) == []
    assert len(list(pairwise_preferences(study))) == 12


def test_harm_flags_exclude_a_response_until_adjudicated_not_harmful(rules_study):
    researcher = UserFactory(username="adjudicator", role=RESEARCHER)
    flag = Rating.objects.get(submission__assignment__study=rules_study, dimension="harmful", choice="yes")
    baseline_c4 = {("c4", "BehaviorSFT", "Baseline"), ("c4", "GeneralSFT", "Baseline")}

    def c4_pairs(rules=DpoRules()):
        return pair_keys(p for p in dpo_pairs(rules_study, rules=rules) if p["case_id"] == "c4")

    assert c4_pairs() == {("c4", "BehaviorSFT", "GeneralSFT")}  # flagged, not adjudicated
    assert c4_pairs(DpoRules(exclude_harm_flagged=False)) == all_usual("c4")
    for decision, kept in ((HarmDecision.Decision.CONFIRMED, False), (HarmDecision.Decision.UNCLEAR, False),
                           (HarmDecision.Decision.NOT_HARMFUL, True)):
        harm_decide(study=rules_study, rating_id=flag.pk, decision=decision, note="", actor=researcher)
        assert (c4_pairs() >= baseline_c4) is kept, decision
    # the flag cleared: the response is in every other case's pairs as before
    assert pair_keys(dpo_pairs(rules_study, rules=DpoRules())) >= all_usual("c0") | all_usual("c4")


def test_harm_excluded_responses_rule():
    assert harm_excluded_responses([(1, None), (2, "confirmed"), (3, "unclear"), (4, "not_harmful"),
                                    (5, "not_harmful"), (5, None)]) == {1, 2, 3, 5}


def test_gold_and_practice_cases_give_no_pairs(rules_study):
    rows = list(pairwise_preferences(rules_study))
    assert {r["case_role"] for r in rows if r["case_id"] in ("c5", "c6")} == {"gold", "practice"}
    assert not {"c5", "c6"} & {p["case_id"] for p in dpo_pairs(rules_study, rules=DpoRules())}


def test_the_pairs_are_trls_conversational_preference_format(rules_study):
    response = Response.objects.get(case__study=rules_study, case__external_id="c0", arm__name="BehaviorSFT")
    Response.objects.filter(pk=response.pk).update(text="<|proactive|>Hold the heparin: platelets have halved.")
    silent = Response.objects.get(case__study=rules_study, case__external_id="c0", arm__name="Baseline")
    Response.objects.filter(pk=silent.pk).update(text="  ")
    pairs = [p for p in dpo_pairs(rules_study, rules=DpoRules()) if p["case_id"] == "c0"]
    case = Case.objects.get(study=rules_study, external_id="c0")
    for pair in pairs:
        assert list(pair) == ["prompt", "chosen", "rejected", "case_id", "chosen_arm", "rejected_arm",
                              "chosen_response", "rejected_response", "raters", "agreement", "rater_ids"]
        assert pair["prompt"] == build_messages(case.as_case_dict(), "baseline")
        assert [m["role"] for m in pair["prompt"]] == ["system", "user"]
        for side in ("chosen", "rejected"):
            assert [m["role"] for m in pair[side]] == ["assistant"]
    best = next(p for p in pairs if (p["chosen_arm"], p["rejected_arm"]) == ("BehaviorSFT", "Baseline"))
    assert best["chosen"][0]["content"] == "Hold the heparin: platelets have halved."
    assert best["rejected"][0]["content"] == ""  # silence, as the raters saw it
    assert (best["chosen_response"], best["rejected_response"]) == (response.pk, silent.pk)


def test_pairs_are_aggregated_in_batches_of_whole_cases(rules_study):
    whole = list(dpo_pairs(rules_study, rules=DpoRules()))
    assert list(dpo_pairs(rules_study, rules=DpoRules(), batch_rows=1)) == whole


@pytest.mark.parametrize("bad", [{"min_raters": 0}, {"min_raters": 51}, {"min_raters": 1.5}, {"min_raters": True},
                                 {"min_agreement": 0.49}, {"min_agreement": 1.01}, {"min_agreement": float("nan")},
                                 {"min_agreement": "0.7"}])
def test_rules_out_of_bounds_are_refused(bad):
    with pytest.raises(ValueError):
        DpoRules(**bad)
