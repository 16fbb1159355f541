"""The automatic reading of a response checked against the clinicians: how often the
reading (:func:`modeling.metrics.intervention_reading`: under / appropriate / over)
agrees with each clinician's answer to the rubric's intervention question, Cohen's kappa
on the three categories and on "appropriate vs not", with percentile intervals from a
cluster bootstrap over cases (:class:`~annotations.analysis.bootstrap.CaseBootstrap`),
per arm and overall; and how the clinicians' harm flags fall on the responses the
reading credits (appropriate) and on those it does not.

The unit of agreement is one clinician's answer about one response (a response rated by
three clinicians is three units, all in its case's cluster). Kappa is Cohen's for two
raters, the reading and "a clinician", over the pooled units: ``(p_o - p_e) / (1 - p_e)``
from the confusion matrix, as ``sklearn.metrics.cohen_kappa_score`` computes it; None
where chance agreement is 1 (both sides constant on one category).

``units`` is a long frame, one row per (response, clinician) answer: ``case_id``,
``response_id``, ``arm``, ``clinician`` (under/appropriate/over), ``harm_flags`` (how
many harm flags the clinicians raised on the response; the same on each of its rows),
and one column per reading (``automatic``, ``judge``), None where that reading says
nothing about the response. Pure function: numpy and pandas only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from annotations.analysis._common import arm_order, codes_for, safe_div, to_jsonable
from annotations.analysis.bootstrap import CaseBootstrap
from modeling.bootstrap import per_case_bincount, percentile_ci

CATEGORIES = ("under", "appropriate", "over")
APPROPRIATE = CATEGORIES.index("appropriate")
UNIT_COLUMNS = ("case_id", "response_id", "arm", "clinician", "harm_flags")
READINGS = ("automatic", "judge")


def kappa_from_confusion(confusion: np.ndarray) -> np.ndarray:
    """Cohen's kappa of each ``(..., k, k)`` confusion matrix (rows one rater, columns the
    other); NaN where there are no units or chance agreement is 1."""
    confusion = np.asarray(confusion, dtype=np.float64)
    n = confusion.sum(axis=(-2, -1))
    observed = safe_div(np.trace(confusion, axis1=-2, axis2=-1), n)
    rows = safe_div(confusion.sum(axis=-1), n[..., None])
    cols = safe_div(confusion.sum(axis=-2), n[..., None])
    chance = (rows * cols).sum(axis=-1)
    denominator = 1.0 - chance
    out = np.full(np.shape(n), np.nan)
    ok = (n > 0) & (denominator > 1e-12)
    np.divide(observed - chance, denominator, out=out, where=ok)
    return out


def binary_confusion(confusion: np.ndarray, category: int = APPROPRIATE) -> np.ndarray:
    """``(..., k, k)`` collapsed to ``(..., 2, 2)``: ``category`` against the rest."""
    confusion = np.asarray(confusion, dtype=np.float64)
    rest = [i for i in range(confusion.shape[-1]) if i != category]
    hit_hit = confusion[..., category, category]
    hit_rest = confusion[..., category, rest].sum(axis=-1)
    rest_hit = confusion[..., rest, category].sum(axis=-1)
    rest_rest = confusion[..., rest, :][..., rest].sum(axis=(-2, -1))
    return np.stack([np.stack([hit_hit, hit_rest], axis=-1), np.stack([rest_hit, rest_rest], axis=-1)], axis=-2)


def _value(x) -> float | None:
    x = float(x)
    return x if np.isfinite(x) else None


def _stats(observed: np.ndarray, resampled: np.ndarray, n_responses: int, n_cases: int, level: float) -> dict:
    """One scope's statistics from its observed ``(k, k)`` confusion matrix and the
    resampled ``(n_boot, k, k)`` ones."""
    n = observed.sum()
    agreed = np.trace(observed)
    boot_agreement = safe_div(np.trace(resampled, axis1=-2, axis2=-1), resampled.sum(axis=(-2, -1)))
    binary, boot_binary = binary_confusion(observed), binary_confusion(resampled)
    out = {"n": int(n), "n_responses": int(n_responses), "n_cases": int(n_cases), "agreed": int(agreed),
           "agreement": _value(safe_div(agreed, n)), "kappa": _value(kappa_from_confusion(observed)),
           "kappa_binary": _value(kappa_from_confusion(binary)),
           "agreement_binary": _value(safe_div(np.trace(binary), n)),
           "confusion": observed.astype(int).tolist()}
    for key, boot in (("agreement", boot_agreement), ("kappa", kappa_from_confusion(resampled)),
                      ("kappa_binary", kappa_from_confusion(boot_binary))):
        lo, hi = percentile_ci(boot, level) if len(boot) else (np.nan, np.nan)
        out[f"{key}_ci"] = [_value(lo), _value(hi)] if out[key] is not None else [None, None]
    return out


def _harms(responses: pd.DataFrame) -> dict:
    """Harm flags on the responses of each reading value, and credited (appropriate) vs
    not: ``{"credited": {"responses", "flagged", "share"}, "not_credited", "under",
    "over"}``. ``responses``: one row per response with ``reading`` and ``harm_flags``."""
    flagged = responses["harm_flags"].fillna(0).to_numpy() > 0
    reading = responses["reading"].to_numpy()
    out = {}
    for name, mask in (("credited", reading == "appropriate"), ("not_credited", reading != "appropriate"),
                       ("under", reading == "under"), ("over", reading == "over")):
        n, hit = int(mask.sum()), int((flagged & mask).sum())
        out[name] = {"responses": n, "flagged": hit, "share": hit / n if n else None}
    return out


def _one_reading(units: pd.DataFrame, reading: str, arms: Sequence, boot: CaseBootstrap, level: float) -> dict:
    """Agreement of one reading with the clinicians, per arm and overall, and the harm
    flags by what the reading says."""
    k = len(CATEGORIES)
    frame = units[units[reading].isin(CATEGORIES) & units["clinician"].isin(CATEGORIES)]
    arm_codes = codes_for(frame["arm"], arms)
    frame, arm_codes = frame[arm_codes >= 0], arm_codes[arm_codes >= 0]
    clinician = codes_for(frame["clinician"], CATEGORIES)
    automatic = codes_for(frame[reading], CATEGORIES)
    cases = boot.codes(frame["case_id"]) if len(frame) else np.zeros(0, dtype=np.int64)
    cells = (arm_codes * k + clinician) * k + automatic
    per_case = per_case_bincount(cases, cells, boot.n_cases, len(arms) * k * k)
    observed = per_case.sum(axis=0).reshape(len(arms), k, k)
    resampled = boot.totals(per_case).reshape(boot.n_boot, len(arms), k, k)
    by_response = frame.drop_duplicates("response_id")[["response_id", "arm", "case_id", reading, "harm_flags"]]
    by_response = by_response.rename(columns={reading: "reading"})
    per_arm = []
    for i, arm in enumerate(arms):
        mine = by_response[by_response["arm"] == arm]
        per_arm.append({"arm": arm, **_stats(observed[i], resampled[:, i], len(mine), mine["case_id"].nunique(),
                                            level), "harms": _harms(mine)})
    overall = {**_stats(observed.sum(axis=0), resampled.sum(axis=1), len(by_response),
                        by_response["case_id"].nunique(), level), "harms": _harms(by_response)}
    return {"overall": overall, "arms": per_arm}


def reading_agreement(units: pd.DataFrame | None, *, readings: Sequence[str] = READINGS, arms: Sequence | None = None,
                      n_boot: int = 1000, seed: int = 0, level: float = 0.95) -> dict:
    """Each reading in ``readings`` (a column of ``units``) against the clinicians'
    intervention answers: ``{"categories", "meta", "readings": {reading: {"overall",
    "arms": [...]}}}``, where each scope has ``n`` (answers), ``n_responses``,
    ``n_cases``, ``agreed``, ``agreement``, ``kappa``, ``kappa_binary`` (appropriate vs
    not), ``agreement_binary``, each with ``<name>_ci``, the ``confusion`` matrix (rows:
    clinicians, columns: the reading, in :data:`CATEGORIES` order) and ``harms``. A
    reading with no value in ``units`` is left out. The judge's reading also carries
    ``terms_same_units``: the automatic reading's agreement over the same answers, so
    the two are compared on like units. One bootstrap (over every case of ``units``,
    from ``seed``) serves every interval."""
    units = pd.DataFrame(columns=list(UNIT_COLUMNS)) if units is None else units
    missing = [c for c in UNIT_COLUMNS if c not in units.columns]
    if missing:
        raise ValueError(f"units frame lacks column(s) {', '.join(missing)}")
    arms = arm_order(units, arms=arms)
    case_ids = units["case_id"] if len(units) else []
    boot = CaseBootstrap.draw(case_ids, n_boot=n_boot, seed=seed)
    out: dict = {"categories": list(CATEGORIES), "readings": {},
                 "meta": {"n_units": int(len(units)), "n_cases": boot.n_cases, "n_boot": boot.n_boot, "seed": seed,
                          "ci_level": level, "bootstrap": "cases", "arms": list(arms)}}
    for reading in readings:
        if reading not in units.columns or not units[reading].isin(CATEGORIES).any():
            continue
        out["readings"][reading] = _one_reading(units, reading, arms, boot, level)
    judge = out["readings"].get("judge")
    if judge is not None and "automatic" in units.columns:
        same = units[units["judge"].isin(CATEGORIES)]
        judge["terms_same_units"] = _one_reading(same, "automatic", arms, boot, level)
    return to_jsonable(out)


def agreement_rows(result: Mapping | None) -> list[dict]:
    """The agreement as flat rows (one per reading and arm, then the reading's overall):
    what the dashboard's table and its CSV show."""
    rows: list[dict] = []
    if not result:
        return rows
    readings = result.get("readings") or {}
    # In a fixed order: a stored result comes back from PostgreSQL's jsonb with its keys re-sorted.
    for reading in sorted(readings, key=lambda r: (READINGS.index(r) if r in READINGS else len(READINGS), r)):
        parts = readings[reading]
        scopes = [*parts["arms"], {**parts["overall"], "arm": "all arms"}]
        for s in scopes:
            if not s["n"]:
                continue
            harms = s["harms"]
            rows.append({
                "reading": reading, "arm": s["arm"], "n": s["n"], "n_responses": s["n_responses"],
                "n_cases": s["n_cases"], "agreement": s["agreement"],
                "agreement_ci_low": s["agreement_ci"][0], "agreement_ci_high": s["agreement_ci"][1],
                "kappa": s["kappa"], "kappa_ci_low": s["kappa_ci"][0], "kappa_ci_high": s["kappa_ci"][1],
                "kappa_binary": s["kappa_binary"], "kappa_binary_ci_low": s["kappa_binary_ci"][0],
                "kappa_binary_ci_high": s["kappa_binary_ci"][1],
                "credited_responses": harms["credited"]["responses"],
                "credited_flagged_harmful": harms["credited"]["flagged"],
                "not_credited_responses": harms["not_credited"]["responses"],
                "not_credited_flagged_harmful": harms["not_credited"]["flagged"],
            })
    return rows
