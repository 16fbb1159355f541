"""Checks of a case's content that the import reports as warnings (they do not stop it):
planted terms a response could copy from the case (they find nothing by themselves, see
:mod:`modeling.reading`), and a patient whose sex does not add up
(:mod:`modeling.sex_clashes`). :class:`WarningReport` keeps an import's warnings small
whatever the file's size."""

from __future__ import annotations

from collections.abc import Mapping

from modeling.planted import echoable_terms, planted_terms
from modeling.sex_clashes import sex_clashes


def echoed_terms(case: Mapping) -> list[str | list[str]]:
    """The entries of ``planted_problem.terms`` that stand in the case's own text
    (:func:`modeling.planted.echoable_terms`): a response that repeats the case contains
    them. Terms may repeat the case's words, so this is a warning, not an error
    (``asserts`` may not: the case validation refuses those)."""
    planted = case.get("planted_problem")
    terms = planted_terms(planted)
    return echoable_terms({"terms": terms}, case) if terms else []


# ---------------------------------------------------------------- an import's warnings

ECHOED_TERMS, SEX_CLASH = "echoed_terms", "sex_clash"
WARNING_KINDS = {ECHOED_TERMS: "planted terms that stand in the case's own text",
                 SEX_CLASH: "sex or pronoun clashes"}
WARNING_EXAMPLES = 20


def case_warnings(case: Mapping) -> list[tuple[str, str]]:
    """What an import warns about in one (valid) case, as ``(kind, message)``: its
    planted terms that the case text holds (one warning for them all) and its sex or
    pronoun clashes (one each)."""
    out = []
    echoed = echoed_terms(case)
    if echoed:
        shown = ", ".join(repr(t) if isinstance(t, str) else repr(" + ".join(t)) for t in echoed)
        one = len(echoed) == 1
        out.append((ECHOED_TERMS, f"planted term{'' if one else 's'} {shown} stand{'s' if one else ''} in the case's "
                                  f"own text (a response that repeats the case contains {'it' if one else 'them'})"))
    out += [(SEX_CLASH, clash) for clash in sex_clashes(case)]
    return out


class WarningReport:
    """The warnings of a whole import, kept small whatever the file's size: counts by
    kind, how many cases have any, and the first WARNING_EXAMPLES of them, each naming
    its line and external_id."""

    def __init__(self, examples: int = WARNING_EXAMPLES):
        self.by_kind: dict[str, int] = {}
        self.cases = 0
        self.examples: list[str] = []
        self.max_examples = examples

    def check(self, line: int, case: Mapping) -> None:
        """Check one case (:func:`case_warnings`) and count what it gives."""
        self.add(line, str(case.get("external_id") or ""), case_warnings(case))

    def add(self, line: int, external_id: str, warnings: list[tuple[str, str]]) -> None:
        if not warnings:
            return
        self.cases += 1
        for kind, message in warnings:
            self.by_kind[kind] = self.by_kind.get(kind, 0) + 1
            if len(self.examples) < self.max_examples:
                self.examples.append(f"line {line} ({external_id}): {message}")

    @property
    def total(self) -> int:
        return sum(self.by_kind.values())

    def summary(self) -> str:
        """One sentence of counts ("" when there is nothing to warn about)."""
        if not self.total:
            return ""
        kinds = "; ".join(f"{WARNING_KINDS.get(kind, kind)}: {n:,}" for kind, n in sorted(self.by_kind.items()))
        listed = f"; the first {len(self.examples)} are listed" if self.total > len(self.examples) else ""
        return (f"{self.total:,} warning{'s' if self.total != 1 else ''} on {self.cases:,} "
                f"case{'s' if self.cases != 1 else ''} ({kinds}){listed}.")

    def as_dict(self) -> dict:
        """JSON-ready: ``{"total", "cases", "by_kind", "summary", "examples"}`` (empty when
        there is nothing to warn about)."""
        if not self.total:
            return {}
        return {"total": self.total, "cases": self.cases, "by_kind": dict(sorted(self.by_kind.items())),
                "summary": self.summary(), "examples": list(self.examples)}


__all__ = ["WARNING_EXAMPLES", "WARNING_KINDS", "WarningReport", "case_warnings", "echoed_terms", "sex_clashes"]
