"""Reading a rating form (or a saved draft) against a study's rubric. Pure functions:
field names carry only slot indices, never anything that identifies an arm.

Field names: ``r{slot}_{dimension}`` for each response's dimensions,
``r{slot}_{flag}_reason`` for a flag's reason, ``rank_{slot}`` for the ranking,
``comment`` for the optional comment.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from annotations.rubric import CANNOT_JUDGE, CANNOT_JUDGE_VALUE, CATEGORICAL, FLAG, LIKERT

MAX_TEXT = 5000  # characters of a comment or a harm reason; the form says so


def text_problem(label: str, text: str) -> str | None:
    """Why a typed text cannot be stored as it is, or None. Nothing is cut or changed
    silently: a text over the limit, or with a NUL character (which PostgreSQL cannot
    store), is refused with this message."""
    if len(text) > MAX_TEXT:
        return f"{label} is {len(text):,} characters long; the limit is {MAX_TEXT:,}. Shorten it and try again."
    if "\x00" in text:
        return f"{label} contains a NUL character, which cannot be stored; remove it and try again."
    return None


def slot_letter(index: int) -> str:
    return chr(ord("A") + index)


def field_name(slot: int, key: str) -> str:
    return f"r{slot}_{key}"


@dataclass
class ParsedRating:
    # per slot: dimension key -> {"score": float | None, "choice": str, "note": str}
    slots: list[dict[str, dict]] = field(default_factory=list)
    ranks: list[int | None] = field(default_factory=list)
    comment: str = ""
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.errors


def parse_rating(rubric: list[dict], n_slots: int, data: Mapping[str, str]) -> ParsedRating:
    """Validate every field; ``errors`` maps field names to a message a rater can act on."""
    parsed = ParsedRating(comment=str(data.get("comment", "")).strip())
    problem = text_problem("The comment", parsed.comment)
    if problem:
        parsed.errors["comment"] = problem
    for slot in range(n_slots):
        letter = slot_letter(slot)
        values: dict[str, dict] = {}
        for dim in rubric:
            name = field_name(slot, dim["key"])
            raw = str(data.get(name, "")).strip()
            label = dim.get("label", dim["key"])
            if raw == CANNOT_JUDGE_VALUE and dim.get("cannot_judge") and dim["scale"] in (LIKERT, CATEGORICAL):
                values[dim["key"]] = {"score": None, "choice": CANNOT_JUDGE, "note": ""}
                continue
            if dim["scale"] == LIKERT:
                if not raw:
                    if dim.get("required", True):
                        parsed.errors[name] = f"Response {letter}: rate {label} ({dim['min']}-{dim['max']})."
                    continue
                try:
                    score = int(raw)
                except ValueError:
                    score = None
                if score is None or not dim["min"] <= score <= dim["max"]:
                    parsed.errors[name] = f"Response {letter}: {label} must be {dim['min']}-{dim['max']}."
                    continue
                values[dim["key"]] = {"score": float(score), "choice": "", "note": ""}
            elif dim["scale"] == CATEGORICAL:
                allowed = [c[0] for c in dim["choices"]]
                if not raw:
                    if dim.get("required", True):
                        parsed.errors[name] = f"Response {letter}: choose {label}."
                    continue
                if raw not in allowed:
                    parsed.errors[name] = f"Response {letter}: {label} must be one of {', '.join(allowed)}."
                    continue
                values[dim["key"]] = {"score": None, "choice": raw, "note": ""}
            elif dim["scale"] == FLAG:
                flagged = raw in ("1", "on", "true", "yes")
                reason = str(data.get(f"{name}_reason", "")).strip()
                problem = text_problem(f"Response {letter}: the reason", reason)
                if problem:
                    parsed.errors[f"{name}_reason"] = problem
                    continue
                if flagged and dim.get("requires_reason") and not reason:
                    parsed.errors[f"{name}_reason"] = f"Response {letter}: say why it is {label.lower()}."
                    continue
                values[dim["key"]] = {"score": None, "choice": "yes" if flagged else "no",
                                      "note": reason if flagged else ""}
        parsed.slots.append(values)
    for slot in range(n_slots):
        name = f"rank_{slot}"
        raw = str(data.get(name, "")).strip()
        try:
            rank = int(raw) if raw else None
        except ValueError:
            rank = None
        if rank is None or not 1 <= rank <= n_slots:
            parsed.errors[name] = f"Response {slot_letter(slot)}: give a rank from 1 (best) to {n_slots}."
        parsed.ranks.append(rank)
    return parsed


def stored_form_value(scale: str, score: float | None, choice: str) -> str:
    """A stored rating of a Likert or categorical dimension as the form's value, the
    inverse of :func:`parse_rating` (a correction form filled with what was submitted)."""
    if choice == CANNOT_JUDGE:
        return CANNOT_JUDGE_VALUE
    if scale == LIKERT:
        return "" if score is None else str(int(score))
    return choice


class DraftProblem(ValueError):
    """A draft that cannot be stored as posted; the stored draft stays as it was."""


def draft_fields(rubric: list[dict], n_slots: int, data: Mapping[str, str]) -> dict[str, str]:
    """The subset of posted data that belongs to the form (drafts store nothing else).
    Raises DraftProblem when the post carries none of the form's fields (it would wipe the
    draft) or a text that cannot be stored as typed."""
    allowed = {"comment"} | {f"rank_{s}" for s in range(n_slots)}
    for slot in range(n_slots):
        for dim in rubric:
            allowed.add(field_name(slot, dim["key"]))
            if dim["scale"] == FLAG:
                allowed.add(f"{field_name(slot, dim['key'])}_reason")
    fields = {k: str(v) for k, v in data.items() if k in allowed}
    if not fields:
        raise DraftProblem("Nothing to save: the post carries none of the form's fields.")
    for name, value in fields.items():
        problem = text_problem("The comment" if name == "comment" else "A text", value)
        if problem:
            raise DraftProblem(problem)
    return fields


_REASON_FIELD = re.compile(r"r([0-9]{1,2})_\w+_reason")


def typed_texts(data: Mapping[str, str]) -> list[tuple[str, str]]:
    """The free texts of a posted rating form (each flag's reason, then the comment), for
    a page that could not store the post and shows them back so that nothing typed is
    lost. Needs no rubric: read from the field names."""
    texts = []
    for name, value in data.items():
        found = _REASON_FIELD.fullmatch(name)
        text = str(value).strip()
        # One slot per response, lettered A, B, C...: a higher number is none of the form's.
        if found and text and int(found[1]) < 26:
            texts.append((f"Response {slot_letter(int(found[1]))}: reason for the flag", text))
    comment = str(data.get("comment", "")).strip()
    if comment:
        texts.append(("Comment", comment))
    return texts
