"""What clinicians see. Blinding lives here: these selectors hand the templates only slot
letters and response texts, never arms, models, jobs or behavior tokens."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache

from django.core import signing
from django.db import connection
from django.db.models import Exists, OuterRef

from annotations.errors import NotFound
from annotations.ids import id_or_not_found, strict_id
from annotations.models import Assignment, Case, Response, Study, StudyRater
from annotations.rating_input import field_name, slot_letter
from annotations.rubric import CANNOT_JUDGE_LABEL, CANNOT_JUDGE_VALUE, FLAG, LIKERT
from annotations.selectors.rater_access import (
    HIDDEN_STANDING,
    SHOWN_STATUS,
    hidden_from_rater,
    onboarding_columns_sql,
)
from evalportal import sql
from modeling.behavior import DEFAULT_BEHAVIOR_TOKENS, shown_text


def blind_text(text: str) -> str:
    """A response as a clinician sees it. Belt and braces: the generation engine already
    strips a leading behavior token; any token string left anywhere is removed here."""
    return shown_text(DEFAULT_BEHAVIOR_TOKENS.strip(text))


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
    shown: str = ""  # proof that this page was shown to this rater (``shown_token``)
    study_name: str = ""


# The rating page is the portal's hottest page. Its reads are plain SQL, built once per
# process from the models' table and column names: composed with the ORM on every request,
# the same reads (then three queries) cost several times more to compile than to run
# (ARCHITECTURE.md has the figures).

def _progress_sql() -> str:
    """A rater's assignments submitted (``done``), still to do (``left_to_do``) and under
    way (``started``): one aggregate over the rater's rows, a derived table ``p``."""
    status = sql.column(Assignment, "status")
    # The statuses are the model's own constants, never input.
    submitted, in_progress = Assignment.Status.SUBMITTED.value, Assignment.Status.IN_PROGRESS.value
    return (f"(SELECT COUNT(*) FILTER (WHERE {status} = '{submitted}') AS done, "
            f"COUNT(*) FILTER (WHERE {status} <> '{submitted}') AS left_to_do, "
            f"COUNT(*) FILTER (WHERE {status} = '{in_progress}') AS started "
            f"FROM {sql.table(Assignment)} WHERE {sql.column(Assignment, 'rater')} = %s "
            f"AND {sql.column(Assignment, 'study')} IN ({_open_studies_sql()})) p")


def _open_studies_sql() -> str:
    """Raters count and see work of open studies only: a draft is invisible to them and a
    closed study takes nothing more."""
    # The status is the model's own constant, never input.
    return (f"SELECT {sql.pk(Study)} FROM {sql.table(Study)} "
            f"WHERE {sql.column(Study, 'status')} = '{SHOWN_STATUS.value}'")


@cache
def _queue_summary_sql() -> str:
    return f"SELECT p.done, p.left_to_do, p.started FROM {_progress_sql()}"


@cache
def _page_sql(n_slots: int) -> str:
    """What the rating page shows of the case, the study and each slot's response, and the
    rater's progress, in one query (one per number of slots, built once). Parameters: the
    slots' response ids, the rater, the case, the study."""
    texts = "".join(f", (SELECT r.{sql.column(Response, 'text')} FROM {sql.table(Response)} r "
                    f"WHERE r.{sql.pk(Response)} = %s) AS text_{i}" for i in range(n_slots))
    case = ", ".join(f"c.{sql.column(Case, name)}" for name in ("specialty", "turns", "tables", "images"))
    return (f"SELECT {case}, s.{sql.column(Study, 'rubric')}, s.{sql.column(Study, 'instructions')}, "
            f"s.{sql.column(Study, 'name')}, p.done, p.left_to_do{texts} "
            f"FROM {sql.table(Case)} c, {sql.table(Study)} s, {_progress_sql()} "
            f"WHERE c.{sql.pk(Case)} = %s AND s.{sql.pk(Study)} = %s")


def _json(value):
    """JSON columns arrive as text on both PostgreSQL (as Django configures psycopg) and SQLite."""
    return json.loads(value) if isinstance(value, str | bytes) else value


@cache
def _assignment_for_rater_sql() -> str:
    """The assignment, with what decides whether the rater may rate it now: its study's
    status (and closing reason) and the rater's standing and onboarding in that study
    (``selectors/rater_access.py``), in the same query, so the gate costs the rating page
    nothing."""
    a_study, a_rater = sql.column(Assignment, "study"), sql.column(Assignment, "rater")
    return (f"SELECT {sql.all_columns(Assignment, prefix='a.')}, s.{sql.column(Study, 'status')} AS study_status, "
            f"s.{sql.column(Study, 'closed_reason')} AS study_closed_reason, "
            f"sr.{sql.column(StudyRater, 'status')} AS standing, {onboarding_columns_sql('s', 'sr')} "
            f"FROM {sql.table(Assignment)} a JOIN {sql.table(Study)} s ON s.{sql.pk(Study)} = a.{a_study} "
            f"LEFT JOIN {sql.table(StudyRater)} sr ON sr.{sql.column(StudyRater, 'study')} = a.{a_study} "
            f"AND sr.{sql.column(StudyRater, 'rater')} = a.{a_rater} "
            f"WHERE a.{sql.pk(Assignment)} = %s AND a.{a_rater} = %s")


def assignment_for_rater(*, assignment_id, rater) -> Assignment:
    """The rater's own assignment; anyone else's (or none) is NotFound, never a refusal
    that would confirm it exists, and so is one of a study hidden from the rater (a
    draft, or one they were taken off). Its study and case load when first used; what
    the rater must do before rating it is :func:`onboarding_step`."""
    assignment_id = id_or_not_found(assignment_id, "No such assignment.")
    found = next(iter(Assignment.objects.raw(_assignment_for_rater_sql(), [assignment_id, rater.pk])), None)
    if found is None or hidden_from_rater(found.study_status, found.standing):
        raise NotFound("No such assignment.")
    return found


def study_for_rater(*, study_id, rater) -> Study:
    """An open study in which the rater has work; NotFound otherwise (a draft study, or
    one they have nothing in or were removed from, is not theirs to read)."""
    study_id = id_or_not_found(study_id, "No such study.")
    # Each condition is on the rater's own rows: joined over all of the study's raters,
    # one rater removed would hide the study from every other.
    has_work = Assignment.objects.filter(study=OuterRef("pk"), rater=rater)
    removed = StudyRater.objects.filter(study=OuterRef("pk"), rater=rater, status=HIDDEN_STANDING)
    study = Study.objects.filter(Exists(has_work), ~Exists(removed), pk=study_id, status=SHOWN_STATUS).first()
    if study is None:
        raise NotFound("No such study.")
    return study


_SHOWN_SALT = "annotations.rating.shown"


def shown_token(*, assignment_id: int, rater_id: int) -> str:
    """A signed note that the rating page of this assignment was shown to this rater. A
    post that carries it may claim the assignment back if it went to the pool meanwhile
    (left idle past the study's timeout) and nobody else took it."""
    return signing.dumps([assignment_id, rater_id], salt=_SHOWN_SALT)


def shown_to(token, *, assignment_id, rater) -> bool:
    """Whether ``token`` says the page of ``assignment_id`` was shown to ``rater``."""
    try:
        shown = signing.loads(str(token or ""), salt=_SHOWN_SALT)
    except signing.BadSignature:
        return False
    return strict_id(assignment_id) is not None and shown == [strict_id(assignment_id), rater.pk]


def rater_queue_summary(rater) -> dict:
    """The start page: how many cases are left, and whether one is under way. ``rater``
    is a user or a user id."""
    with connection.cursor() as cursor:
        cursor.execute(_queue_summary_sql(), [getattr(rater, "pk", rater)])
        done, left, started = cursor.fetchone()
    return {"done": done, "left": left, "started": bool(started)}


def rating_page(assignment: Assignment) -> RatingPage:
    slots = list(assignment.slots)
    with connection.cursor() as cursor:
        cursor.execute(_page_sql(len(slots)), [*slots, assignment.rater_id, assignment.case_id, assignment.study_id])
        specialty, turns, tables, images, rubric, instructions, study_name, done, left, *texts = cursor.fetchone()
    total = done + left
    return RatingPage(
        assignment_id=assignment.pk,
        case=CaseView(specialty=specialty, turns=_json(turns), tables=_json(tables), images=_json(images)),
        slots=[SlotView(i, slot_letter(i), blind_text(text or "")) for i, text in enumerate(texts)],
        rubric=_json(rubric),
        draft=assignment.draft or {},
        position=min(done + 1, total),
        total=total,
        submitted=assignment.status == Assignment.Status.SUBMITTED,
        instructions=instructions,
        shown=shown_token(assignment_id=assignment.pk, rater_id=assignment.rater_id),
        study_name=study_name,
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
            entry = {"dim": dim, "name": name, "value": value, "letter": slot.letter}
            if dim["scale"] == FLAG:
                entry["reason_name"] = f"{name}_reason"
                entry["reason"] = values.get(f"{name}_reason", "")
                entry["checked"] = value in ("1", "on")
                dims.append(entry)
                continue
            entry["cannot_judge"] = bool(dim.get("cannot_judge"))
            if dim["scale"] == LIKERT:
                anchors = dim.get("anchors", {})
                entry["points"] = [{"value": str(v), "anchor": anchors.get(str(v), ""), "checked": str(v) == value}
                                   for v in range(dim["min"], dim["max"] + 1)]
                entry["anchor"] = anchors.get(value, "")
                shown = f"{value}: {entry['anchor']}" if entry["anchor"] else value
            else:
                entry["choices"] = [{"value": c[0], "label": c[1], "number": i + 1, "checked": c[0] == value}
                                    for i, c in enumerate(dim["choices"])]
                shown = next((c[1] for c in dim["choices"] if c[0] == value), "")
            # The answer as a reader sees it: "4: Like a competent colleague", a choice's label.
            entry["shown"] = CANNOT_JUDGE_LABEL if entry["cannot_judge"] and value == CANNOT_JUDGE_VALUE else shown
            dims.append(entry)
        rank = str(values.get(f"rank_{slot.index}", ""))
        rows.append({"slot": slot, "dims": dims, "rank_name": f"rank_{slot.index}",
                     "ranks": [{"value": str(r), "checked": str(r) == rank} for r in range(1, n_slots + 1)]})
    return rows


def rater_closed_notices(rater) -> list[str]:
    """Why the rater's unfinished cases of closed studies cannot be rated: each study's
    closing reason, for their start page."""
    unfinished = Assignment.objects.filter(study=OuterRef("pk"), rater=rater).exclude(
        status=Assignment.Status.SUBMITTED)
    reasons = (Study.objects.filter(status=Study.Status.CLOSED).filter(Exists(unfinished))
               .values_list("closed_reason", flat=True).distinct())
    return [f"A study you were rating is closed: {reason or 'no reason given'}" for reason in reasons]
