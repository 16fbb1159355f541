"""The planted problem of a case, in machine-checkable form, and whether a response
names it.

A case that plants a problem (an omission, an error, a conflict in the data; for a
balanced task the concern that should be raised beside the answer) carries it as
``planted_problem``::

    {"summary": "RhD negative after abdominal trauma: anti-D and a Kleihauer test",
     "terms": ["anti-D", "Kleihauer", ["Rh", "immunoglobulin"]]}

A response names the problem when it contains any one of ``terms``; a term that is a
list is named only when every word of it appears (anywhere in the response). Matching
ignores case and treats hyphens, slashes and spaces alike ("anti-D" = "anti d"), on
whole words, so "anti-D" is not found in "anti-Dementia". A flag that names none of
the terms is a flag about something else and does not count as finding the problem.
Terms should name the problem specifically (a drug, a test, a value), not words every
response uses ("concern", "check").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

_NON_WORD = re.compile(r"[^0-9a-z]+")


def _normalise(text: str) -> str:
    return " " + _NON_WORD.sub(" ", text.lower()).strip() + " "


@lru_cache(maxsize=4096)
def _normalised_term(term: str) -> str:
    return _normalise(term)


def planted_terms(planted: Mapping | None) -> list[str | list[str]]:
    """The terms of a case's ``planted_problem`` (empty when it plants none)."""
    if not planted:
        return []
    return list(planted.get("terms") or [])


def names_problem(text: str | None, planted: Mapping | None) -> bool | None:
    """Whether ``text`` names the planted problem; None when the case plants none."""
    terms = planted_terms(planted)
    if not terms:
        return None
    body = _normalise(text or "")
    for term in terms:
        words = [term] if isinstance(term, str) else list(term)
        if words and all(_normalised_term(w) in body for w in words if _normalised_term(w).strip()):
            return True
    return False


def term_problems(terms: Sequence) -> list[str]:
    """Why a ``terms`` list cannot be matched (a term with no letter or digit matches
    everything): the case validation reports these."""
    problems = []
    for i, term in enumerate(terms):
        words = [term] if isinstance(term, str) else list(term)
        if not words or any(not _normalised_term(w).strip() for w in words):
            problems.append(f"terms[{i}] has no letter or digit, so it would match every response")
    return problems


def reading_agreement(pairs: Iterable[tuple[bool, bool]]) -> dict:
    """How two readings of "was the planted problem named" agree, over ``(judge, terms)``
    pairs: ``{"n", "agreed", "agreement" (share), "kappa" (Cohen's; None when chance
    agreement is 1, e.g. both readings constant), "judge_only" (the judge says named, the
    terms do not), "terms_only"}``."""
    counts = {(True, True): 0, (True, False): 0, (False, True): 0, (False, False): 0}
    for judge, terms in pairs:
        counts[(bool(judge), bool(terms))] += 1
    n = sum(counts.values())
    agreed = counts[(True, True)] + counts[(False, False)]
    out = {"n": n, "agreed": agreed, "agreement": agreed / n if n else None, "kappa": None,
           "judge_only": counts[(True, False)], "terms_only": counts[(False, True)]}
    if n:
        judge_yes = (counts[(True, True)] + counts[(True, False)]) / n
        terms_yes = (counts[(True, True)] + counts[(False, True)]) / n
        chance = judge_yes * terms_yes + (1 - judge_yes) * (1 - terms_yes)
        if chance < 1:
            out["kappa"] = (agreed / n - chance) / (1 - chance)
    return out


def problem_description(planted: Mapping | None) -> str | None:
    """The planted problem in words, as a judge is told it: its summary, else its terms."""
    if not planted:
        return None
    if (planted.get("summary") or "").strip():
        return planted["summary"].strip()
    terms = [t if isinstance(t, str) else " + ".join(t) for t in planted_terms(planted)]
    return "any one of: " + "; ".join(terms) if terms else None
