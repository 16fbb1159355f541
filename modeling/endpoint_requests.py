"""Many requests to an OpenAI-compatible server, and what each failure means, for both
clients of such servers: the generation engine (:mod:`modeling.generate.endpoint`) and
the judge (:mod:`modeling.judge.endpoint`).

- :func:`answers_in_flight` keeps ``concurrency`` requests in flight and hands the
  answers back as they come, in small batches (at most ``concurrency`` answers, or what
  came in about a second), so a caller stores each answer soon after it arrives and a
  slow server's progress moves with every answer.
- :func:`request_failure` reads a failed request by its meaning. A request that still
  fails after the ``openai`` client's retries (with backoff, on timeouts, 408/409/429,
  5xx and lost connections) is *that item's* failure: ``transient`` (asking again later
  may work) or lasting (a 400 or 422: the prompt longer than the model's context, a
  parameter the server refuses; asking again gets the same answer). Only a refusal that
  would meet every request (401, 403, 404: the key, the model's name) ends a run.

A 400 is told by what it means, in our words, with the server's own ``type``, ``code``
and ``param`` where they are names (``invalid_request_error``, ``seed``): they say what to
change. Its free-text message is not kept: a server's words may hold whatever it keeps
(a password in a proxy's error), and the message is stored where others read it (the
worker's log has it). Every other failure is told by its status alone
(:func:`~modeling.endpoint_policy.remote_failure`).
Plain Python: no Django; openai is imported when a failure is read."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

from modeling.endpoint_policy import EndpointRefused, remote_failure

# The failures a message lists by prompt; the rest are counted.
LISTED_FAILURES = 5
# A batch of answers is handed back once it is this old (or holds `concurrency` answers).
BATCH_S = 1.0

# OpenAI and llama-cpp-python say "context_length_exceeded"; llama.cpp's server
# "exceed_context_size_error"; vLLM, SGLang and TGI say it in words only.
_CONTEXT_CODES = {"context_length_exceeded", "exceed_context_size_error"}
_CONTEXT_WORDS = re.compile(
    r"maximum context length|context (?:size|window|length)|max_model_len|maximum model length|"
    r"longer than the maximum|prompt is too long|too many (?:input )?tokens|tokens \+ `?max_new_tokens`? must be",
    re.IGNORECASE)
_LOGPROBS_PARAMS = {"logprobs", "top_logprobs"}
_LOGPROBS_WORDS = re.compile(r"logprob", re.IGNORECASE)
# What of a 400's type, code and param is kept: a name, nothing that could be a secret's text.
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.]{0,39}")


@dataclass(frozen=True)
class RequestFailure:
    """One request that got no usable answer: ``message`` (stored where researchers read
    it) and ``kind``: ``"context"`` (the prompt is longer than the model's context),
    ``"logprobs"`` (the server refuses logprobs), ``"refused"`` (another 400 or 422),
    ``"transient"`` (timed out, a server error, a rate limit or no connection, after the
    retries) or ``"fatal"`` (every request would meet it: the key, the model's name, an
    address the policy refuses)."""

    message: str
    kind: str

    @property
    def lasting(self) -> bool:
        """Asking the same again gets the same answer."""
        return self.kind in ("context", "logprobs", "refused")


def _server_words(exc) -> tuple[str, str, str, str, dict]:
    """The error's type, code, param and message as the server sent them, and its body."""
    body = getattr(exc, "body", None)
    body = body if isinstance(body, dict) else {}
    inner = body.get("error") if isinstance(body.get("error"), dict) else body
    message = inner.get("message") if isinstance(inner.get("message"), str) else str(getattr(exc, "message", ""))
    return (str(inner.get("type") or ""), str(inner.get("code") or getattr(exc, "code", "") or ""),
            str(inner.get("param") or ""), message, inner)


def _names(kind: str, code: str, param: str) -> str:
    """The server's type, code and param where each is a name, as ``: type, code, param p``."""
    shown = [w for w in (kind, code) if _NAME.fullmatch(w)]
    if _NAME.fullmatch(param):
        shown.append(f"param {param}")
    return f": {', '.join(dict.fromkeys(shown))}" if shown else ""


def _context_detail(message: str, body: dict) -> str:
    prompt = body.get("n_prompt_tokens") or _first(r"requested (\d+) tokens|length (\d+)\)", message)
    limit = body.get("n_ctx") or _first(r"maximum (?:context|model) length (?:is |of )?(\d+)", message)
    parts = [f"{int(prompt)} tokens asked" if str(prompt).isdigit() else "",
             f"the context holds {int(limit)}" if str(limit).isdigit() else ""]
    shown = ", ".join(p for p in parts if p)
    return f" ({shown})" if shown else ""


def _first(pattern: str, text: str) -> str:
    match = re.search(pattern, text, re.IGNORECASE)
    return next((g for g in match.groups() if g), "") if match else ""


def request_failure(origin: str, exc: BaseException, *, retries: int = 0) -> RequestFailure:
    """What a request to ``origin`` that raised ``exc`` (an ``openai`` error, or
    :class:`~modeling.endpoint_policy.EndpointRefused`) means, after ``retries`` retries."""
    if isinstance(exc, EndpointRefused):
        return RequestFailure(f"{origin}: {exc}", "fatal")
    status = getattr(exc, "status_code", None)
    if status in (400, 422):
        kind, code, param, message, body = _server_words(exc)
        if code in _CONTEXT_CODES or kind in _CONTEXT_CODES or _CONTEXT_WORDS.search(message):
            return RequestFailure(f"{origin}: the prompt is longer than the model's context (HTTP {status})"
                                  f"{_context_detail(message, body)}", "context")
        if param in _LOGPROBS_PARAMS or _LOGPROBS_WORDS.search(message):
            return RequestFailure(f"{origin}: the endpoint refuses logprobs (HTTP {status})", "logprobs")
        return RequestFailure(f"{origin}: the endpoint refused the request (HTTP {status}"
                              f"{_names(kind, code, param)})", "refused")
    if status in (401, 403, 404):
        return RequestFailure(remote_failure(origin, exc), "fatal")
    after = f" (after {retries} retr{'y' if retries == 1 else 'ies'})" if retries else ""
    return RequestFailure(remote_failure(origin, exc) + after, "transient")


def failures_text(failures: Sequence[tuple[str, str]], asked: int) -> str:
    """``failures`` (what was asked, the failure's message) of ``asked`` prompts, in one message."""
    shown = "; ".join(f"{what}: {message}" for what, message in failures[:LISTED_FAILURES])
    more = f"; and {len(failures) - LISTED_FAILURES} more" if len(failures) > LISTED_FAILURES else ""
    return f"{len(failures)} of {asked} prompts got no answer ({shown}{more})"


def answers_in_flight(ask: Callable[[Any], Any], items: Sequence, *, concurrency: int,
                      should_stop: Callable[[], bool] | None = None,
                      failed: Callable[[Any], bool] = lambda answer: False,
                      give_up_after: int | None = None) -> Iterator[list[tuple[int, Any]]]:
    """``ask(item)`` for each item, ``concurrency`` at a time; yields lists of ``(index,
    answer)`` as the answers come (a list once it holds ``concurrency`` answers or is
    :data:`BATCH_S` old). ``should_stop`` is asked after each answer: once it says so,
    no new request starts and those in flight are still handed back. After
    ``give_up_after`` answers in a row that ``failed`` (a server gone away), no new
    request starts either: the caller tells that from the items left unanswered.
    An exception ``ask`` raises ends the iteration (after the requests in flight end)."""
    concurrency = max(1, int(concurrency))
    next_index, in_row, stopped = 0, 0, False
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        pending: dict = {}

        def fill() -> None:
            nonlocal next_index
            while not stopped and len(pending) < concurrency and next_index < len(items):
                pending[pool.submit(ask, items[next_index])] = next_index
                next_index += 1

        fill()
        batch: list[tuple[int, Any]] = []
        started = time.monotonic()
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in sorted(done, key=pending.get):
                index = pending.pop(future)
                answer = future.result()
                batch.append((index, answer))
                in_row = in_row + 1 if failed(answer) else 0
            if (should_stop is not None and should_stop()) or (give_up_after and in_row >= give_up_after):
                stopped = True
            if batch and (len(batch) >= concurrency or time.monotonic() - started >= BATCH_S or not pending):
                yield batch
                batch, started = [], time.monotonic()
                if should_stop is not None and should_stop():
                    stopped = True
            fill()
        if batch:
            yield batch
