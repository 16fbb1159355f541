"""Categorical judgments (the ``intervention`` judgment: under / appropriate / over):
the share of each choice per arm, overall and per case category, with Wilson score
intervals (each judgment counted as one trial) and, when a bootstrap is given, cluster
-bootstrap intervals over cases (which allow for the raters of a case agreeing)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from annotations.analysis._common import (
    arm_order,
    categorical_specs,
    choice_values,
    codes_for,
    is_empty,
    require_columns,
    safe_div,
    sort_labels,
    wilson_ci,
)
from annotations.analysis.bootstrap import CaseBootstrap
from modeling.bootstrap import per_case_bincount, percentile_ci


def choice_shares(judgments: pd.DataFrame, dimension: str = "intervention", *, choices: Sequence | None = None,
                  arms: Sequence | None = None, by: str | None = "category", level: float = 0.95,
                  bootstrap: CaseBootstrap | None = None) -> list[dict]:
    """Shares of each choice of one categorical dimension per arm.

    One record per (scope, group, arm): ``n`` judgments, and per choice (in the order
    of ``choices``, default: the observed values sorted) ``counts``, ``shares``, Wilson
    ``ci_low``/``ci_high`` and, with a bootstrap, ``boot_ci_low``/``boot_ci_high``."""
    if is_empty(judgments):
        return []
    require_columns(judgments, ("case_id", "arm", "dimension", "value"), "judgments")
    rows = judgments[judgments["dimension"] == dimension]
    arms = arm_order(rows, arms=arms)
    choices = list(choices) if choices is not None else choice_values({}, pd.unique(rows["value"]))
    n_arms, n_choices = len(arms), len(choices)
    scopes: list[tuple[str, object, pd.DataFrame]] = [("overall", None, rows)]
    if by and by in rows.columns:
        groups = dict(list(rows.groupby(by, sort=False)))
        for label in sort_labels(groups):
            scopes.append((by, label, groups[label]))
    out: list[dict] = []
    for scope, label, part in scopes:
        arm_codes = codes_for(part["arm"], arms)
        choice_codes = codes_for(part["value"], choices)
        column = np.where((arm_codes >= 0) & (choice_codes >= 0), arm_codes * n_choices + choice_codes, -1)
        if bootstrap is not None:
            case_codes = bootstrap.codes(part["case_id"].to_numpy())
            table = per_case_bincount(case_codes, column, bootstrap.n_cases, n_arms * n_choices)
            counts = table.sum(axis=0).reshape(n_arms, n_choices)
        else:
            counts = np.bincount(column[column >= 0], minlength=n_arms * n_choices).reshape(n_arms, n_choices)
        n = counts.sum(axis=1)
        shares = safe_div(counts, n[:, None])
        lo, hi = wilson_ci(counts, n[:, None], level)
        if bootstrap is not None and bootstrap.n_boot:
            boot_counts = bootstrap.totals(table).reshape(bootstrap.n_boot, n_arms, n_choices)
            boot_shares = safe_div(boot_counts, boot_counts.sum(axis=2, keepdims=True))
            blo, bhi = percentile_ci(boot_shares, level)
        else:
            blo = bhi = np.full((n_arms, n_choices), np.nan)
        for a, arm in enumerate(arms):
            out.append({
                "scope": scope, "group": label, "dimension": dimension, "arm": arm, "n": int(n[a]),
                "choices": choices, "counts": counts[a].astype(int).tolist(), "shares": shares[a].tolist(),
                "ci_low": lo[a].tolist(), "ci_high": hi[a].tolist(),
                "boot_ci_low": blo[a].tolist(), "boot_ci_high": bhi[a].tolist(),
            })
    return out


def categorical_shares(judgments: pd.DataFrame, dimensions: Sequence[Mapping], *, arms: Sequence | None = None,
                       by: str | None = "category", level: float = 0.95,
                       bootstrap: CaseBootstrap | None = None) -> list[dict]:
    """:func:`choice_shares` for every categorical dimension of the rubric, choices in
    the rubric's order (then any other observed value)."""
    if is_empty(judgments):
        return []
    out: list[dict] = []
    for spec in categorical_specs(dimensions):
        observed = pd.unique(judgments.loc[judgments["dimension"] == spec["key"], "value"])
        out.extend(choice_shares(judgments, spec["key"], choices=choice_values(spec, observed), arms=arms, by=by,
                                 level=level, bootstrap=bootstrap))
    return out
