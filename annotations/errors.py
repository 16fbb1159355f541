"""Domain errors: what services and selectors raise when a request cannot be done.

Each carries the HTTP status it means; :mod:`annotations.http_errors` is the one place
that turns them into HTTP answers, for the pages and for the REST API alike. Services
never raise Django's ``Http404`` or DRF's exceptions themselves.
"""

from __future__ import annotations


class DomainError(Exception):
    """A request the portal refuses; the message says why, in words for the user."""

    status = 400
    code = "invalid"


class NotFound(DomainError):
    """The object does not exist, or the user may not know that it does."""

    status = 404
    code = "not_found"


class InvalidRequest(DomainError, ValueError):
    """Validation: the request is malformed or names things that do not fit (an unknown case,
    an arm of another study, a number out of range); nothing changed."""


class StateConflict(DomainError):
    """State: the request is well formed, but what it acts on is not in a state that allows it
    (a study already open, a job already finished); nothing changed."""

    status = 409
    code = "conflict"


class JobStateError(StateConflict):
    """A job cannot be cancelled or retried in the state it is in."""

    code = "job_state"


class QueueUnavailable(DomainError):
    """The task queue (Redis) could not be reached; nothing was queued."""

    status = 503
    code = "queue_unavailable"


class StudyNotOpen(StateConflict):
    """The study does not take ratings now (closed, or not yet open); the message says why."""

    status = 409
    code = "study_not_open"


class SignInRefused(DomainError):
    """A hospital sign-in the portal does not let in (no role in the claims, an address the
    provider did not vouch for, an account it may not enter); nothing changed."""

    status = 403
    code = "sign_in_refused"
