"""The whole study analysis in one JSON-serialisable dict (what the dashboard stores and
reads)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext

import numpy as np
import pandas as pd

from annotations.analysis._common import arm_order, is_empty, to_jsonable
from annotations.analysis.agreement import alpha_by_dimension, rater_severity
from annotations.analysis.bootstrap import CaseBootstrap
from annotations.analysis.descriptives import describe_ratings
from annotations.analysis.judgments import categorical_shares
from annotations.analysis.paired import paired_tests
from annotations.analysis.position import first_choice_by_slot, likert_by_slot
from annotations.analysis.preferences import bradley_terry, pairwise_outcomes, ranking_comparisons
from annotations.analysis.style_control import style_controlled_bradley_terry

SCHEMA_VERSION = 1


def _case_ids(*frames: pd.DataFrame | None) -> np.ndarray:
    parts = [f["case_id"].to_numpy() for f in frames if not is_empty(f) and "case_id" in f.columns]
    if not parts:
        return np.array([])
    return pd.unique(np.concatenate(parts)) if len(parts) > 1 else pd.unique(parts[0])


def _untimed(part: str) -> AbstractContextManager:
    return nullcontext()


def summarize_study(ratings: pd.DataFrame | None, judgments: pd.DataFrame | None,
                    preferences: pd.DataFrame | None, dimensions: Sequence[Mapping], n_boot: int = 1000,
                    seed: int = 0, *, arms: Sequence | None = None, level: float = 0.95,
                    part_timer: Callable[[str], AbstractContextManager] = _untimed) -> dict:
    """Every statistic of the study dashboard, as one JSON-serialisable dict.

    ``ratings``: long frame of Likert scores (assignment_id, case_id, rater_id, arm,
    slot, dimension, value, category, task); ``judgments``: the same keys with the
    categorical values (e.g. dimension "intervention", value under/appropriate/over);
    ``preferences``: assignment_id, case_id, rater_id, arm, slot, rank (1 = best, ties
    equal), with the responses' style (:data:`.style_control.STYLE_COLUMNS`) where the
    style-controlled fit is wanted; ``dimensions``: the rubric (dicts with key, scale, min/max or choices).
    ``arms`` fixes the arm order (default: sorted). One cluster bootstrap over cases
    (``n_boot`` resamples from ``seed``) is shared by every interval. ``part_timer(name)``
    is entered around each part (bench/analysis.py times and traces them with it); the
    result holds the statistics only.

    Keys: meta, descriptives {records, differences}, paired_tests, judgments,
    preferences {pairs, win_matrix, bradley_terry, style_controlled}, agreement {alpha, rater_severity},
    position_bias {first_choice, likert_by_slot}. NaN and infinities are None."""
    with part_timer("bootstrap_weights"):
        arms = arm_order(ratings, judgments, preferences, arms=arms)
        boot = CaseBootstrap.draw(_case_ids(ratings, judgments, preferences), n_boot=n_boot, seed=seed)
    with part_timer("descriptives"):
        descriptives = describe_ratings(ratings, dimensions, arms=arms, bootstrap=boot, level=level)
    with part_timer("paired_tests"):
        paired = paired_tests(ratings, dimensions, arms=arms, by="category")
    with part_timer("judgments"):
        shares = categorical_shares(judgments, dimensions, arms=arms, by="category", level=level, bootstrap=boot)
    with part_timer("preferences"):
        comparisons = ranking_comparisons(preferences, arms, boot)
        pairwise = pairwise_outcomes(comparisons, level=level)
        bt = bradley_terry(comparisons, bootstrap=boot, level=level)
    with part_timer("style_control"):
        styled = style_controlled_bradley_terry(preferences, comparisons, bootstrap=boot, level=level)
    with part_timer("agreement"):
        alpha = alpha_by_dimension(ratings, judgments, dimensions, bootstrap=boot, level=level)
        severity = rater_severity(ratings, dimensions)
    with part_timer("position_bias"):
        first_choice = first_choice_by_slot(preferences, level=level)
        by_slot = likert_by_slot(ratings, dimensions, bootstrap=boot, level=level)
    with part_timer("to_json"):
        result = to_jsonable({
            "meta": {
                "schema_version": SCHEMA_VERSION, "arms": arms,
                "dimensions": [dict(d) for d in dimensions],
                "n_ratings": 0 if is_empty(ratings) else len(ratings),
                "n_judgments": 0 if is_empty(judgments) else len(judgments),
                "n_preference_rows": 0 if is_empty(preferences) else len(preferences),
                "n_cases": boot.n_cases,
                "n_raters": 0 if is_empty(ratings) else int(ratings["rater_id"].nunique()),
                "n_assignments": 0 if is_empty(ratings) else int(ratings["assignment_id"].nunique())
                if "assignment_id" in ratings.columns else None,
                "n_boot": boot.n_boot, "seed": seed, "ci_level": level, "bootstrap": "cases",
            },
            "descriptives": descriptives,
            "paired_tests": paired,
            "judgments": shares,
            "preferences": {**pairwise, "bradley_terry": bt, "style_controlled": styled},
            "agreement": {"alpha": alpha, "rater_severity": severity},
            "position_bias": {"first_choice": first_choice, "likert_by_slot": by_slot},
        })
    result["meta"]["warnings"] = study_warnings(result)
    return result


def study_warnings(result: Mapping) -> list[str]:
    """What a reader of the dashboard must know before trusting its intervals and tests."""
    warnings = []
    n_cases = result["meta"]["n_cases"]
    if n_cases == 1:
        warnings.append("Only one case has ratings: every interval has zero width and says nothing about "
                        "uncertainty.")
    elif 1 < n_cases < 10:
        warnings.append(f"Only {n_cases} cases have ratings: the intervals are rough.")
    bt = result["preferences"]["bradley_terry"]
    if bt.get("arms_left_out"):
        warnings.append("Bradley-Terry leaves out arms never ranked against another: "
                        + ", ".join(map(str, bt["arms_left_out"])) + ".")
    if bt.get("note"):
        warnings.append(f"Bradley-Terry: {bt['note']}.")
    styled = result["preferences"].get("style_controlled") or {}
    if styled.get("available") and styled.get("note"):
        warnings.append(f"Style-controlled Bradley-Terry: {styled['note']}.")
    left_out = sorted({str(a) for t in result["paired_tests"] for a in t["friedman"].get("arms_left_out", [])})
    if left_out:
        warnings.append("Rank tests across arms run over the arms with ratings; left out: " + ", ".join(left_out) + ".")
    dropped = max((r.get("n_boot_dropped", 0) for r in result["descriptives"]["records"]), default=0)
    if dropped:
        warnings.append(f"Some intervals rest on fewer resamples: up to {dropped} of {result['meta']['n_boot']} "
                        "drew no case for their group and were left out.")
    return warnings
