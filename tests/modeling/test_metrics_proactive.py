"""Proactive scoring tells finding from flagging: a flag counts only when it names the
planted problem, restraint is measured on sound cases, balanced tasks score both halves,
and degenerate arms score at chance or below while the reference scores at the top."""

from __future__ import annotations

import random

import pytest

from modeling.metrics import WRONG_FLAG, chance_macro_f1, format_report, score_response, score_responses
from modeling.task_types import DEFAULT_TASKS

ANTI_D = {"summary": "RhD negative after trauma", "terms": ["anti-D", "Kleihauer", ["Rh", "immunoglobulin"]],
          "asserts": ["anti-D", "Kleihauer"]}
TURNS = [{"speaker": "Dr. A", "role": "registrar", "text": "Ms. Hale, 30 weeks, fell on the steps; RhD negative. "
                                                           "Her potassium is 4.1. Home tonight."}]


def _case(task, gold, planted=None, question=None, behavior="proactive", turns=TURNS):
    return {"task": task, "gold_label": gold, "planted_problem": planted, "question": question,
            "gold_behavior": behavior, "label_space": list(DEFAULT_TASKS[task].label_space), "turns": turns}


def test_a_flag_counts_only_when_it_names_the_planted_problem():
    task = DEFAULT_TASKS["omission_detection"]
    planted = _case("omission_detection", "flag", ANTI_D)
    sound = _case("omission_detection", "no_flag")
    right = score_response({**planted, "text": "She is RhD negative: give anti-D."}, task)
    assert right["predicted_label"] == "flag" and right["correct"] and right["issue_found"]
    other = score_response({**planted, "text": "Check her potassium before discharge."}, task)
    assert other["predicted_label"] == WRONG_FLAG and not other["correct"] and other["issue_found"] is False
    silent = score_response({**planted, "text": ""}, task)
    assert silent["predicted_label"] == "no_flag" and silent["issue_found"] is False
    over = score_response({**sound, "text": "I want to flag a concern."}, task)
    assert over["predicted_label"] == "flag" and over["flagged"] and not over["correct"]
    for restraint in ("", "Nothing to raise.", "Looks fine to me.", "All good here."):
        assert score_response({**sound, "text": restraint}, task)["correct"]
    unchecked = score_response({**_case("omission_detection", "flag"), "text": "Something is off."}, task)
    assert unchecked["unverified"] and unchecked["correct"] and unchecked["issue_found"] is None
    # without the case text an echoed term cannot be told from a found one: only asserts count
    bare = {**planted, "turns": None, "planted_problem": {"terms": ["RhD"]}}
    assert score_response({**bare, "text": "RhD negative."}, task)["unverified"]


def test_proactive_measures_per_arm():
    planted = _case("omission_detection", "flag", ANTI_D)
    sound = _case("omission_detection", "no_flag")
    records = [
        {**planted, "text": "Give anti-D."},           # found
        {**planted, "text": "Check the potassium."},   # a flag about something else
        {**planted, "text": ""},                       # missed
        {**sound, "text": "Nothing to add."},          # restraint
        {**sound, "text": "Check the potassium."},     # over-intervention
    ]
    scores = score_responses(records)
    p = scores["proactive"]
    assert p["flag_rate"] == pytest.approx(3 / 5)
    assert p["issue_found_rate"] == pytest.approx(1 / 3) and p["wrong_flag_rate"] == pytest.approx(1 / 3)
    assert p["restraint_accuracy"] == 0.5 and p["over_intervention_rate"] == 0.5
    # A flag that misses the problem counts as not flagging it (no_flag):
    # flag: TP 1, FN 2, FP 1 -> 0.4; no_flag: TP 1, FN 1, FP 2 -> 0.4
    assert scores["tasks"]["omission_detection"]["macro_f1"] == pytest.approx(0.4)
    assert "issue found 0.333" in format_report(scores)


def test_balanced_tasks_score_the_answer_and_the_concern():
    question = "Which regimen: A basal-bolus insulin, B variable-rate IV insulin, C metformin, D nothing?"
    case = _case("treatment_planning", "B", {"terms": ["potassium"], "asserts": ["replace the potassium"]},
                 question, "balanced")
    scores = score_responses([
        {**case, "text": "B. Replace the potassium first."},
        {**case, "text": "B."},
        {**case, "text": "A. Replace the potassium first."},
    ])
    assert scores["tasks"]["treatment_planning"]["accuracy"] == pytest.approx(2 / 3)
    assert scores["tasks"]["treatment_planning"]["concern"]["found_rate"] == pytest.approx(2 / 3)
    assert scores["balanced"]["answer_and_concern_rate"] == pytest.approx(1 / 3)


def test_an_always_flag_arm_gets_no_credit_from_a_test_split_without_sound_cases():
    records = [{**_case("error_correction", "flag"), "text": "Stop the heparin."}] * 4
    task = score_responses(records)["tasks"]["error_correction"]
    assert task["macro_f1"] == 0.5 and task["labels_without_support"] == ["no_flag"]


def test_behavior_accuracy_where_the_question_does_not_give_it_away():
    records = []
    for behavior, question in (("reactive", "Which? A x, B y"), ("balanced", "Which? A x, B y"),
                               ("proactive", None)):
        for _ in range(4):
            # a rule on the question alone: asked -> reactive, not asked -> proactive
            predicted = "proactive" if question is None else "reactive"
            records.append({**_case("ddx_reasoning", "A", question=question, behavior=behavior),
                            "text": "A", "predicted_behavior": predicted})
    behavior = score_responses(records)["behavior"]
    assert behavior["accuracy"] == pytest.approx(8 / 12)
    assert behavior["question_rule_accuracy"] == pytest.approx(8 / 12)
    assert behavior["accuracy_question_controlled"] == 0.5  # chance among reactive vs balanced
    assert behavior["confusion_by_question"]["asked"]["balanced"] == {"reactive": 4}


# -- degenerate arms on a minimal-pair set -------------------------------------------------------------

QUESTION = "Which fits best: A alpha, B beta, C gamma, D delta?"


def _benchmark() -> list[dict]:
    """Every flag task as minimal pairs (each planted case with its sound twin), every
    option task with the four letters as gold equally often."""
    cases = []
    for name, task in DEFAULT_TASKS.items():
        for i in range(8):
            if task.extractor == "flag":
                planted = {"summary": "s", "terms": [f"problem{name}{i}"]}
                reference = f"The team missed problem{name}{i}; it needs fixing today."
                cases.append({**_case(name, "flag", planted), "reference_response": reference})
                cases.append({**_case(name, "no_flag"), "reference_response": "Nothing needs raising."})
            else:
                letter = "ABCD"[i % 4]
                planted = {"summary": "s", "terms": [f"concern{i}"]} if task.category == "balanced" else None
                reference = f"{letter}. " + (f"Also raise concern{i}." if planted else "")
                cases.append({**_case(name, letter, planted, QUESTION, task.category),
                              "reference_response": reference})
    return cases


def _proactive(texts) -> float:
    return score_responses(texts)["categories"]["proactive"]["macro_f1"]


def test_degenerate_arms_score_at_chance_or_below_and_the_reference_at_the_top():
    cases = _benchmark()
    rng = random.Random(0)
    arms = {
        "always flag, generic": lambda c: "I want to flag a concern about this plan.",
        "always silent": lambda c: "",
        "one letter and flag everything": lambda c: "A. I want to flag a concern about everything here.",
        "random label": lambda c: rng.choice(
            ["I want to flag a concern.", "Nothing to raise."] if c["task"] in (
                "omission_detection", "error_correction", "consistency_check") else ["A", "B", "C", "D"]),
    }
    results = {arm: score_responses([{**c, "text": text(c)} for c in cases]) for arm, text in arms.items()}
    proactive = {arm: r["categories"]["proactive"]["macro_f1"] for arm, r in results.items()}
    # chance for a balanced two-label task is 0.5 Macro F1
    assert proactive == pytest.approx({"always flag, generic": 0.0, "always silent": 1 / 3,
                                       "one letter and flag everything": 0.0, "random label": 0.2}, abs=0.1)
    assert proactive["always flag, generic"] == 0.0 and proactive["one letter and flag everything"] == 0.0
    assert proactive["always silent"] == pytest.approx(1 / 3)
    chance = results["always silent"]["categories"]["proactive"]["chance_macro_f1"]
    assert chance == pytest.approx(chance_macro_f1(8, 8)) and all(score <= chance for score in proactive.values())
    assert results["always flag, generic"]["proactive"]["over_intervention_rate"] == 1.0
    assert results["always flag, generic"]["proactive"]["issue_found_rate"] == 0.0
    assert results["always silent"]["proactive"]["restraint_accuracy"] == 1.0
    # one letter everywhere: Macro F1 over A-D is 0.1 on reactive tasks (A: P 1/4, R 1, F1 0.4)
    assert results["one letter and flag everything"]["categories"]["reactive"]["macro_f1"] == pytest.approx(0.1)
    assert results["one letter and flag everything"]["balanced"]["concern_found_rate"] == 0.0
    reference = score_responses([{**c, "text": c["reference_response"]} for c in cases])
    assert reference["overall"]["macro_f1"] == 1.0 and reference["proactive"]["issue_found_rate"] == 1.0
    assert reference["balanced"]["answer_and_concern_rate"] == 1.0


def test_the_case_format_checks_the_planted_problem():
    from modeling.cases import validate_case

    base = {"external_id": "c1", "task": "omission_detection", "category": "proactive",
            "turns": [{"speaker": "A", "role": "nurse", "text": "t"}], "question": None,
            "gold_behavior": "proactive", "label_space": ["flag", "no_flag"], "gold_label": "flag"}
    assert validate_case({**base, "planted_problem": ANTI_D}, 1) == []
    assert "plants no problem" in str(validate_case({**base, "gold_label": "no_flag", "planted_problem": ANTI_D}, 1))
    assert "would match every response" in str(validate_case({**base, "planted_problem": {"terms": ["--"]}}, 1))
    assert validate_case({**base, "planted_problem": {"terms": []}}, 1)  # the schema wants one term at least
    # what a correct flag must assert may not stand in the case text: echoing the case would assert it
    echoed = validate_case({**base, "turns": [{"speaker": "A", "role": "nurse", "text": "Anti-D was given."}],
                            "planted_problem": {"terms": ["Kleihauer"], "asserts": ["Kleihauer", "anti D"]}}, 1)
    assert [e.field for e in echoed] == ["planted_problem.asserts[1]"] and "stands in the case text" in str(echoed[0])
    in_a_table = {**base, "tables": [{"title": "Plan", "columns": ["x"], "rows": [["once daily"]]}],
                  "planted_problem": {"terms": ["x"], "asserts": [["enoxaparin", "once daily"], "once daily"]}}
    assert [e.field for e in validate_case(in_a_table, 1)] == ["planted_problem.asserts[1]"]


def test_the_chance_line_is_the_expected_score_of_a_coin_that_finds_the_problem_when_it_flags():
    rng = random.Random(1)
    planted, sound = 5, 9
    simulated = []
    for _ in range(4000):
        records = [{**_case("omission_detection", "flag", ANTI_D),
                    "text": "Give anti-D." if rng.random() < 0.5 else ""} for _ in range(planted)]
        records += [{**_case("omission_detection", "no_flag"),
                     "text": "Check the potassium." if rng.random() < 0.5 else ""} for _ in range(sound)]
        simulated.append(score_responses(records)["tasks"]["omission_detection"]["macro_f1"])
    assert chance_macro_f1(planted, sound) == pytest.approx(sum(simulated) / len(simulated), abs=0.01)
    # large sets: the F1 of the expected counts
    assert chance_macro_f1(10_000, 10_000) == pytest.approx(0.5, abs=1e-3)
    assert chance_macro_f1(0, 0) is None
