"""What clinicians see. Blinding lives here: these selectors hand the templates only slot
letters and response texts, never arms, models, jobs or behavior tokens."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Q

from annotations.models import Assignment, Response
from annotations.rating_form import field_name, slot_letter
from annotations.rubric import FLAG

# Belt and braces: the generation engine strips a leading token; any left anywhere in the
# text is removed before a clinician sees it.
BEHAVIOR_TOKEN_STRINGS = ("<|reactive|>", "<|balanced|>", "<|proactive|>")


def blind_text(text: str) -> str:
    for token in BEHAVIOR_TOKEN_STRINGS:
        text = text.replace(token, "")
    return text.strip() or "(stays silent)"


@dataclass(frozen=True)
class SlotView:
    index: int
    letter: str
    text: str


@dataclass(frozen=True)
class CaseView:
    specialty: str
    turns: list
    tables: list
    images: list


@dataclass(frozen=True)
class RatingPage:
    assignment_id: int
    case: CaseView
    slots: list[SlotView]
    rubric: list[dict]
    draft: dict
    position: int
    total: int
    submitted: bool
    instructions: str


def rater_queue_summary(rater) -> dict:
    """The start page: how many cases are left, and whether one is under way. ``rater``
    is a user or a user id."""
    counts = Assignment.objects.filter(rater=rater).aggregate(
        done=Count("id", filter=Q(status=Assignment.Status.SUBMITTED)),
        left=Count("id", filter=~Q(status=Assignment.Status.SUBMITTED)),
        started=Count("id", filter=Q(status=Assignment.Status.IN_PROGRESS)),
    )
    return {**counts, "started": bool(counts["started"])}


def rating_page(assignment: Assignment) -> RatingPage:
    # order_by(): the default ordering would join the cases table for nothing.
    texts = dict(Response.objects.filter(pk__in=assignment.slots).order_by().values_list("pk", "text"))
    case = assignment.case
    summary = rater_queue_summary(assignment.rater_id)
    total = summary["done"] + summary["left"]
    return RatingPage(
        assignment_id=assignment.pk,
        case=CaseView(specialty=case.specialty, turns=case.turns, tables=case.tables, images=case.images),
        slots=[SlotView(i, slot_letter(i), blind_text(texts.get(rid, ""))) for i, rid in enumerate(assignment.slots)],
        rubric=assignment.study.rubric,
        draft=assignment.draft or {},
        position=min(summary["done"] + 1, total),
        total=total,
        submitted=assignment.status == Assignment.Status.SUBMITTED,
        instructions=assignment.study.instructions,
    )


def rating_form_rows(page: RatingPage, values: dict) -> list[dict]:
    """Per slot, the rubric dimensions with field names, options and what is checked,
    worked out here so the template only prints."""
    n_slots = len(page.slots)
    rows = []
    for slot in page.slots:
        dims = []
        for dim in page.rubric:
            name = field_name(slot.index, dim["key"])
            value = str(values.get(name, ""))
            entry = {"dim": dim, "name": name, "value": value}
            if dim["scale"] == FLAG:
                entry["reason_name"] = f"{name}_reason"
                entry["reason"] = values.get(f"{name}_reason", "")
                entry["checked"] = value in ("1", "on")
            elif dim["scale"] == "likert":
                anchors = dim.get("anchors", {})
                entry["points"] = [{"value": str(v), "anchor": anchors.get(str(v), ""), "checked": str(v) == value}
                                   for v in range(dim["min"], dim["max"] + 1)]
                entry["anchor"] = anchors.get(value, "")
            else:
                entry["choices"] = [{"value": c[0], "label": c[1], "number": i + 1, "checked": c[0] == value}
                                    for i, c in enumerate(dim["choices"])]
            dims.append(entry)
        rank = str(values.get(f"rank_{slot.index}", ""))
        rows.append({"slot": slot, "dims": dims, "rank_name": f"rank_{slot.index}",
                     "ranks": [{"value": str(r), "checked": str(r) == rank} for r in range(1, n_slots + 1)]})
    return rows
