"""Generation through an OpenAI-compatible chat completions endpoint: vLLM, SGLang, TGI,
llama.cpp's server, or a hosted API.

The server does the batching (continuous batching, tensor parallelism); this engine keeps
``concurrency`` requests in flight and yields the results as they come, in small batches
(:func:`~modeling.endpoint_requests.answers_in_flight`), so a job stores each answer soon
after it arrives and can stop between batches. Retries with exponential backoff on
timeouts, 408/409/429/5xx and lost connections are the ``openai`` client's own
(``max_retries``; it honours ``Retry-After``), each request given ``timeout`` seconds.

A request that still fails is that prompt's failure, not the run's end
(:func:`~modeling.endpoint_requests.request_failure`): the other prompts are asked and
yielded, and once every answer is out :class:`EndpointError` lists the prompts that got
none, so a retried job asks only those. A caller that keeps lasting failures itself (a
refusal asking again would meet too) takes them through ``on_lasting_failure``; they are
then not in the error. A prompt longer than the model's context, or
another request the server refuses (a 400), is told by its meaning and the server's
error type and param; any other failure by its status alone; never by the text the
server answered with (:mod:`modeling.endpoint_requests`). Only
a refusal every request would meet (401, 403, 404, an address the policy refuses) ends
the run at once; after ``give_up_after`` failures in a row (a server gone away) no new
request starts.

The key is the caller's (none: a placeholder, no key); with an ``address_policy`` the engine
connects to no address the policy refuses (:mod:`modeling.endpoint_policy`).

Behavior tokens are special tokens: a server drops them from the text unless asked to
keep them (``skip_special_tokens: false``, understood by vLLM and SGLang, sent when
``keep_special_tokens``). They are parsed and stripped here exactly as the local engine
does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from modeling.behavior import DEFAULT_BEHAVIOR_TOKENS, BehaviorTokens
from modeling.data import PROMPT_TEMPLATE_VERSION, build_messages
from modeling.endpoint_policy import AddressPolicy, EndpointRefused, openai_client, url_origin
from modeling.endpoint_requests import RequestFailure, answers_in_flight, failures_text, request_failure
from modeling.generate.engine import GenerationResult
from modeling.params import DecodingParams, EndpointParams
from modeling.progress import ProgressCallback, ProgressTracker, StopCheck

log = logging.getLogger(__name__)

# Takes a batch's lasting failures, as (the prompt's key, its failure) pairs.
LastingFailures = Callable[[list[tuple[str, RequestFailure]]], None]


class EndpointError(RuntimeError):
    """Prompts the endpoint did not answer (after the client's retries), or a refusal
    every request would meet."""


class EndpointEngine:
    """Chat completions against ``base_url`` for the served model ``model``.

    Greedy decoding (``temperature`` 0) unless ``do_sample``; ``seed`` is sent for servers
    that honour it. ``api_key`` is sent as given (local servers need none); none is read
    from the environment. ``concurrency``, ``timeout`` and ``max_retries``: how requests
    go (:class:`~modeling.params.EndpointParams`). ``address_policy``: the internal
    addresses the engine may connect to (None: any; EndpointRefused when the URL's host
    is refused now)."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None, *, max_new_tokens: int = DecodingParams.max_new_tokens,
                 do_sample: bool = DecodingParams.do_sample, temperature: float = DecodingParams.temperature, top_p: float = DecodingParams.top_p, seed: int | None = 0,
                 concurrency: int = EndpointParams.concurrency, max_retries: int = EndpointParams.max_retries,
                 timeout: float = EndpointParams.timeout_s, keep_special_tokens: bool = True,
                 behavior_tokens: BehaviorTokens | None = None, client=None,
                 address_policy: AddressPolicy | None = None, give_up_after: int | None = None):
        if int(max_new_tokens) < 1:
            raise ValueError("max_new_tokens must be at least 1")
        if client is None:
            client = openai_client(base_url, api_key, timeout=timeout, max_retries=max_retries,
                                   policy=address_policy)
        self.client = client
        self.base_url = base_url
        try:
            self.origin = url_origin(base_url)
        except ValueError:
            self.origin = base_url
        self.model = model
        self.max_new_tokens = int(max_new_tokens)
        self.do_sample = do_sample
        self.temperature = temperature
        self.top_p = top_p
        self.seed = seed
        self.concurrency = max(1, int(concurrency))
        self.max_retries = max_retries
        self.timeout = timeout
        self.give_up_after = give_up_after or max(8, 2 * self.concurrency)
        self.keep_special_tokens = keep_special_tokens
        self.behavior_tokens = behavior_tokens or DEFAULT_BEHAVIOR_TOKENS

    def decoding_params(self) -> dict:
        """What decides the output, for each response's provenance."""
        return {
            "strategy": "sample" if self.do_sample else "greedy",
            "do_sample": self.do_sample,
            "temperature": self.temperature if self.do_sample else 0.0,
            "top_p": self.top_p if self.do_sample else None,
            "max_new_tokens": self.max_new_tokens,
            "seed": self.seed,
            "keep_special_tokens": self.keep_special_tokens,
            "backend": "endpoint",
            "prompt_template": PROMPT_TEMPLATE_VERSION,
        }

    def _request(self, messages: list[dict]) -> dict:
        params = {"model": self.model, "messages": messages, "max_tokens": self.max_new_tokens,
                  "temperature": self.temperature if self.do_sample else 0.0}
        if self.do_sample:
            params["top_p"] = self.top_p
        if self.seed is not None:
            params["seed"] = self.seed
        if self.keep_special_tokens:
            params["extra_body"] = {"skip_special_tokens": False, "spaces_between_special_tokens": False}
        return params

    def _ask(self, prompt: tuple[str, list[dict]]) -> GenerationResult | RequestFailure:
        """One prompt's result, or its failure (raised where every request would meet it)."""
        import openai

        key, messages = prompt
        started = time.perf_counter()
        try:
            completion = self.client.chat.completions.create(**self._request(messages))
        except (openai.APIError, EndpointRefused) as exc:
            log.warning("endpoint %s, prompt %s: %s", self.origin, key, exc)  # the worker's log may hold the server's words
            failure = request_failure(self.origin, exc, retries=self.max_retries)
            if failure.kind == "fatal":
                raise EndpointError(failure.message) from None
            return failure
        if not completion.choices:
            return RequestFailure(f"{self.origin}: an answer without choices", "transient")
        choice = completion.choices[0]
        raw = choice.message.content or ""
        behavior, _ = self.behavior_tokens.parse(raw)
        usage = completion.usage
        return GenerationResult(
            key=key, text=self.behavior_tokens.strip(raw), raw_text=raw, predicted_behavior=behavior,
            prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
            latency_s=time.perf_counter() - started, finish_reason=choice.finish_reason,
            meta={"server_model": completion.model, "system_fingerprint": getattr(completion, "system_fingerprint", None)})

    def generate_iter(self, items: Iterable, progress: ProgressCallback | None = None,
                      should_stop: StopCheck | None = None, *, arm: str | None = None,
                      fewshot_pool: Sequence[Mapping] | None = None,
                      on_lasting_failure: LastingFailures | None = None) -> Iterator[list[GenerationResult]]:
        """Yield the results as they come, in small batches (``concurrency`` requests in
        flight); ``should_stop`` is asked after each answer. ``items`` as for the local
        engine: case dicts with ``arm``, or ``(key, messages)`` pairs. Once every answer
        is out, EndpointError lists the prompts that got none. With ``on_lasting_failure``,
        each batch's lasting failures (:attr:`RequestFailure.lasting`) go to it as ``(key,
        failure)`` pairs before the batch is yielded (an empty batch where nothing else
        came), and the error lists only the others."""
        prompts = []
        for item in items:
            if isinstance(item, Mapping):
                if arm is None:
                    raise ValueError("items are cases: pass arm=... to generate_iter")
                prompts.append((str(item["external_id"]), build_messages(item, arm, fewshot_pool)))
            else:
                prompts.append((str(item[0]), list(item[1])))
        tracker = ProgressTracker(len(prompts), progress, stage="generate")
        failures: list[tuple[str, str]] = []
        answered = 0
        for batch in answers_in_flight(self._ask, prompts, concurrency=self.concurrency, should_stop=should_stop,
                                       failed=lambda a: isinstance(a, RequestFailure) and not a.lasting,
                                       give_up_after=self.give_up_after):
            results = [a for _, a in batch if isinstance(a, GenerationResult)]
            failed = [(prompts[i][0], a) for i, a in batch if isinstance(a, RequestFailure)]
            keep = on_lasting_failure is not None
            kept = [(key, a) for key, a in failed if keep and a.lasting]
            failures += [(key, a.message) for key, a in failed if not (keep and a.lasting)]
            answered += len(batch)
            tracker.update(done=len(results) + len(kept), tokens=sum(r.completion_tokens for r in results))
            if kept:
                on_lasting_failure(kept)
            if results or kept:
                yield results
        unasked = 0 if should_stop is not None and should_stop() else len(prompts) - answered
        if failures or unasked:
            parts = [failures_text(failures, len(prompts))] if failures else []
            if unasked:
                parts.append(f"{unasked} not asked after {self.give_up_after} failures in a row")
            raise EndpointError("; ".join(parts)) from None
