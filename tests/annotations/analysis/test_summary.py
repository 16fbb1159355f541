import json
from contextlib import contextmanager

import numpy as np
import pytest

from annotations.analysis import summarize_study, to_jsonable
from annotations.analysis.descriptives import describe_ratings
from bench.synthetic_study import synthetic_study

ARMS = ["Baseline", "GeneralSFT", "BehaviorSFT"]


@pytest.fixture(scope="module")
def study():
    return synthetic_study(n_cases=60, n_raters=9, raters_per_case=3, seed=21)


@pytest.fixture(scope="module")
def summary(study):
    return summarize_study(study["ratings"], study["judgments"], study["preferences"], study["dimensions"],
                           n_boot=100, seed=3, arms=ARMS)


def test_result_is_plain_json_with_every_section(summary):
    text = json.dumps(summary, allow_nan=False)
    assert json.loads(text) == summary
    assert set(summary) == {"meta", "descriptives", "paired_tests", "judgments", "preferences", "agreement",
                            "position_bias"}
    assert summary["meta"]["arms"] == ARMS and summary["meta"]["n_cases"] == 60
    assert summary["meta"]["n_ratings"] == 60 * 3 * 3 * 4 and summary["meta"]["n_boot"] == 100
    assert set(summary["preferences"]) == {"pairs", "win_matrix", "bradley_terry", "style_controlled", "ci_method"}
    assert {a["dimension"] for a in summary["agreement"]["alpha"]} == {
        "realism", "proactivity", "helpfulness", "safety", "intervention"}
    scopes = {r["scope"] for r in summary["descriptives"]["records"]}
    assert scopes == {"overall", "category", "task"}


def test_reproducible_from_the_seed_and_parts_share_the_bootstrap(study, summary):
    again = summarize_study(study["ratings"], study["judgments"], study["preferences"], study["dimensions"],
                            n_boot=100, seed=3, arms=ARMS)
    assert again == summary
    # The same as calling the part alone with the same resamples.
    alone = to_jsonable(describe_ratings(study["ratings"], study["dimensions"], arms=ARMS, n_boot=100, seed=3))
    assert summary["descriptives"] == alone
    other = summarize_study(study["ratings"], study["judgments"], study["preferences"], study["dimensions"],
                            n_boot=100, seed=4, arms=ARMS)
    rec, rec_other = summary["descriptives"]["records"][0], other["descriptives"]["records"][0]
    assert rec["mean"] == rec_other["mean"] and rec["mean_ci"] != rec_other["mean_ci"]


def test_recovers_the_generating_ordering_of_arms(summary):
    overall = {(r["dimension"], r["arm"]): r for r in summary["descriptives"]["records"] if r["scope"] == "overall"}
    assert overall[("proactivity", "BehaviorSFT")]["mean"] > overall[("proactivity", "Baseline")]["mean"]
    bt = summary["preferences"]["bradley_terry"]
    assert np.argmax(bt["log_strength"]) == ARMS.index("BehaviorSFT")
    assert bt["log_strength_ci"][2][0] > bt["log_strength_ci"][0][1]


def test_missing_parts_two_arms_and_no_bootstrap(study):
    ratings = study["ratings"][study["ratings"]["arm"] != "GeneralSFT"]
    result = summarize_study(ratings, None, None, study["dimensions"], n_boot=0)
    json.dumps(result, allow_nan=False)
    assert result["meta"]["arms"] == ["Baseline", "BehaviorSFT"]  # sorted
    assert result["judgments"] == [] and result["position_bias"]["first_choice"] == []
    assert result["preferences"]["bradley_terry"]["n_comparisons"] == 0
    assert result["paired_tests"][0]["friedman"]["statistic"] is None
    assert result["descriptives"]["records"][0]["mean_ci"] == [None, None]
    assert result["agreement"]["alpha"][0]["ci"] == [None, None]


def test_nan_becomes_none_for_a_single_rating():
    s = synthetic_study(n_cases=3, n_raters=3, raters_per_case=1, seed=0)
    result = summarize_study(s["ratings"], s["judgments"], s["preferences"], s["dimensions"], n_boot=20)
    text = json.dumps(result, allow_nan=False)
    assert "NaN" not in text
    singles = [r for r in result["descriptives"]["records"] if r["n"] == 1]
    assert singles and all(r["sd"] is None for r in singles)
    assert all(a["alpha"] is None for a in result["agreement"]["alpha"])  # one rater per response


def test_rejects_frames_without_required_columns(study):
    with pytest.raises(ValueError, match="value"):
        summarize_study(study["ratings"].drop(columns=["value"]), None, None, study["dimensions"], n_boot=0)


def test_the_result_holds_statistics_only_and_the_parts_are_timed_outside_it(study, summary):
    """Run times and memory peaks are the benchmark's (through ``part_timer``), never
    stored with the study's analysis."""
    assert set(summary["meta"]) == {"schema_version", "arms", "dimensions", "n_ratings", "n_judgments",
                                    "n_preference_rows", "n_cases", "n_raters", "n_assignments", "n_boot", "seed",
                                    "ci_level", "bootstrap", "warnings"}
    entered = []

    @contextmanager
    def part_timer(name):
        entered.append(name)
        yield

    timed = summarize_study(study["ratings"], study["judgments"], study["preferences"], study["dimensions"],
                            n_boot=100, seed=3, arms=ARMS, part_timer=part_timer)
    assert timed == summary
    assert {"bootstrap_weights", "descriptives", "paired_tests", "judgments", "preferences", "style_control",
            "agreement", "position_bias", "to_json"} == set(entered)
