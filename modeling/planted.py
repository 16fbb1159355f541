"""The planted problem of a case, in machine-checkable form.

A case that plants a problem (an omission, an error, a conflict in the data; for a
balanced task the concern that should be raised beside the answer) carries it as
``planted_problem``::

    {"summary": "RhD negative after abdominal trauma: anti-D and a Kleihauer test",
     "terms": ["anti-D", "Kleihauer", ["Rh", "immunoglobulin"]],
     "asserts": ["anti-D", "Kleihauer"]}

``terms`` name the problem; ``asserts`` say what a correct flag must assert (what to do,
or what is wrong). A term that is a list is named only when all its words stand in one
sentence. Matching ignores case and treats hyphens, slashes and spaces alike ("anti-D" =
"anti d"), on whole words, so "anti-D" is not found in "anti-Dementia". Whether a
response finds the problem is read by :mod:`modeling.reading`: an entry counts only
where the response asserts it, and a term the case text already contains (echo-able,
:func:`echoable_terms`) counts only through ``asserts``, none of which may stand in the
case text (the case validation refuses one that does). Terms should name the problem
specifically (a drug, a test, a value), not words every response uses ("concern",
"check").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

from modeling.case_text import case_text

_NON_WORD = re.compile(r"[^0-9a-z]+")


def normalise(text: str) -> str:
    """Lower case, every run of non-letters and non-digits one space, padded with a space
    on each side, so a term is found on whole words."""
    return " " + _NON_WORD.sub(" ", text.lower()).strip() + " "


@lru_cache(maxsize=4096)
def _normalised_term(term: str) -> str:
    return normalise(term)


def planted_terms(planted: Mapping | None) -> list[str | list[str]]:
    """The terms of a case's ``planted_problem`` (empty when it plants none)."""
    if not planted:
        return []
    return list(planted.get("terms") or [])


def planted_asserts(planted: Mapping | None) -> list[str | list[str]]:
    """What a correct flag must assert (``planted_problem.asserts``; empty when none)."""
    if not planted:
        return []
    return list(planted.get("asserts") or [])


def term_in_text(term: str | Sequence[str], normalised_text: str) -> bool:
    """Whether a term (a list term: every word of it) stands in a text already passed
    through :func:`normalise`."""
    words = [term] if isinstance(term, str) else list(term)
    return bool(words) and all(_normalised_term(w) in normalised_text for w in words if _normalised_term(w).strip())


def echoable_terms(planted: Mapping | None, case: Mapping) -> list[str | list[str]]:
    """The entries of ``terms`` and ``asserts`` that stand in the case's own text, so that
    a response echoing the case would contain them."""
    text = normalise(case_text(case))
    return [t for t in planted_terms(planted) + planted_asserts(planted) if term_in_text(t, text)]


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
