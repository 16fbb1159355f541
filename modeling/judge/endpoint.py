"""The judge behind an OpenAI-compatible chat completions endpoint: probabilities from
``top_logprobs``, or averaged samples where the endpoint offers none. A request that
fails raises :class:`~modeling.judge.base.JudgeError` with the server's status, never the
body it answered with."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from modeling.endpoint_policy import AddressPolicy, EndpointRefused, openai_client, remote_failure, url_origin
from modeling.judge.base import Judge, JudgeError, _Answer, _Query
from modeling.judge.scoring import distribution_from_top_logprobs, parse_label

log = logging.getLogger(__name__)


class OpenAIJudge(Judge):
    """A judge behind an OpenAI-compatible chat completions endpoint, called with the
    official ``openai`` client.

    ``logprobs``: True (required), False (never: sample), or ``"auto"`` (ask for
    ``top_logprobs``; when the endpoint rejects the parameter or returns none, sample
    from then on). Sampling asks for ``n_samples`` completions at ``temperature`` (and
    tops up with single requests when the endpoint ignores ``n``) and averages the
    parsed scores. Requests run ``concurrency`` at a time.

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
                 temperature: float = 1.0, max_tokens: int = 16, timeout: float = 60.0, max_retries: int = 2,
                 concurrency: int = 4, seed: int | None = 0, use_reference: bool = False, client=None,
                 min_level_mass: float = 0.5, address_policy: AddressPolicy | None = None):
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
                "max_tokens": self.max_tokens, "seed": self.seed, "min_level_mass": self.min_level_mass}

    def _plan(self, queries: list[_Query]) -> list[list[int]]:
        size = self.concurrency * 2
        return [list(range(i, min(i + size, len(queries)))) for i in range(0, len(queries), size)]

    def _answer(self, queries: list[_Query]) -> list[_Answer]:
        if self.concurrency == 1 or len(queries) == 1:
            return [self._ask(q) for q in queries]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(queries))) as pool:
            return list(pool.map(self._ask, queries))

    # -- one query ------------------------------------------------------------------------
    def _create(self, messages, *, seed_offset: int = 0, **kwargs):
        import openai

        params = {"model": self.name, "messages": messages, "max_tokens": self.max_tokens, **kwargs}
        if self.seed is not None:
            params["seed"] = self.seed + seed_offset
        try:
            return self.client.chat.completions.create(**params)
        except openai.BadRequestError:
            if kwargs.get("logprobs"):
                raise  # the logprobs may be what the endpoint refused: _ask decides
            raise JudgeError(f"{self.origin}: the endpoint answered HTTP 400") from None
        except openai.APIError as exc:
            log.warning("endpoint %s: %s", self.origin, exc)  # the worker's log may hold the server's words
            raise JudgeError(remote_failure(self.origin, exc)) from None
        except EndpointRefused as exc:
            raise JudgeError(f"{self.origin}: {exc}") from None

    def _ask(self, query: _Query) -> _Answer:
        if self._use_logprobs is not False:
            import openai

            try:
                completion = self._create(query.messages, temperature=0, logprobs=True,
                                          top_logprobs=self.top_logprobs)
            except openai.BadRequestError as exc:
                if self.logprobs is True:
                    raise JudgeError(f"{self.origin}: the endpoint refused logprobs "
                                     f"(HTTP {exc.status_code})") from None
                log.info("endpoint %s refused logprobs (%s); sampling instead", self.base_url, exc)
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
