"""Handing work to the Celery broker, by task name: the only place that talks to it.

Services enqueue through :func:`task_send` and never import a task module, so the
import graph has no circle (tasks import services, never the other way round).
"""

from __future__ import annotations

from annotations.errors import QueueUnavailable


def _redacted(url: str) -> str:
    from kombu.utils.url import maybe_sanitize_url

    return maybe_sanitize_url(url or "")


def task_send(name: str, *, args: list, queue: str, task_id: str | None = None, countdown: float | None = None,
              timeout: float = 3) -> str:
    """Send task ``name`` with ``args`` to ``queue`` (under ``task_id`` when given);
    returns the Celery task id.

    Fails within about ``timeout`` seconds, raising :class:`QueueUnavailable`, when the
    broker cannot be reached: Celery would otherwise keep retrying for minutes while an
    admin waits on the page."""
    return tasks_send(name, args_list=[args], queue=queue, task_ids=[task_id] if task_id else None,
                      countdown=countdown, timeout=timeout)[0]


def tasks_send(name: str, *, args_list: list[list], queue: str, task_ids: list[str] | None = None,
               countdown: float | None = None, timeout: float = 3) -> list[str]:
    """Send task ``name`` once for each ``args`` of ``args_list`` over one broker
    connection (a job's chunks), under ``task_ids`` when given; as :func:`task_send`."""
    from evalportal.celery import app

    ids = task_ids or [None] * len(args_list)
    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=timeout)
            return [app.send_task(name, args=args, queue=queue, countdown=countdown, task_id=task_id,
                                  connection=connection, retry=False).id for args, task_id in zip(args_list, ids)]
    except Exception as exc:  # kombu raises OperationalError, ConnectionError, socket errors...
        raise QueueUnavailable(
            f"The task queue at {_redacted(app.conf.broker_url)} cannot be reached ({exc.__class__.__name__}: "
            f"{exc}). Nothing was queued; start Redis (or check REDIS_URL) and try again.") from exc


def tasks_revoke(task_ids: list[str]) -> bool:
    """Ask the workers to drop the messages sent under ``task_ids`` (a cancelled job's);
    False when the broker could not be told. Runners check their job anyway, so a
    message that slips through changes nothing."""
    from evalportal.celery import app

    try:
        app.control.revoke(list(task_ids))
    except Exception:  # kombu's connection errors, as for a send
        return False
    return True


def current_task_id() -> str:
    """The id of the Celery message the calling code runs for ("" outside a task): a job's
    runner compares it with the id its job (or chunk) was last sent under, and leaves
    alone what a later send has taken over."""
    from celery import current_task

    request = getattr(current_task, "request", None) if current_task else None
    return (getattr(request, "id", None) or "") if request is not None else ""
