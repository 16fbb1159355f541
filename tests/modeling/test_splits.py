"""The split of a case file's cases, one for the portal's import and the command lines: a
case's own split is kept; the others are dealt out within each task and gold label,
seeded, whatever order the file lists them in."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from modeling.splits import DEFAULT_SPLIT_FRACTIONS, assign_splits, split_cases


def _ids(cases) -> list[str]:
    return [c["external_id"] for c in cases]


def test_a_cases_own_split_decides(demo_cases):
    splits = split_cases(demo_cases, seed=1)
    for name in ("train", "dev", "test"):
        assert _ids(getattr(splits, name)) == [c["external_id"] for c in demo_cases if c["split"] == name]
    assert split_cases(demo_cases, seed=2) == splits  # the seed only places cases without a split


def test_cases_without_a_split_are_dealt_out_within_each_task_and_gold_label(demo_cases):
    unsplit = [{k: v for k, v in c.items() if k != "split"} for c in demo_cases]
    splits = split_cases(unsplit, seed=0)
    assert sorted(_ids(splits.train + splits.dev + splits.test)) == sorted(_ids(unsplit))
    placed = {c["external_id"]: name for name in ("train", "dev", "test") for c in getattr(splits, name)}
    strata = Counter((c["task"], c["gold_label"]) for c in unsplit)
    for stratum, n in strata.items():
        shares = Counter(placed[c["external_id"]] for c in unsplit if (c["task"], c["gold_label"]) == stratum)
        for name, fraction in DEFAULT_SPLIT_FRACTIONS.items():
            assert abs(shares[name] - fraction * n) < 1, (stratum, shares)
    assert split_cases(unsplit, seed=0) == splits
    assert split_cases(unsplit, seed=1) != splits
    shuffled = list(unsplit)
    random.Random(3).shuffle(shuffled)
    assert {c["external_id"] for c in split_cases(shuffled, seed=0).test} == set(_ids(splits.test))
    assert _ids(splits.test) == [c["external_id"] for c in unsplit if placed[c["external_id"]] == "test"]


def test_split_cases_places_exactly_what_assign_splits_gives(demo_cases):
    mixed = [{k: v for k, v in c.items() if k != "split" or i % 4 == 0} for i, c in enumerate(demo_cases)]
    assigned = assign_splits(((c["external_id"], c["task"], c["gold_label"]) for c in mixed if "split" not in c),
                             seed=5)
    splits = split_cases(mixed, seed=5)
    for name in ("train", "dev", "test"):
        assert _ids(getattr(splits, name)) == [c["external_id"] for c in mixed
                                               if c.get("split", assigned.get(c["external_id"])) == name]


def test_an_unknown_split_is_refused():
    with pytest.raises(ValueError, match="unknown split 'holdout'"):
        split_cases([{"external_id": "x", "task": "t", "gold_label": "a", "split": "holdout"}])
