"""BehaviorBench metrics: Macro F1 (checked against scikit-learn), per-task, per-category
and overall scores, behavior accuracy, and label extraction from free text."""

from __future__ import annotations

import random

import pytest
from sklearn.metrics import f1_score

from modeling.metrics import format_report, macro_f1, read_label, score_responses
from modeling.task_types import DEFAULT_TASKS, build_registry, extract_label, parse_options


@pytest.mark.parametrize("seed", range(25))
def test_macro_f1_equals_sklearn(seed):
    rng = random.Random(seed)
    labels = ["A", "B", "C", "D"][: rng.randint(2, 4)]
    n = rng.randint(1, 40)
    gold = [rng.choice(labels) for _ in range(n)]
    pred = [rng.choice(labels + [None]) for _ in range(n)]  # None: a response nobody can read
    sk_pred = ["__unreadable__" if p is None else p for p in pred]
    expected = f1_score(gold, sk_pred, labels=labels, average="macro", zero_division=0)
    assert macro_f1(gold, pred, labels) == pytest.approx(expected)
    # Default label set: the labels that occur, as sklearn with labels=None (None excluded).
    seen = sorted({x for x in gold + pred if x is not None})
    assert macro_f1(gold, pred) == pytest.approx(
        f1_score(gold, sk_pred, labels=seen, average="macro", zero_division=0))


def test_macro_f1_known_values():
    assert macro_f1(["flag", "flag", "no_flag"], ["flag", "flag", "no_flag"]) == 1.0
    # flag: P=1/2 R=1/1 F1=2/3; no_flag: P=1/1, R=1/2, F1=2/3
    assert macro_f1(["flag", "no_flag", "no_flag"], ["flag", "flag", "no_flag"]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        macro_f1(["A"], [])


def _record(task, gold, text, gold_behavior=None, predicted=None, **extra):
    return {"task": task, "gold_label": gold, "text": text, "gold_behavior": gold_behavior,
            "predicted_behavior": predicted, **extra}


def test_score_responses_per_task_category_overall_and_behavior():
    records = [
        # omission_detection: gold flag,flag,no_flag; read flag,no_flag,no_flag -> F1 flag 2/3, no_flag 2/3
        _record("omission_detection", "flag", "Platelets have halved: stop heparin.", "proactive", "proactive"),
        _record("omission_detection", "flag", "Nothing needs raising.", "proactive", "reactive"),
        _record("omission_detection", "no_flag", "", "proactive", "proactive"),
        # error_correction: all right -> 1.0
        _record("error_correction", "flag", "The dose is ten times too high.", "proactive", "proactive"),
        # ddx_reasoning: B right, C read as C (gold D), unreadable (gold A)
        _record("ddx_reasoning", "B", "B, adrenal insufficiency.", "reactive", "reactive"),
        _record("ddx_reasoning", "D", "The answer is C.", "reactive", None),
        _record("ddx_reasoning", "A", "Hard to say without more tests.", "reactive", "balanced"),
        # treatment_planning: letter found through the option's text
        _record("treatment_planning", "B", "Start variable-rate IV insulin now.", "balanced", "balanced",
                question="Which regimen: A basal-bolus insulin, B variable-rate IV insulin, C metformin?"),
    ]
    scores = score_responses(records)
    tasks = scores["tasks"]
    assert tasks["omission_detection"]["macro_f1"] == pytest.approx(2 / 3)
    # The fixed label space: no_flag has no gold and no prediction, so it scores 0 and is named.
    assert tasks["error_correction"]["macro_f1"] == 0.5
    assert tasks["error_correction"]["labels_without_support"] == ["no_flag"]
    # ddx labels A, B, C, D -> A 0, B 1, C 0 (FP), D 0 -> 0.25
    assert tasks["ddx_reasoning"]["labels"] == ["A", "B", "C", "D"]
    assert tasks["ddx_reasoning"]["macro_f1"] == pytest.approx(0.25)
    assert tasks["ddx_reasoning"]["unreadable"] == 1
    assert tasks["treatment_planning"]["macro_f1"] == 0.25  # B right, A, C, D without support
    assert scores["categories"]["proactive"]["macro_f1"] == pytest.approx((2 / 3 + 0.5) / 2)
    assert scores["categories"]["reactive"]["macro_f1"] == pytest.approx(0.25)
    assert scores["categories"]["balanced"]["macro_f1"] == 0.25
    assert scores["overall"]["macro_f1"] == pytest.approx((2 / 3 + 0.5 + 0.25 + 0.25) / 4)
    assert scores["overall"]["mean_of_categories"] == pytest.approx(((2 / 3 + 0.5) / 2 + 0.25 + 0.25) / 3)
    behavior = scores["behavior"]
    assert behavior["n"] == 8 and behavior["n_predicted"] == 7
    assert behavior["accuracy"] == pytest.approx(5 / 8)
    assert behavior["confusion"]["reactive"] == {"reactive": 1, "none": 1, "balanced": 1}
    # Each per-task score agrees with sklearn on the extracted labels.
    for name, task in tasks.items():
        gold = [p["gold_label"] for p in scores["predictions"] if p["task"] == name]
        pred = [p["predicted_label"] or "__unreadable__" for p in scores["predictions"] if p["task"] == name]
        assert task["macro_f1"] == pytest.approx(f1_score(gold, pred, labels=task["labels"], average="macro",
                                                          zero_division=0))
    report = format_report(scores)
    assert "ddx_reasoning" in report and "behavior selection accuracy: 0.625" in report


def test_behavior_accuracy_is_none_for_arms_without_tokens():
    records = [_record("error_correction", "flag", "Stop it.", "proactive", None)]
    assert score_responses(records)["behavior"]["accuracy"] is None
    assert "n/a" in format_report(score_responses(records))


def test_unknown_task_is_an_error_and_study_tasks_extend_the_registry():
    record = _record("triage", "urgent", "This is urgent.")
    with pytest.raises(ValueError, match="unknown task"):
        score_responses([record])
    registry = build_registry([{"name": "triage", "category": "balanced", "label_space": ["urgent", "routine"],
                                "extractor": "regex", "label_pattern": r"\b(urgent|routine)\b"}])
    assert score_responses([record], registry)["tasks"]["triage"]["macro_f1"] == 0.5  # routine: no support


QUESTION = "Which of these fits best: A hypothyroidism, B primary adrenal insufficiency, C SIADH, D anorexia nervosa?"


@pytest.mark.parametrize(("response", "expected"), [
    ("B, primary adrenal insufficiency", "B"),
    ("(C) SIADH.", "C"),
    ("**D** anorexia nervosa", "D"),
    ("The answer is C.", "C"),
    ("Answer: (D)", "D"),
    ("the answer is a bit unclear, but B fits", "B"),  # "a" is not an option
    ("A low sodium with a high potassium points to B.", "B"),  # the article "A" is not an answer
    ("A 28-year-old with this picture has B", "B"),
    ("Primary adrenal insufficiency fits best.", "B"),  # the option's text, without its letter
    ("Not hypothyroidism; this is primary adrenal insufficiency", None),  # two options named: unreadable
    ("A hypothyroidism", "A"),
    ("I cannot tell.", None),
])
def test_option_extraction(response, expected):
    options = parse_options(QUESTION)
    assert extract_label(DEFAULT_TASKS["ddx_reasoning"], response, options=options) == expected


def test_parse_options_formats():
    assert parse_options(QUESTION) == {"A": "hypothyroidism", "B": "primary adrenal insufficiency", "C": "SIADH",
                                       "D": "anorexia nervosa"}
    assert parse_options("A 45-year-old man. Most likely? (A) aortic dissection (B) pericarditis or (C) PE") == {
        "A": "aortic dissection", "B": "pericarditis", "C": "PE"}
    assert parse_options("Next?\nA) start rifampicin\nB) stop isoniazid") == {"A": "start rifampicin",
                                                                             "B": "stop isoniazid"}
    assert parse_options("What do we do now?") == {}


@pytest.mark.parametrize(("response", "expected"), [
    ("", "no_flag"),
    ("(no intervention needed: the findings are consistent and the plan is sound)", "no_flag"),
    ("Nothing needs raising.", "no_flag"),
    ("I have nothing to add.", "no_flag"),
    ("No further comment.", "no_flag"),
    ("No, nothing to add.", "no_flag"),
    ("I agree with the plan.", "no_flag"),
    ("The plan looks sound.", "no_flag"),
    # Ordinary restraint is not a flag.
    ("Looks fine to me.", "no_flag"),
    ("All good here.", "no_flag"),
    ("Agreed.", "no_flag"),
    ("Nothing stands out.", "no_flag"),
    ("Happy with the plan.", "no_flag"),
    ("Looks fine, but check the potassium before the dose.", "flag"),
    ("I want to flag a concern.", "flag"),
    ("No concerns about the dose, but her platelets have halved since day 0.", "flag"),
    ("Before she goes home: she is RhD negative and needs anti-D.", "flag"),
    ("None of the team mentioned anti-D; she needs it within 72 hours.", "flag"),
])
def test_flag_extraction(response, expected):
    assert read_label({"text": response}, DEFAULT_TASKS["omission_detection"]) == expected


def test_demo_reference_responses_read_as_their_gold_labels(demo_cases):
    """The reference answers of the demo set must score perfectly: otherwise the
    extractor, not the model, would be what the metric measures."""
    records = [{**case, "text": case["reference_response"], "predicted_behavior": case["gold_behavior"]}
               for case in demo_cases]
    scores = score_responses(records)
    wrong = [p for p in scores["predictions"] if p["predicted_label"] != p["gold_label"]]
    assert wrong == []
    assert scores["overall"]["macro_f1"] == 1.0
    assert scores["behavior"]["accuracy"] == 1.0
