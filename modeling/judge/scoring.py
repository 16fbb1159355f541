"""The probability maths of the judge: level distributions from logits or from an
endpoint's ``top_logprobs``, G-Eval's probability-weighted score, reading a label from
a sampled answer, and the position-swap consistency of pairwise comparisons."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence


def level_distribution(logits, level_ids: Mapping[str, Sequence[int]]) -> dict:
    """From next-token logits over the vocabulary (1-D), the probability of each level:
    softmax over the whole vocabulary, then the probabilities of a level's token ids
    summed. Returns ``{"probs": {label: p renormalised over the levels}, "mass": total
    probability of all levels' tokens}``."""
    import torch

    logits = torch.as_tensor(logits, dtype=torch.float64).flatten()
    logprobs = torch.log_softmax(logits, dim=-1)
    return distribution_from_logprobs(logprobs, level_ids)


def distribution_from_logprobs(logprobs, level_ids: Mapping[str, Sequence[int]]) -> dict:
    """As :func:`level_distribution`, from log-probabilities over the vocabulary that
    are already normalised (indexable by token id)."""
    raw = {label: float(sum(math.exp(float(logprobs[i])) for i in set(ids))) for label, ids in level_ids.items()}
    mass = sum(raw.values())
    probs = {label: (p / mass if mass > 0 else 0.0) for label, p in raw.items()}
    return {"probs": probs, "mass": mass}


def expected_value(probs: Mapping[str, float]) -> float | None:
    """``sum(level * p)`` over numeric labels with probabilities summing to 1; None
    when no probability is left."""
    total = sum(probs.values())
    if total <= 0:
        return None
    return sum(float(label) * p for label, p in probs.items()) / total


def probability_weighted_score(logits, level_ids: Mapping[str, Sequence[int]]) -> float | None:
    """G-Eval's score: the expectation of the level under the next-token distribution,
    renormalised over the levels' tokens."""
    return expected_value(level_distribution(logits, level_ids)["probs"])


def distribution_from_top_logprobs(top: Iterable[tuple[str, float]], labels: Sequence[str]) -> dict | None:
    """The level distribution from one position's ``top_logprobs`` (token, logprob)
    pairs of a remote endpoint: tokens reading as a level (surrounding spaces ignored)
    are summed. None when no listed token is a level."""
    wanted = set(labels)
    raw = dict.fromkeys(labels, 0.0)
    seen = False
    for token, logprob in top:
        label = (token or "").strip()
        if label in wanted and logprob is not None:
            raw[label] += math.exp(logprob)
            seen = True
    if not seen:
        return None
    mass = sum(raw.values())
    return {"probs": {k: v / mass for k, v in raw.items()}, "mass": mass}


_NUMBER_RE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)(?![\d])")
_LETTER_RE = re.compile(r"\b([AB])\b")


def parse_label(text: str | None, labels: Sequence[str]) -> str | None:
    """The first label a sampled answer gives: for numeric labels the first number in
    range (a decimal is rounded to the nearest level), for A/B the first standalone
    letter, for words (Yes/No) the first one written, in any case. None when there is none."""
    if not text:
        return None
    if all(label.isdigit() for label in labels):
        lo, hi = min(int(x) for x in labels), max(int(x) for x in labels)
        for match in _NUMBER_RE.finditer(text):
            value = float(match.group(1))
            if lo <= value <= hi:
                return str(int(math.floor(value + 0.5)))
        return None
    if all(len(label) == 1 for label in labels):
        for match in _LETTER_RE.finditer(text):
            if match.group(1) in labels:
                return match.group(1)
        return None
    # Word labels (Yes/No): the first one written, in any case.
    by_word = {label.lower(): label for label in labels}
    match = re.search(r"\b(" + "|".join(re.escape(w) for w in by_word) + r")\b", text, re.IGNORECASE)
    return by_word[match.group(1).lower()] if match else None


# -- position-swap consistency ------------------------------------------------------------

def preference(prob_a: float | None) -> str | None:
    """The response a judge prefers given P(response a is better): ``"a"`` above 0.5,
    ``"b"`` below; None without a preference (None, NaN, or exactly 0.5)."""
    if prob_a is None or math.isnan(prob_a) or prob_a == 0.5:
        return None
    return "a" if prob_a > 0.5 else "b"


def debiased_preference(prob_a_first: float | None, prob_a_second: float | None) -> float | None:
    """P(response a is better) averaged over both orders of the pair: the preference with
    the position of the responses averaged out (None when neither order answered)."""
    values = [p for p in (prob_a_first, prob_a_second) if p is not None]
    return sum(values) / len(values) if values else None


def is_consistent(prob_a_first: float | None, prob_a_second: float | None) -> bool | None:
    """Whether the judge prefers the same response in both orders of a pair (the
    probabilities that it prefers response a when a is shown first and when a is
    shown second). None when the pair is undecided: either order gives no preference."""
    first, second = preference(prob_a_first), preference(prob_a_second)
    if first is None or second is None:
        return None
    return first == second


def swap_consistency(pairs: Iterable[tuple[float | None, float | None]]) -> dict:
    """Position-swap consistency over ``(prob_a_first, prob_a_second)`` pairs:
    ``{"n": pairs, "decided": pairs with a preference in both orders, "consistent":
    decided pairs preferring the same response both ways, "consistency": consistent /
    decided (None when no pair is decided), "first_chosen": how many of the decided
    pairs' 2 x decided decisions went to the response shown first, "first_position_rate":
    first_chosen / (2 x decided), 0.5 for a judge without position bias}``. Undecided
    pairs (a tie at 0.5, a missing probability) are neither consistent nor inconsistent,
    so they are left out of both shares."""
    n = decided = consistent = first_chosen = 0
    for prob_a_first, prob_a_second in pairs:
        n += 1
        verdict = is_consistent(prob_a_first, prob_a_second)
        if verdict is not None:
            decided += 1
            consistent += verdict
            # shown first: response a in the first order, response b in the second
            first_chosen += (preference(prob_a_first) == "a") + (preference(prob_a_second) == "b")
    return {"n": n, "decided": decided, "consistent": consistent,
            "consistency": consistent / decided if decided else None, "first_chosen": first_chosen,
            "first_position_rate": first_chosen / (2 * decided) if decided else None}
