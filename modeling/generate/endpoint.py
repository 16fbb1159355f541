"""Generation through an OpenAI-compatible chat completions endpoint: vLLM, SGLang, TGI,
llama.cpp's server, or a hosted API.

The server does the batching (continuous batching, tensor parallelism); this engine keeps
``concurrency`` requests in flight and yields results in batches, like
:class:`~modeling.generate.engine.GenerationEngine`, so a job stores them and can stop
between batches. Retries with exponential backoff on 408/409/429/5xx, connection errors
and timeouts are the ``openai`` client's own (``max_retries``; it honours
``Retry-After``). A request that still fails ends the batch: the results that came back
are yielded first, then :class:`EndpointError` is raised, so a retried job redoes only
what is missing. Its message holds the server's status, never the body it answered with
(:func:`~modeling.endpoint_policy.remote_failure`).

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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from modeling.behavior import DEFAULT_BEHAVIOR_TOKENS, BehaviorTokens
from modeling.data import PROMPT_TEMPLATE_VERSION, build_messages
from modeling.endpoint_policy import AddressPolicy, EndpointRefused, openai_client, remote_failure, url_origin
from modeling.generate.engine import GenerationResult
from modeling.params import DecodingParams
from modeling.progress import ProgressCallback, ProgressTracker, StopCheck

log = logging.getLogger(__name__)


class EndpointError(RuntimeError):
    """A request the endpoint did not answer, after the client's retries."""


class EndpointEngine:
    """Chat completions against ``base_url`` for the served model ``model``.

    Greedy decoding (``temperature`` 0) unless ``do_sample``; ``seed`` is sent for servers
    that honour it. ``api_key`` is sent as given (local servers need none); none is read
    from the environment. ``address_policy``: the internal addresses the engine may
    connect to (None: any; EndpointRefused when the URL's host is refused now)."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None, *, max_new_tokens: int = DecodingParams.max_new_tokens,
                 do_sample: bool = DecodingParams.do_sample, temperature: float = DecodingParams.temperature, top_p: float = DecodingParams.top_p, seed: int | None = 0,
                 concurrency: int = 8, max_retries: int = 5, timeout: float = 120.0,
                 keep_special_tokens: bool = True, behavior_tokens: BehaviorTokens | None = None, client=None,
                 address_policy: AddressPolicy | None = None):
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

    def _ask(self, key: str, messages: list[dict]) -> GenerationResult:
        import openai

        started = time.perf_counter()
        try:
            completion = self.client.chat.completions.create(**self._request(messages))
        except openai.APIError as exc:
            log.warning("endpoint %s: %s", self.origin, exc)  # the worker's log may hold the server's words
            raise EndpointError(remote_failure(self.origin, exc)) from None
        except EndpointRefused as exc:
            raise EndpointError(f"{self.origin}: {exc}") from None
        if not completion.choices:
            raise EndpointError(f"{self.origin}: an answer without choices")
        choice = completion.choices[0]
        raw = choice.message.content or ""
        behavior, _ = self.behavior_tokens.parse(raw)
        usage = completion.usage
        return GenerationResult(
            key=key, text=self.behavior_tokens.strip(raw), raw_text=raw, predicted_behavior=behavior,
            prompt_tokens=getattr(usage, "prompt_tokens", 0) or 0,
            completion_tokens=getattr(usage, "completion_tokens", 0) or 0,
            latency_s=time.perf_counter() - started, finish_reason=choice.finish_reason or "stop",
            meta={"server_model": completion.model, "system_fingerprint": completion.system_fingerprint})

    def generate_iter(self, items: Iterable, progress: ProgressCallback | None = None,
                      should_stop: StopCheck | None = None, *, arm: str | None = None,
                      fewshot_pool: Sequence[Mapping] | None = None) -> Iterator[list[GenerationResult]]:
        """Yield one list of results per batch of ``4 x concurrency`` prompts (asked
        ``concurrency`` at a time); ``should_stop`` is asked before each batch. ``items``
        as for the local engine: case dicts with ``arm``, or ``(key, messages)`` pairs."""
        prompts = []
        for item in items:
            if isinstance(item, Mapping):
                if arm is None:
                    raise ValueError("items are cases: pass arm=... to generate_iter")
                prompts.append((str(item["external_id"]), build_messages(item, arm, fewshot_pool)))
            else:
                prompts.append((str(item[0]), list(item[1])))
        tracker = ProgressTracker(len(prompts), progress, stage="generate")
        size = 4 * self.concurrency
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            for start in range(0, len(prompts), size):
                if should_stop is not None and should_stop():
                    log.info("generation stopped after %d of %d prompts", tracker.done, len(prompts))
                    return
                futures = [pool.submit(self._ask, key, messages) for key, messages in prompts[start:start + size]]
                results, failure = [], None
                for future in futures:
                    try:
                        results.append(future.result())
                    except EndpointError as exc:
                        failure = failure or exc
                tracker.update(done=len(results), tokens=sum(r.completion_tokens for r in results))
                if results:
                    yield results
                if failure is not None:
                    raise failure
