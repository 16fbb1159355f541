"""The judge behind an OpenAI-compatible chat completions endpoint: probabilities from
``top_logprobs``, or averaged samples where the endpoint offers none.

A request that fails (after the client's retries) is that prompt's error, carried by its
result (``error``, method ``"error"``), never the run's end
(:mod:`modeling.endpoint_requests`): a prompt longer than the model's context, or another
400, is a lasting error told by its meaning (never the server's text); a timeout, a
server error or a lost connection a passing one, told by its status. Only a 400 that
says logprobs are unsupported switches an ``"auto"`` judge to sampling. A refusal every
request would meet (401, 403, 404, an address the policy refuses) and logprobs refused
to a judge that requires them raise :class:`~modeling.judge.base.JudgeError`."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Sequence

from modeling.endpoint_policy import AddressPolicy, EndpointRefused, openai_client, url_origin
from modeling.endpoint_requests import RequestFailure, answers_in_flight, request_failure
from modeling.judge.base import Judge, JudgeError, _Answer, _Query
from modeling.judge.scoring import distribution_from_top_logprobs, parse_label
from modeling.params import EndpointParams
from modeling.progress import StopCheck

log = logging.getLogger(__name__)


class _Failed(Exception):
    """A request failed for this query alone (:func:`~modeling.endpoint_requests.request_failure`)."""

    def __init__(self, failure: RequestFailure):
        super().__init__(failure.message)
        self.failure = failure


class OpenAIJudge(Judge):
    """A judge behind an OpenAI-compatible chat completions endpoint, called with the
    official ``openai`` client.

    ``logprobs``: True (required), False (never: sample), or ``"auto"`` (ask for
    ``top_logprobs``; when the endpoint rejects the parameter or returns none, sample
    from then on). Sampling asks for ``n_samples`` completions at ``temperature`` (and
    tops up with single requests when the endpoint ignores ``n``) and averages the
    parsed scores. Requests run ``concurrency`` at a time, each given ``timeout``
    seconds and ``max_retries`` retries (:class:`~modeling.params.EndpointParams`); the
    answers come back as they arrive. After ``give_up_after`` passing failures in a row
    (a server gone away) no new request starts.

    The score is read at the first position whose emitted token is a level and where
    the levels hold at least ``min_level_mass`` of the listed probability (a position
    where some alternative happens to be a digit, such as the "1" among the options
    after "Score", is not the score). An endpoint that returns only the emitted token's
    logprob gives a one-hot distribution, recorded as method ``"emitted"``: it carries
    no more than a sample does. Top-up samples (an endpoint ignoring ``n``) each get
    their own seed (``seed + k``), or a server honouring seeds would repeat one sample.

    ``api_key`` is sent as given (none: a placeholder; the environment is not read for one).
    ``address_policy``: the internal addresses the judge may connect to (None: any)."""

    def __init__(self, model: str, base_url: str | None = None, api_key: str | None = None, *,
                 logprobs: bool | str = "auto", top_logprobs: int = 20, n_samples: int = 10,
                 temperature: float = 1.0, max_tokens: int = 16, timeout: float = EndpointParams.timeout_s,
                 max_retries: int = EndpointParams.max_retries, concurrency: int = EndpointParams.concurrency,
                 seed: int | None = 0, use_reference: bool = False, client=None, min_level_mass: float = 0.5,
                 address_policy: AddressPolicy | None = None, give_up_after: int | None = None):
        super().__init__(use_reference=use_reference)
        if logprobs not in (True, False, "auto"):
            raise ValueError("logprobs must be True, False or 'auto'")
        if client is None:
            client = openai_client(base_url or None, api_key, timeout=timeout, max_retries=max_retries,
                                   policy=address_policy)
        self.client = client
        self.name = model
        self.base_url = str(getattr(client, "base_url", base_url or ""))
        try:
            self.origin = url_origin(self.base_url)
        except ValueError:
            self.origin = self.base_url
        self.logprobs = logprobs
        self._use_logprobs: bool | None = {True: True, False: False}.get(logprobs) if logprobs != "auto" else None
        self.top_logprobs = top_logprobs
        self.n_samples = max(1, int(n_samples))
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.concurrency = max(1, int(concurrency))
        self.timeout, self.max_retries = timeout, max_retries
        self.give_up_after = give_up_after or max(8, 2 * self.concurrency)
        self.seed = seed
        if not 0 <= min_level_mass <= 1:
            raise ValueError("min_level_mass must be between 0 and 1")
        self.min_level_mass = min_level_mass
        self._lock = threading.Lock()

    @property
    def method(self) -> str:
        return "samples" if self._use_logprobs is False else "logprobs"

    def describe(self) -> dict:
        return {**super().describe(), "base_url": self.base_url, "logprobs": self.logprobs,
                "top_logprobs": self.top_logprobs, "n_samples": self.n_samples, "temperature": self.temperature,
                "max_tokens": self.max_tokens, "seed": self.seed, "min_level_mass": self.min_level_mass,
                "concurrency": self.concurrency, "timeout_s": self.timeout, "max_retries": self.max_retries}

    def _answers(self, queries: list[_Query], should_stop: StopCheck | None
                 ) -> Iterator[tuple[list[int], list[_Answer]]]:
        for batch in answers_in_flight(self._ask, queries, concurrency=self.concurrency, should_stop=should_stop,
                                       failed=lambda a: a.failure is not None and not a.failure.lasting,
                                       give_up_after=self.give_up_after):
            yield [i for i, _ in batch], [a for _, a in batch]

    # -- one query ------------------------------------------------------------------------
    def _create(self, messages, *, seed_offset: int = 0, **kwargs):
        import openai

        params = {"model": self.name, "messages": messages, "max_tokens": self.max_tokens, **kwargs}
        if self.seed is not None:
            params["seed"] = self.seed + seed_offset
        try:
            return self.client.chat.completions.create(**params)
        except (openai.APIError, EndpointRefused) as exc:
            log.warning("endpoint %s: %s", self.origin, exc)  # the worker's log may hold the server's words
            failure = request_failure(self.origin, exc, retries=self.max_retries)
            if failure.kind == "fatal":
                raise JudgeError(failure.message) from None
            raise _Failed(failure) from None

    def _ask(self, query: _Query) -> _Answer:
        """The query's answer; a request that failed gives an answer holding its failure."""
        try:
            return self._ask_or_fail(query)
        except _Failed as failed:
            return _Answer.failed(failed.failure)

    def _ask_or_fail(self, query: _Query) -> _Answer:
        if self._use_logprobs is not False:
            try:
                completion = self._create(query.messages, temperature=0, logprobs=True,
                                          top_logprobs=self.top_logprobs)
            except _Failed as failed:
                if failed.failure.kind != "logprobs":
                    raise
                if self.logprobs is True:
                    raise JudgeError(failed.failure.message) from None
                log.info("endpoint %s refused logprobs; sampling instead", self.base_url)
                with self._lock:
                    self._use_logprobs = False
            else:
                answer = self._from_logprobs(completion, query.labels)
                if answer is not None:
                    with self._lock:
                        self._use_logprobs = True
                    return answer
                choice = completion.choices[0] if completion.choices else None
                if choice is None or choice.logprobs is None or not choice.logprobs.content:
                    if self.logprobs is True:
                        raise JudgeError("the endpoint returned no logprobs")
                    log.info("endpoint %s returned no logprobs; sampling instead", self.base_url)
                    with self._lock:
                        self._use_logprobs = False
                # else: logprobs came back but no position offered a level: sample this one.
        return self._sample(query)

    @staticmethod
    def _dump(completion) -> dict:
        try:
            return completion.model_dump(exclude_none=True)
        except AttributeError:
            return dict(completion)

    def _from_logprobs(self, completion, labels: Sequence[str]) -> _Answer | None:
        if not completion.choices:
            return None
        choice = completion.choices[0]
        content = choice.logprobs.content if choice.logprobs is not None else None
        if not content:
            return None
        wanted = set(labels)
        for position, token in enumerate(content):
            if (token.token or "").strip() not in wanted:
                continue  # the score is where a level was written, not where one was merely possible
            top = [(t.token, t.logprob) for t in (token.top_logprobs or [])]
            method = "logprobs"
            if not top:
                top, method = [(token.token, token.logprob)], "emitted"
            dist = distribution_from_top_logprobs(top, labels)
            if dist is not None and dist["mass"] >= self.min_level_mass:
                usage = getattr(completion, "usage", None)
                return _Answer(dist["probs"], dist["mass"], method,
                               raw={"position": position, "text": choice.message.content,
                                    "response": self._dump(completion)},
                               tokens=getattr(usage, "prompt_tokens", 0) or 0)
        return None

    def _sample(self, query: _Query) -> _Answer:
        texts: list[str | None] = []
        responses = []
        tokens = 0
        completion = self._create(query.messages, temperature=self.temperature, n=self.n_samples)
        while True:
            responses.append(self._dump(completion))
            texts += [c.message.content for c in completion.choices]
            usage = getattr(completion, "usage", None)
            tokens += getattr(usage, "prompt_tokens", 0) or 0
            if len(texts) >= self.n_samples or not completion.choices:
                break
            # The endpoint ignored n: ask for the rest one at a time, each with its own seed.
            completion = self._create(query.messages, temperature=self.temperature, seed_offset=len(texts))
        texts = texts[: self.n_samples]
        parsed = [parse_label(t, query.labels) for t in texts]
        counts = {label: parsed.count(label) for label in query.labels}
        n_ok = sum(counts.values())
        probs = {label: c / n_ok for label, c in counts.items()} if n_ok else {}
        return _Answer(probs, None, "samples", samples=parsed,
                       raw={"texts": texts, "responses": responses}, tokens=tokens)
