"""Seeded, stratified allocation: the train/dev/test split of cases that came without
one, and the clinicians' rating sample. Within each stratum (for a split: task and gold
label; for the sample: task, category and gold label) the items are shuffled with a
seeded generator and dealt out by the largest-remainder method, so every stratum gets its
share to within one item and the same seed gives the same result.

A case file's split is :func:`assign_splits` wherever it is made: the portal's import
(``annotations/services/cases.py``, with the study's seed) and the command-line tools
(:func:`split_cases`, with ``--split-seed``, whose default is a new study's seed), so the
same file and seed put the same cases in test everywhere."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping
from typing import NamedTuple

DEFAULT_SPLIT_FRACTIONS: dict[str, float] = {"train": 0.7, "dev": 0.1, "test": 0.2}
# A new study's seed (``Study.seed``), and so the command-line tools' default split seed.
DEFAULT_SPLIT_SEED = 20250527
SPLIT_SEED_HELP = (f"seeds the split of the cases that come without one (default {DEFAULT_SPLIT_SEED}, a new "
                   "study's seed; give a study's seed for the split its import made)")


def _largest_remainder(total: int, weights: Mapping[str, float]) -> dict[str, int]:
    """``total`` items shared out in proportion to ``weights``, whole numbers summing to
    ``total`` (the shares rounded down, then one more each for the largest remainders)."""
    weight_sum = sum(weights.values())
    exact = {name: total * w / weight_sum for name, w in weights.items()}
    counts = {name: math.floor(x) for name, x in exact.items()}
    left = total - sum(counts.values())
    for name in sorted(exact, key=lambda n: (counts[n] - exact[n], n))[:left]:
        counts[name] += 1
    return counts


def stratified_split(items: Iterable[tuple[Hashable, Hashable]], *, seed: int,
                     fractions: Mapping[str, float] = DEFAULT_SPLIT_FRACTIONS) -> dict[Hashable, str]:
    """``{key: split}`` for ``(key, stratum)`` pairs: each stratum divided by
    ``fractions``. Keys are sorted within a stratum before the seeded shuffle, so the
    result does not depend on the order the items come in."""
    if not fractions or any(f < 0 for f in fractions.values()) or not sum(fractions.values()):
        raise ValueError(f"split fractions must be non-negative and not all zero: {dict(fractions)}")
    strata: dict[Hashable, list] = defaultdict(list)
    for key, stratum in items:
        strata[stratum].append(key)
    out: dict[Hashable, str] = {}
    for stratum in sorted(strata, key=repr):
        keys = sorted(strata[stratum], key=repr)
        random.Random(f"{seed}\x00{stratum!r}").shuffle(keys)
        start = 0
        for split, count in _largest_remainder(len(keys), fractions).items():
            for key in keys[start:start + count]:
                out[key] = split
            start += count
    return out


def assign_splits(unsplit: Iterable[tuple[str, str, str]], *, seed: int) -> dict[str, str]:
    """``{external_id: split}`` for ``(external_id, task, gold_label)`` of the cases that
    came without a split: stratified by task and gold label, seeded. Keyed by the case's
    own id, so where the file is read (portal or command line) does not matter."""
    return stratified_split(((external_id, (task, gold_label)) for external_id, task, gold_label in unsplit),
                            seed=seed)


class Splits(NamedTuple):
    train: list[dict]
    dev: list[dict]
    test: list[dict]


def split_cases(cases: Iterable[Mapping], *, seed: int = DEFAULT_SPLIT_SEED) -> Splits:
    """Train/dev/test lists of a case file's cases, in file order: a case's own ``split``
    decides; the cases without one are placed by :func:`assign_splits` (what the portal's
    import gives them under a study seeded ``seed``)."""
    cases = list(cases)
    assigned = assign_splits(((c["external_id"], c["task"], c["gold_label"]) for c in cases
                              if c.get("split") is None), seed=seed)
    out: dict[str, list[dict]] = {split: [] for split in Splits._fields}
    for case in cases:
        split = case.get("split")
        if split is None:
            split = assigned[case["external_id"]]
        if split not in out:
            raise ValueError(f"case {case.get('external_id')!r}: unknown split {split!r}")
        out[split].append(dict(case))
    return Splits(**out)


def stratified_sample(items: Iterable[tuple[Hashable, Hashable]], *, size: int, seed: int) -> list[Hashable]:
    """``size`` keys drawn from ``(key, stratum)`` pairs, each stratum represented in
    proportion to its size (to within one), seeded; every key when there are at most
    ``size``."""
    if size < 0:
        raise ValueError("the sample size cannot be negative")
    strata: dict[Hashable, list] = defaultdict(list)
    for key, stratum in items:
        strata[stratum].append(key)
    total = sum(len(keys) for keys in strata.values())
    if total <= size:
        return sorted((key for keys in strata.values() for key in keys), key=repr)
    shares = _largest_remainder(size, {repr(s): len(keys) for s, keys in strata.items()})
    chosen = []
    for stratum, keys in strata.items():
        keys = sorted(keys, key=repr)
        random.Random(f"{seed}\x00{stratum!r}").shuffle(keys)
        chosen += keys[:shares[repr(stratum)]]
    return sorted(chosen, key=repr)
