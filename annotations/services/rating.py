"""A clinician's rating flow: next assignment, open, drafts, submit, revise."""

from __future__ import annotations

from collections.abc import Mapping

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from annotations.errors import InvalidRequest, NotFound, StateConflict, StudyNotOpen
from annotations.models import Assignment, Preference, Rating, Study, StudyRater, Submission
from annotations.models.study import rating_refusal
from annotations.rating_input import DraftProblem, ParsedRating, draft_fields, parse_rating, text_problem
from annotations.selectors.rating import assignment_for_rater, shown_to
from annotations.services.aggregation import aggregation_request
from annotations.services.audit import audit_record
from annotations.services.planner import assignments_release_idle

RELEASE_IDLE_CACHE_KEY = "assignments-release-idle"
# Showing a case again within this many seconds does not write its activity time again:
# idle timeouts count minutes, and a reload should not cost a write.
ACTIVITY_TOUCH_INTERVAL_S = 30


class IncompleteRating(InvalidRequest):
    def __init__(self, parsed: ParsedRating):
        self.parsed = parsed
        super().__init__(f"{len(parsed.errors)} field(s) still need an answer")


class AssignmentGone(NotFound):
    """The assignment is not, or no longer, the rater's; the message says why. Its status
    is 409 where the rater was shown the case and 404 otherwise, so that nothing is
    confirmed about an assignment they never saw."""

    def __init__(self, message: str, *, status: int = 404):
        super().__init__(message)
        self.status = status


NOT_YOURS = ("This case is not assigned to you. If you had it open, it may have gone back to the pool "
             "after it was left idle.")
TAKEN = ("This case was left idle past the study's time limit and went back to the pool, and another rater "
         "has taken it since.")


def _release_idle_now_and_then() -> None:
    """Idle assignments go back to the pool on a rater's way to the next case, but at most
    once per ASSIGNMENT_RELEASE_INTERVAL_SECONDS in each process: the sweep costs a
    locking query per open study, and study timeouts are counted in minutes."""
    interval = getattr(settings, "ASSIGNMENT_RELEASE_INTERVAL_SECONDS", 30)
    if interval <= 0 or cache.add(RELEASE_IDLE_CACHE_KEY, True, timeout=interval):
        assignments_release_idle()


def assignment_next(*, rater, study_id=None) -> Assignment | None:
    """The rater's next case (of the study ``study_id`` when given): one in progress, else
    the next in their queue, else one claimed from the pool (never a case they already
    have; never beyond k raters)."""
    _release_idle_now_and_then()
    set_aside = StudyRater.objects.filter(study_id=OuterRef("study_id"), rater=rater).exclude(
        status=StudyRater.Status.ACTIVE)
    in_study = {} if study_id is None else {"study_id": study_id}
    mine = (Assignment.objects.filter(rater=rater, study__status=Study.Status.OPEN, **in_study)
            .exclude(status=Assignment.Status.SUBMITTED).exclude(Exists(set_aside)))
    current = (mine.filter(status=Assignment.Status.IN_PROGRESS).order_by("queue_position", "id").first()
               or mine.order_by("queue_position", "id").first())
    if current is not None:
        return current
    already_has_case = Assignment.objects.filter(rater=rater, case_id=OuterRef("case_id"))
    with transaction.atomic():
        claim = (Assignment.objects.select_for_update(skip_locked=True)
                 .filter(rater__isnull=True, status=Assignment.Status.PENDING, study__status=Study.Status.OPEN,
                         **in_study)
                 .exclude(Exists(already_has_case)).exclude(Exists(set_aside)).order_by("study_id", "queue_position", "id").first())
        if claim is None:
            return None
        if not _claim(claim, rater):
            return None
    return claim


def _claim(assignment: Assignment, rater) -> bool:
    """Give a pooled assignment to ``rater``, at the end of their queue; False (nothing
    written) when they already hold a copy of its case."""
    assignment.rater = rater
    assignment.queue_position = (Assignment.objects.filter(rater=rater).order_by("-queue_position")
                                 .values_list("queue_position", flat=True).first() or 0) + 1
    try:
        with transaction.atomic():
            assignment.save(update_fields=["rater", "queue_position"])
    except IntegrityError:
        return False
    return True


def assignment_reclaim(*, assignment_id, rater, shown) -> Assignment:
    """The assignment whose page was shown to ``rater`` (``shown``, the page's token) and
    that went back to the pool since (left idle past the study's timeout), claimed for
    them again: what they typed meanwhile is then stored as usual. Refused, nothing
    changed, when another rater took it, the rater was paused or removed in the study,
    or the study no longer takes ratings."""
    if not shown_to(shown, assignment_id=assignment_id, rater=rater):
        raise AssignmentGone(NOT_YOURS)
    with transaction.atomic():
        locked = Assignment.objects.select_for_update().filter(pk=int(assignment_id)).first()
        if locked is None:
            raise AssignmentGone("This case is no longer in the study's plan.", status=409)
        _refuse_unless_open(locked.study_id)
        if not StudyRater.takes_work_in(study_id=locked.study_id, rater_id=rater.pk):
            raise AssignmentGone("The study team has paused or ended your rating in this study, and your open "
                                 "cases went back to the pool.", status=409)
        if locked.rater_id not in (None, rater.pk) or locked.status == Assignment.Status.SUBMITTED:
            raise AssignmentGone(TAKEN, status=409)
        if locked.rater_id is None:
            if not _claim(locked, rater):
                # They took another rater's copy of the same case from the pool meanwhile.
                raise AssignmentGone("This case is already in your queue again: open it from your next case.",
                                     status=409)
            audit_record(actor=rater, action="assignment.reclaim", obj=locked,
                         summary=f"case {locked.case_id} claimed back from the pool by {rater.get_username()}")
    return assignment_for_rater(assignment_id=locked.pk, rater=rater)


def assignment_open(*, assignment: Assignment) -> None:
    """Record that the case was shown; the first showing starts the clock."""
    now = timezone.now()
    if assignment.status == Assignment.Status.SUBMITTED:
        return
    updates = {"last_activity_at": now}
    if assignment.shown_at is None:
        updates.update(shown_at=now, status=Assignment.Status.IN_PROGRESS)
    elif (assignment.last_activity_at is not None
          and (now - assignment.last_activity_at).total_seconds() < ACTIVITY_TOUCH_INTERVAL_S):
        return
    # Only while it is still the rater's: one released to the pool meanwhile stays as it is.
    (Assignment.objects.filter(pk=assignment.pk, rater_id=assignment.rater_id)
     .exclude(status=Assignment.Status.SUBMITTED).update(**updates))
    for key, value in updates.items():
        setattr(assignment, key, value)


def _active_increment(value, locked: Assignment, now) -> float:
    """The active seconds a post adds: what the page counted (time visible and in use),
    never more than the server's clock says passed since the case was last shown or
    saved, so a client cannot claim time that did not pass."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        return 0.0
    if seconds != seconds or seconds <= 0:
        return 0.0
    since = locked.last_activity_at or locked.shown_at
    return min(seconds, (now - since).total_seconds()) if since is not None else 0.0


def _refuse_unless_open(study_id: int) -> None:
    """Closed (or draft) studies take no drafts and no submissions; the rater is told why."""
    status, reason = Study.objects.filter(pk=study_id).values_list("status", "closed_reason").get()
    refusal = rating_refusal(status, reason)
    if refusal:
        raise StudyNotOpen(refusal)


def assignment_save_draft(*, assignment: Assignment, data: Mapping[str, str], active_seconds=0) -> bool:
    """Keep what the rater entered so far. Returns False (nothing saved) once submitted;
    raises InvalidRequest (the stored draft unchanged) for a post that carries none of
    the form's fields or a text that cannot be stored as typed, and AssignmentGone when
    the assignment went back to the pool since it was loaded."""
    rubric = assignment.study.rubric
    try:
        fields = draft_fields(rubric, len(assignment.slots), data)
    except DraftProblem as exc:
        raise InvalidRequest(str(exc)) from None
    now = timezone.now()
    with transaction.atomic():
        locked = Assignment.objects.select_for_update().filter(pk=assignment.pk).first()
        if locked is None or locked.rater_id != assignment.rater_id:
            raise AssignmentGone(TAKEN if locked and locked.rater_id else NOT_YOURS, status=409)
        if locked.status == Assignment.Status.SUBMITTED:
            return False
        _refuse_unless_open(locked.study_id)
        locked.active_seconds += _active_increment(active_seconds, locked, now)
        locked.draft = fields
        locked.last_activity_at = now
        locked.first_input_at = locked.first_input_at or (now if any(fields.values()) else None)
        locked.status = Assignment.Status.IN_PROGRESS
        locked.shown_at = locked.shown_at or now
        locked.save(update_fields=["draft", "last_activity_at", "first_input_at", "active_seconds", "status",
                                   "shown_at"])
    assignment.draft = fields
    return True


def _write_judgment(submission: Submission, assignment: Assignment, parsed: ParsedRating) -> None:
    ratings, preferences = [], []
    for slot, response_id in enumerate(assignment.slots):
        for key, value in parsed.slots[slot].items():
            ratings.append(Rating(submission=submission, response_id=response_id, slot=slot, dimension=key, **value))
        preferences.append(Preference(submission=submission, response_id=response_id, slot=slot,
                                      rank=parsed.ranks[slot]))
    Rating.objects.bulk_create(ratings)
    Preference.objects.bulk_create(preferences)


def assignment_submit(*, assignment: Assignment, rater, data: Mapping[str, str], active_seconds=0,
                      idempotency_key: str = "") -> Submission:
    """Store the rater's judgment once. A resent or double-clicked submit returns the
    submission already stored and changes nothing. Raises IncompleteRating (nothing
    stored except the draft) while a required field is missing."""
    parsed = parse_rating(assignment.study.rubric, len(assignment.slots), data)
    if not parsed.complete:
        try:
            assignment_save_draft(assignment=assignment, data=data, active_seconds=active_seconds)
        except InvalidRequest:
            pass  # the refused page shows every posted answer again, with the problem marked
        raise IncompleteRating(parsed)
    now = timezone.now()
    try:
        with transaction.atomic():
            locked = Assignment.objects.select_for_update().filter(pk=assignment.pk).first()
            if locked is None or locked.rater_id != rater.pk:
                raise AssignmentGone(TAKEN if locked and locked.rater_id else NOT_YOURS, status=409)
            if locked.status == Assignment.Status.SUBMITTED:
                return locked.submissions.get(is_current=True)
            _refuse_unless_open(locked.study_id)
            submission = Submission.objects.create(assignment=locked, revision=1, comment=parsed.comment,
                                                   submitted_by=rater, idempotency_key=idempotency_key[:64])
            _write_judgment(submission, locked, parsed)
            locked.active_seconds += _active_increment(active_seconds, locked, now)
            locked.status = Assignment.Status.SUBMITTED
            locked.submitted_at = now
            locked.last_activity_at = now
            locked.first_input_at = locked.first_input_at or now
            locked.draft = {}
            locked.save(update_fields=["status", "submitted_at", "last_activity_at", "first_input_at",
                                       "active_seconds", "draft"])
            audit_record(actor=rater, action="assignment.submit", obj=locked,
                         summary=f"case {locked.case_id} submitted", after={"submission": submission.pk})
            transaction.on_commit(lambda: _after_submission(locked.study_id))
    except IntegrityError:
        # Another request stored the same submission first (unique revision): return it.
        return Submission.objects.get(assignment_id=assignment.pk, is_current=True)
    assignment.status = Assignment.Status.SUBMITTED
    return submission


def submission_revise(*, assignment: Assignment, actor, data: Mapping[str, str], reason: str,
                      base_revision: int | None = None, active_seconds=0) -> Submission:
    """A correction of a submitted case: a new revision becomes current; the earlier ones
    stay as they were, and the audit trail records who corrected it and why. The rater's
    own correction adds the time the page counted (``active_seconds``, capped as a
    submission's is) to the case's time on task; another's correction adds none.

    Raises IncompleteRating (nothing stored) while an answer or the reason is missing or
    a text cannot be stored; StudyNotOpen once the study takes no ratings; StateConflict
    for a case not submitted, a rater correcting their own case while paused or removed
    in the study, or a case corrected since ``base_revision`` (the revision the form
    showed). A resent correction (the same actor and reason, one revision on from
    ``base_revision``) returns the revision already stored and changes nothing."""
    reason = str(reason or "").strip()
    parsed = parse_rating(assignment.study.rubric, len(assignment.slots), data)
    problem = text_problem("The reason for the correction", reason)
    if problem or not reason:
        parsed.errors["reason"] = problem or "Say why you are correcting this case."
    if not parsed.complete:
        raise IncompleteRating(parsed)
    with transaction.atomic():
        locked = Assignment.objects.select_for_update().get(pk=assignment.pk)
        _refuse_unless_open(locked.study_id)
        current = locked.submissions.select_for_update().filter(is_current=True).first()
        if current is None:
            raise StateConflict("This case has not been submitted yet: there is nothing to correct.")
        if actor.pk == locked.rater_id and not StudyRater.takes_work_in(study_id=locked.study_id, rater_id=actor.pk):
            raise StateConflict("The study team has paused or ended your rating in this study: corrections "
                                "are not taken until they reinstate you.")
        if base_revision is not None and current.revision != base_revision:
            if (current.revision == base_revision + 1 and current.submitted_by_id == actor.pk
                    and current.reason == reason):
                return current
            raise StateConflict("This case was corrected again since this form was opened: open it again to "
                                "see its current answers.")
        current.is_current = False
        current.save(update_fields=["is_current"])
        submission = Submission.objects.create(assignment=locked, revision=current.revision + 1,
                                               comment=parsed.comment, reason=reason, submitted_by=actor)
        _write_judgment(submission, locked, parsed)
        if actor.pk == locked.rater_id:
            now = timezone.now()
            locked.active_seconds += _active_increment(active_seconds, locked, now)
            locked.last_activity_at = now
            locked.save(update_fields=["active_seconds", "last_activity_at"])
        audit_record(actor=actor, action="submission.revise", obj=submission,
                     summary=f"assignment {locked.pk} revision {submission.revision}: {reason[:200]}",
                     before={"submission": current.pk, "revision": current.revision},
                     after={"submission": submission.pk, "revision": submission.revision, "reason": reason})
        transaction.on_commit(lambda: _after_submission(locked.study_id))
    return submission


def _after_submission(study_id: int) -> None:
    """The dashboard is recomputed (debounced) after every submission."""
    aggregation_request(study_id=study_id)
