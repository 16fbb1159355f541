"""Handing work to the Celery broker, by task name: the only place that talks to it.

Services enqueue through :func:`task_send` and never import a task module, so the
import graph has no circle (tasks import services, never the other way round).
"""

from __future__ import annotations

from annotations.errors import QueueUnavailable


def _redacted(url: str) -> str:
    from kombu.utils.url import maybe_sanitize_url

    return maybe_sanitize_url(url or "")


def task_send(name: str, *, args: list, queue: str, countdown: float | None = None, timeout: float = 3) -> str:
    """Send task ``name`` with ``args`` to ``queue``; returns the Celery task id.

    Fails within about ``timeout`` seconds, raising :class:`QueueUnavailable`, when the
    broker cannot be reached: Celery would otherwise keep retrying for minutes while an
    admin waits on the page."""
    from evalportal.celery import app

    try:
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=timeout)
            result = app.send_task(name, args=args, queue=queue, countdown=countdown, connection=connection,
                                   retry=False)
    except Exception as exc:  # kombu raises OperationalError, ConnectionError, socket errors...
        raise QueueUnavailable(
            f"The task queue at {_redacted(app.conf.broker_url)} cannot be reached ({exc.__class__.__name__}: "
            f"{exc}). Nothing was queued; start Redis (or check REDIS_URL) and try again.") from exc
    return result.id
