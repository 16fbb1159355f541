"""A clinician's own work, per study: progress, the cases they submitted, and what they
submitted for one case (blind, like the rating page: slot letters and response texts,
never an arm, a model or a case's id in the study's files)."""

from __future__ import annotations

from dataclasses import dataclass, replace

from django.core.paginator import Page, Paginator
from django.db.models import Count, Exists, OuterRef, Q, Subquery

from annotations.errors import NotFound
from annotations.ids import strict_id
from annotations.models import Assignment, Preference, Rating, Study, StudyRater, Submission
from annotations.rating_input import field_name, stored_form_value
from annotations.rubric import FLAG
from annotations.selectors.raters import studies_open_to_rater
from annotations.selectors.rating import RatingPage, rating_form_rows, rating_page

SUBMITTED_PER_PAGE = 20
NOT_SUBMITTED = "This case has not been submitted yet."


@dataclass(frozen=True)
class StudyProgress:
    """A rater's progress in one study."""

    study_id: int
    name: str
    done: int
    assigned: int
    paused: bool

    @property
    def left(self) -> int:
        return self.assigned - self.done


@dataclass(frozen=True)
class StudyCases(StudyProgress):
    """One study on a rater's "My cases" page."""

    submitted: Page  # of dicts: assignment_id, number, specialty, submitted_at, revision


@dataclass(frozen=True)
class Revision:
    number: int
    submitted_at: object
    reason: str
    by_rater: bool  # False where the study team stored it


@dataclass(frozen=True)
class SubmittedCase:
    """What a rater submitted for one case, and whether they may correct it now."""

    study_id: int
    study_name: str
    number: int  # the case's place among the rater's submitted cases of the study, oldest first
    page: RatingPage
    values: dict  # the current answers, as the rating form's fields
    answers: list[dict]  # per response: its slot, the answers as words, its rank
    comment: str
    revisions: list[Revision]  # oldest first; the last one is current
    correct_refusal: str  # why it cannot be corrected now; "" when it can

    @property
    def current_revision(self) -> int:
        return self.revisions[-1].number


def _submitted(rater, study_id: int):
    return Assignment.objects.filter(rater=rater, study_id=study_id, status=Assignment.Status.SUBMITTED)


def rater_study_progress(rater) -> list[StudyProgress]:
    """The studies whose cases the rater may be shown (``studies_open_to_rater``) in which
    they have work, by name, each with the rater's progress."""
    mine = Assignment.objects.filter(rater=rater, study=OuterRef("pk"))
    studies = list(studies_open_to_rater(rater).filter(Exists(mine)).order_by("name", "id").values_list("id", "name"))
    if not studies:
        return []
    ids = [pk for pk, _ in studies]
    counts = {row["study_id"]: row for row in (
        Assignment.objects.filter(rater=rater, study_id__in=ids).values("study_id")
        .annotate(assigned=Count("id"), done=Count("id", filter=Q(status=Assignment.Status.SUBMITTED))))}
    paused = set(StudyRater.objects.filter(rater=rater, study_id__in=ids, status=StudyRater.Status.PAUSED)
                 .values_list("study_id", flat=True))
    return [StudyProgress(study_id=pk, name=name, done=counts[pk]["done"], assigned=counts[pk]["assigned"],
                          paused=pk in paused) for pk, name in studies]


def rater_studies(rater, *, study_id=None, page=None) -> list[StudyCases]:
    """:func:`rater_study_progress`, each study with the rater's submitted cases, newest
    first, a page at a time: page ``page`` for the study ``study_id``, the first page for
    the others (both as given in the URL; anything else reads as the first)."""
    current = Submission.objects.filter(assignment=OuterRef("pk"), is_current=True).values("revision")[:1]
    out = []
    for progress in rater_study_progress(rater):
        pk = progress.study_id
        rows = (_submitted(rater, pk).annotate(revision=Subquery(current)).order_by("-submitted_at", "-id")
                .values("id", "submitted_at", "case__specialty", "revision"))
        listed = Paginator(rows, SUBMITTED_PER_PAGE).get_page(page if str(study_id) == str(pk) else 1)
        # Numbered oldest first, as the rater met them; the page lists the newest first.
        newest = listed.paginator.count - listed.start_index() + 1
        listed.object_list = [{"assignment_id": row["id"], "number": newest - i, "specialty": row["case__specialty"],
                               "submitted_at": row["submitted_at"], "revision": row["revision"] or 1}
                              for i, row in enumerate(listed.object_list)]
        out.append(StudyCases(**vars(progress), submitted=listed))
    return out


def study_name_for_rater(*, assignment_id, rater) -> str:
    """The name of the study of ``assignment_id`` for a page that refuses the case (the
    study closed, the case went to someone else), or "" unless the rater has taken part
    in that study: an id tried at random names no study they do not know."""
    assignment_id = strict_id(assignment_id)
    if assignment_id is None:
        return ""
    taken_part = (Exists(StudyRater.objects.filter(study=OuterRef("study_id"), rater=rater))
                  | Exists(Assignment.objects.filter(study=OuterRef("study_id"), rater=rater)))
    found = Assignment.objects.filter(taken_part, pk=assignment_id).values_list("study__name", flat=True).first()
    return found or ""


def _case_number(assignment: Assignment) -> int:
    """The case's place among the rater's submitted cases of its study, oldest first (the
    number "My cases" lists it under)."""
    if assignment.submitted_at is None:  # not written by assignment_submit; placed by id alone
        earlier = Q(id__lte=assignment.pk)
    else:
        earlier = Q(submitted_at__lt=assignment.submitted_at) | Q(submitted_at=assignment.submitted_at,
                                                                   id__lte=assignment.pk)
    return _submitted(assignment.rater_id, assignment.study_id).filter(earlier).count()


def _form_values(submission: Submission, rubric: list[dict]) -> dict:
    """A stored submission as the rating form's fields (``rating_input`` reads them back)."""
    scales = {dim["key"]: dim["scale"] for dim in rubric}
    values = {"comment": submission.comment}
    for slot, key, score, choice, note in (Rating.objects.filter(submission=submission)
                                           .values_list("slot", "dimension", "score", "choice", "note")):
        name = field_name(slot, key)
        scale = scales.get(key)
        if scale == FLAG:
            if choice == "yes":
                values[name], values[f"{name}_reason"] = "1", note
        else:
            values[name] = stored_form_value(scale, score, choice)
    for slot, rank in Preference.objects.filter(submission=submission).values_list("slot", "rank"):
        values[f"rank_{slot}"] = str(rank)
    return values


def _answers(rows: list[dict]) -> list[dict]:
    """The form's rows as read-only answers: each dimension's label and what was chosen."""
    out = []
    for row in rows:
        given = []
        for entry in row["dims"]:
            if entry["dim"]["scale"] == FLAG:
                shown = f"Yes: {entry['reason']}" if entry["checked"] else "No"
            else:
                shown = entry["shown"]
            given.append({"label": entry["dim"]["label"], "answer": shown or "–"})
        rank = next((r["value"] for r in row["ranks"] if r["checked"]), "–")
        out.append({"slot": row["slot"], "answers": given, "rank": rank})
    return out


def correct_refusal(assignment: Assignment) -> str:
    """Why the rater may not correct their submitted case now (the study no longer takes
    ratings, or the study team paused them there), or "" when they may. ``assignment``
    comes from ``assignment_for_rater``, which loads both."""
    if assignment.study_status != Study.Status.OPEN:
        return "This study no longer takes ratings, so its cases cannot be corrected."
    if not StudyRater.takes_work(assignment.standing):
        return "The study team has paused your rating in this study: corrections are not taken until they reinstate you."
    return ""


def submitted_case(assignment: Assignment) -> SubmittedCase:
    """What the rater submitted for ``assignment`` (theirs, from ``assignment_for_rater``,
    and submitted), as it stands now, with the revisions it went through."""
    submissions = list(Submission.objects.filter(assignment=assignment).order_by("revision"))
    if not submissions:
        raise NotFound(NOT_SUBMITTED)
    current = next((s for s in submissions if s.is_current), submissions[-1])
    page = replace(rating_page(assignment), shown="", draft={})
    values = _form_values(current, page.rubric)
    rows = rating_form_rows(page, values)
    return SubmittedCase(
        study_id=assignment.study_id,
        study_name=Study.objects.filter(pk=assignment.study_id).values_list("name", flat=True).get(),
        number=_case_number(assignment), page=page, values=values, answers=_answers(rows),
        comment=current.comment,
        revisions=[Revision(s.revision, s.submitted_at, s.reason, s.submitted_by_id == assignment.rater_id)
                   for s in submissions],
        correct_refusal=correct_refusal(assignment))
