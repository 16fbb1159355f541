"""Seeded, stratified allocation: the train/dev/test split of cases that came without
one, and the clinicians' rating sample. Within each stratum (for a split: task and gold
label; for the sample: task, category and gold label) the items are shuffled with a
seeded generator and dealt out by the largest-remainder method, so every stratum gets its
share to within one item and the same seed gives the same result."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping

DEFAULT_SPLIT_FRACTIONS: dict[str, float] = {"train": 0.7, "dev": 0.1, "test": 0.2}


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
