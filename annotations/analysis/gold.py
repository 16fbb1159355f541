"""Agreement of each rater with the gold cases' expected answers. Pure functions over
plain records; no Django."""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations


def _share(hits: float, n: int) -> float | None:
    return hits / n if n else None


def gold_agreement(values: list[dict], rankings: list[dict]) -> list[dict]:
    """Per rater, how their answers on gold cases compare with the expected ones.

    ``values``: one record per answered (rater, case, response, dimension) that has an
    expected value: ``{"rater", "case", "scale": "likert" | "categorical", "given", "expected"}``.
    ``rankings``: one record per (rater, case): ``{"rater", "case", "given": {response: rank},
    "expected": {response: rank}}``; pairs of responses the expected ranking orders are
    compared (a tie given where one is expected counts half).

    Returns, sorted by rater: gold cases answered, Likert exact and within-one shares and
    mean absolute error, the categorical agreement share, and the share of expected
    pairwise orders the rater reproduced.
    """
    stats: dict = defaultdict(lambda: {"cases": set(), "likert": [], "categorical": [], "pairs": []})
    for record in values:
        entry = stats[record["rater"]]
        entry["cases"].add(record["case"])
        if record["scale"] == "likert":
            entry["likert"].append(abs(float(record["given"]) - float(record["expected"])))
        else:
            entry["categorical"].append(record["given"] == record["expected"])
    for record in rankings:
        entry = stats[record["rater"]]
        entry["cases"].add(record["case"])
        given, expected = record["given"], record["expected"]
        for a, b in combinations(sorted(set(expected) & set(given)), 2):
            if expected[a] == expected[b]:
                continue
            want, got = expected[a] < expected[b], given[a] - given[b]
            entry["pairs"].append(0.5 if got == 0 else float((got < 0) == want))
    out = []
    for rater in sorted(stats, key=str):
        entry = stats[rater]
        likert, categorical, pairs = entry["likert"], entry["categorical"], entry["pairs"]
        out.append({
            "rater": rater, "gold_cases": len(entry["cases"]),
            "likert_n": len(likert), "likert_exact": _share(sum(d == 0 for d in likert), len(likert)),
            "likert_within_one": _share(sum(d <= 1 for d in likert), len(likert)),
            "likert_mae": _share(sum(likert), len(likert)),
            "categorical_n": len(categorical), "categorical_agree": _share(sum(categorical), len(categorical)),
            "rank_pairs": len(pairs), "rank_agree": _share(sum(pairs), len(pairs)),
        })
    return out
