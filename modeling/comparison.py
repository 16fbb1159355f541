"""Arm comparisons on the automatic metrics with uncertainty: each arm's Macro F1
(overall and per category) with a cluster-bootstrap CI over cases, and paired
differences between arms (BehaviorSFT - GeneralSFT, each arm - Baseline) with theirs.

The cluster is the case: a resample draws cases with replacement and takes every arm's
response to each drawn case along, so a paired difference keeps its pairing. Macro F1
depends on a resample only through counts, so the cases are first reduced to their
distinct *patterns* (task, gold label, each arm's scored label) with how many cases
share each; drawing N cases with replacement is then one multinomial draw over the
patterns (:func:`modeling.bootstrap.pattern_weights`), exact, and its cost does not
grow with N. The intervals are the bootstrap's percentiles
(:func:`modeling.bootstrap.percentile_ci`).

A resample in which some task has no case leaves that task's Macro F1 undefined; the
overall and category scores of that resample average over the tasks it has, and how
many resamples that happened in is reported (``resamples_missing_a_task``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

from modeling.bootstrap import pattern_weights, percentile_ci
from modeling.task_types import CATEGORIES, TaskType

# An arm without a response to the case; distinct from None, an unreadable response,
# which is answered and wrong.
MISSING = "\x00missing"
# The comparisons reported when these arms are present: (arm, minus arm).
FOCUS_PAIR = ("behavior_sft", "general_sft")
BASELINE = "baseline"


class PatternCounts:
    """Cases reduced to (task, gold, (each arm's scored label, in ``arms`` order)) with
    their counts. :meth:`add_case` takes one case's labels by arm."""

    def __init__(self, arms: Sequence[str]):
        self.arms = list(arms)
        self.counts: Counter = Counter()

    def add_case(self, task: str, gold: str, predicted: Mapping[str, str | None]) -> None:
        self.counts[(task, gold, tuple(predicted.get(arm, MISSING) for arm in self.arms))] += 1

    @property
    def n_cases(self) -> int:
        return sum(self.counts.values())


def _indicators(patterns: list, arms: Sequence[str], registry: Mapping[str, TaskType]):
    """Per (arm, task, label): 0/1 columns over the patterns for tp, fp and fn, and per
    (arm, task) the column of patterns the arm answered."""
    tasks = sorted({p[0] for p in patterns})
    keys, tp, fp, fn = [], [], [], []
    present_keys, present = [], []
    for a, arm in enumerate(arms):
        for task in tasks:
            answered = np.array([p[0] == task and p[2][a] != MISSING for p in patterns], dtype=float)
            present_keys.append((arm, task))
            present.append(answered)
            for label in registry[task].label_space:
                gold = np.array([p[1] == label for p in patterns])
                pred = np.array([p[2][a] == label for p in patterns])
                keys.append((arm, task, label))
                tp.append(answered * (gold & pred))
                fp.append(answered * (~gold & pred))
                fn.append(answered * (gold & ~pred))
    return tasks, keys, np.array(tp).T, np.array(fp).T, np.array(fn).T, present_keys, np.array(present).T


def _scores(weights: np.ndarray, arms, registry, tasks, keys, tp, fp, fn, present_keys, present) -> dict:
    """Per arm: (overall, {category: score}) arrays over the rows of ``weights``, and
    the rows where some task was missing."""
    t, f_p, f_n = weights @ tp, weights @ fp, weights @ fn
    denom = 2 * t + f_p + f_n
    # A label of the fixed label space that no case has and nobody predicts scores 0, as
    # in the point estimate; but a label the cases do have, which a resample happened to
    # draw no case of (and which the arm did not predict there), is undefined in that
    # resample and left out of its task's mean: counting it 0 would pull every resample
    # below the estimate (a perfect arm's interval would not contain its 1.0).
    supported = (tp + fn).sum(axis=0) > 0
    empty = np.where(supported, np.nan, 0.0)
    f1 = np.where(denom > 0, np.divide(2 * t, denom, out=np.zeros_like(t), where=denom > 0), empty)
    has = (weights @ present) > 0
    column = {key: i for i, key in enumerate(keys)}
    out = {}
    missing = np.zeros(weights.shape[0], dtype=bool)
    for arm in arms:
        per_task = {}
        for task in tasks:
            labels = registry[task].label_space
            task_f1 = _nanmean(np.array([f1[:, column[(arm, task, label)]] for label in labels]))
            index = present_keys.index((arm, task))
            if not present[:, index].any():
                continue  # the arm answered no case of this task at all
            here = has[:, index]
            per_task[task] = np.where(here, task_f1, np.nan)
            missing |= ~here
        stack = np.array(list(per_task.values())) if per_task else np.full((1, weights.shape[0]), np.nan)
        categories = {}
        for category in CATEGORIES:
            rows = [per_task[x] for x in per_task if registry[x].category == category]
            if rows:
                categories[category] = _nanmean(np.array(rows))
        out[arm] = (_nanmean(stack), categories)
    return {"arms": out, "missing": missing}


def _nanmean(stack: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        counts = (~np.isnan(stack)).sum(axis=0)
        sums = np.nansum(stack, axis=0)
    return np.divide(sums, counts, out=np.full(sums.shape, np.nan), where=counts > 0)


def _interval(values: np.ndarray, level: float) -> list[float | None]:
    lo, hi = percentile_ci(values, level)
    return [_float(lo), _float(hi)]


def _method(arm: str) -> str:
    return arm.lower().replace("_", "").replace("-", "")


def default_pairs(arms: Sequence[str]) -> list[tuple[str, str]]:
    """BehaviorSFT - GeneralSFT first (the paper's comparison), then each arm - Baseline;
    arms are recognised by method ("behavior_sft") or by name ("BehaviorSFT")."""
    by_method = {_method(a): a for a in arms}
    focus = [by_method.get(_method(m)) for m in FOCUS_PAIR]
    pairs = [tuple(focus)] if all(focus) else []
    base = by_method.get(BASELINE)
    if base is not None:
        pairs += [(a, base) for a in arms if a != base]
    return pairs


def compare_arms(patterns: PatternCounts, registry: Mapping[str, TaskType], *, n_boot: int = 2000, seed: int = 0,
                 level: float = 0.95, pairs: Iterable[tuple[str, str]] | None = None) -> dict:
    """Macro F1 per arm (overall and per category) with cluster-bootstrap CIs, and paired
    differences with theirs. ``{"n_cases", "n_boot", "level", "resamples_missing_a_task",
    "warning", "arms": {arm: {macro_f1, ci, categories: {category: {macro_f1, ci}}}},
    "differences": [{arm, minus, scope, difference, ci, p_not_above_zero}]}``."""
    arms = patterns.arms
    n = patterns.n_cases
    if not n:
        return {"n_cases": 0, "n_boot": 0, "level": level, "resamples_missing_a_task": 0, "arms": {},
                "differences": [], "warning": "no cases to compare"}
    items = sorted(patterns.counts.items(), key=repr)
    plist = [p for p, _ in items]
    counts = np.array([c for _, c in items], dtype=float)
    parts = _indicators(plist, arms, registry)
    point = _scores(counts[None, :], arms, registry, *parts)
    boot = _scores(pattern_weights(counts, n_boot, seed), arms, registry, *parts)
    result_arms = {}
    for arm, (overall, categories) in point["arms"].items():
        b_overall, b_categories = boot["arms"][arm]
        result_arms[arm] = {
            "macro_f1": _float(overall[0]), "ci": _interval(b_overall, level),
            "categories": {c: {"macro_f1": _float(v[0]), "ci": _interval(b_categories[c], level)}
                           for c, v in categories.items()},
        }
    differences = []
    for arm, minus in pairs if pairs is not None else default_pairs(arms):
        if arm not in point["arms"] or minus not in point["arms"]:
            continue
        scopes = [("overall", point["arms"][arm][0], point["arms"][minus][0],
                   boot["arms"][arm][0], boot["arms"][minus][0])]
        for c in CATEGORIES:
            if c in point["arms"][arm][1] and c in point["arms"][minus][1]:
                scopes.append((c, point["arms"][arm][1][c], point["arms"][minus][1][c],
                               boot["arms"][arm][1][c], boot["arms"][minus][1][c]))
        for scope, pa, pb, ba, bb in scopes:
            diff = ba - bb
            valid = diff[~np.isnan(diff)]
            differences.append({"arm": arm, "minus": minus, "scope": scope, "difference": _float(pa[0] - pb[0]),
                                "ci": _interval(diff, level),
                                # the share of resamples in which the first arm does not beat the second
                                "p_not_above_zero": float((valid <= 0).mean()) if valid.size else None})
    warning = ""
    if n < 2:
        warning = "one case only: the intervals have zero width and say nothing about uncertainty"
    elif n < 30:
        warning = f"only {n} cases: the intervals are rough"
    return {"n_cases": n, "n_boot": n_boot, "level": level,
            "resamples_missing_a_task": int(boot["missing"].sum()), "warning": warning,
            "arms": result_arms, "differences": differences}


def _float(value) -> float | None:
    value = float(value)
    return None if np.isnan(value) else value


def format_comparison(result: Mapping) -> str:
    """The comparison as a plain-text table."""
    pct = int(round(result["level"] * 100))
    lines = [f"Macro F1 with {pct}% cluster-bootstrap CIs over {result['n_cases']} cases "
             f"({result['n_boot']} resamples)"]
    lines.append(f"{'arm':<16} {'overall':>22} " + " ".join(f"{c:>22}" for c in CATEGORIES))

    def cell(score: Mapping | None) -> str:
        if not score or score["macro_f1"] is None:
            return f"{'-':>22}"
        lo, hi = score["ci"]
        return f"{score['macro_f1']:.3f} [{_ci(lo)}, {_ci(hi)}]".rjust(22)

    for arm, s in result["arms"].items():
        lines.append(f"{arm:<16} {cell(s)} " + " ".join(cell(s['categories'].get(c)) for c in CATEGORIES))
    if result["differences"]:
        lines.append("")
        lines.append("paired differences (cases resampled together)")
        for d in result["differences"]:
            lo, hi = d["ci"]
            lines.append(f"  {d['arm']} - {d['minus']:<14} {d['scope']:<10} {d['difference']:+.3f} "
                         f"[{_ci(lo, True)}, {_ci(hi, True)}]")
    if result["resamples_missing_a_task"]:
        lines.append(f"{result['resamples_missing_a_task']} of {result['n_boot']} resamples lacked some task; "
                     "their scores average over the tasks they had")
    if result["warning"]:
        lines.append(f"warning: {result['warning']}")
    return "\n".join(lines)


def _ci(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.3f}" if signed else f"{value:.3f}"
