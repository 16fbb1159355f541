"""A case's free texts as the case checks read them (:mod:`modeling.sex_clashes`): each
text with where it stands, split into sentences on demand (not after a title or an
abbreviation), its words in lower case, and one lower-case string of everything the case
shows for quick substring tests."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

TITLE_WORDS = frozenset({"dr", "mr", "mrs", "ms", "miss", "mister", "prof", "professor", "nurse", "sister"})
_ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "prof", "st", "vs", "no", "approx", "e.g", "i.e", "etc"})
_SENTENCE_END = re.compile(r"[.!?;]+[\"')\]]*\s+")
WORD = re.compile(r"[a-z\u00C0-\u024F]+")


def words(lower: str) -> set[str]:
    """The words of a lower-case text (an apostrophe or a hyphen splits one)."""
    return set(WORD.findall(lower))


@lru_cache(maxsize=4096)
def speaker_words(speaker: str) -> frozenset[str]:
    """The words of a speaker's name that would name them in a sentence (not their title,
    not an initial)."""
    return frozenset(w for w in words(speaker.lower()) if len(w) > 1) - TITLE_WORDS


def has_word(lower: str, word: str) -> bool:
    """Whether ``word`` (lower case) stands in ``lower`` as a whole word."""
    start = lower.find(word)
    while start >= 0:
        end = start + len(word)
        if (start == 0 or not lower[start - 1].isalpha()) and (end == len(lower) or not lower[end].isalpha()):
            return True
        start = lower.find(word, start + 1)
    return False


class Sentence:
    __slots__ = ("text", "lower", "_words")

    def __init__(self, text: str):
        self.text, self.lower, self._words = text, text.lower(), None

    @property
    def words(self) -> set[str]:
        if self._words is None:
            self._words = words(self.lower)
        return self._words


def sentences(text: str) -> list[Sentence]:
    """The sentences of a text (a semicolon ends one too), not split after a title
    (``Mr.``, ``Dr.``) or an abbreviation."""
    out, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        before = text[start:match.start()].rsplit(None, 1)
        if before and before[-1].lower().rstrip(".") in _ABBREVIATIONS:
            continue
        out.append(Sentence(text[start:match.end()].strip()))
        start = match.end()
    if text[start:].strip():
        out.append(Sentence(text[start:].strip()))
    return out


class Text:
    """One free text of a case: where it stands ("turns[2].text", "tables[0]"), the
    speaker's role (lower case; "" when not a turn's text), and the text; its sentences
    are split when first asked for."""

    __slots__ = ("_where", "role", "text", "lower", "_sentences")

    def __init__(self, where: str | int, role: str, text: str):
        self._where, self.role, self.text, self.lower, self._sentences = where, role, text, text.lower(), None

    @property
    def where(self) -> str:
        """Where the text stands (a turn's index is kept as a number until asked for)."""
        return f"turns[{self._where}].text" if isinstance(self._where, int) else self._where

    @property
    def sentences(self) -> list[Sentence]:
        if self._sentences is None:
            self._sentences = sentences(self.text)
        return self._sentences


def turn_texts(case: Mapping) -> list[Text]:
    return [Text(i, str(turn.get("role") or "").strip().lower(), str(turn.get("text") or ""))
            for i, turn in enumerate(case.get("turns") or ())]


def other_texts(case: Mapping) -> list[Text]:
    """The free texts of a case besides its turns' texts: tables (a row a sentence),
    image descriptions, the question and the reference response."""
    out = []
    for i, turn in enumerate(case.get("turns") or ()):
        out += [table_text(t, f"turns[{i}].tables[{j}]") for j, t in enumerate(turn.get("tables") or ())]
        out += [Text(f"turns[{i}].images[{j}].description", "", str(image.get("description") or ""))
                for j, image in enumerate(turn.get("images") or ())]
    out += [table_text(t, f"tables[{j}]") for j, t in enumerate(case.get("tables") or ())]
    out += [Text(f"images[{j}].description", "", str(image.get("description") or ""))
            for j, image in enumerate(case.get("images") or ())]
    if case.get("question"):
        out.append(Text("question", "", str(case["question"])))
    if case.get("reference_response"):
        out.append(Text("reference_response", "", str(case["reference_response"])))
    return out


def table_text(table: Mapping, where: str) -> Text:
    rows = [" | ".join("" if c is None else str(c) for c in row) for row in table.get("rows") or ()
            if isinstance(row, list)]
    return Text(where, "", "".join(f"{row}. " for row in rows))


class CaseView:
    """One case as the checks read it: its turns' texts (split into sentences on demand)
    and, built once for every check, every word of it in lower case."""

    def __init__(self, case: Mapping):
        self.case = case
        self.turns = turn_texts(case)
        self._lower: str | None = None
        self._hinted: dict[str, bool] = {}

    @property
    def lower(self) -> str:
        """Everything the case shows (not its reference response), in lower case, for
        substring tests: its turns' texts (already in lower case), speakers and roles, and
        Python's repr of the rest (quicker to build than a rendering, and holding every
        word of it)."""
        if self._lower is None:
            case = self.case
            turns = case.get("turns") or ()
            rest = repr([case.get("specialty"), case.get("tables"), case.get("images"), case.get("question"),
                         [(t.get("speaker"), t.get("role"), t.get("tables"), t.get("images")) for t in turns]])
            self._lower = "\n".join([*(text.lower for text in self.turns), rest.lower()])
        return self._lower
