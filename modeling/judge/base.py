"""The judge's requests and results, and :class:`Judge`, the base class that turns
requests into prompts, runs them batch by batch (with progress and cancellation) and
reads the results from the answers a subclass gives (:class:`~modeling.judge.local.LocalJudge`,
:class:`~modeling.judge.endpoint.OpenAIJudge`)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field

from modeling.endpoint_requests import RequestFailure
from modeling.judge.dimensions import OVERALL, JudgeDimension
from modeling.judge.prompts import (
    CHOICES,
    JUDGE_PROMPT_VERSION,
    YES_NO,
    pairwise_messages,
    planted_messages,
    score_messages,
)
from modeling.judge.scoring import debiased_preference, expected_value, is_consistent, preference
from modeling.progress import ProgressCallback, ProgressTracker, StopCheck

log = logging.getLogger(__name__)


class JudgeError(RuntimeError):
    """The judge cannot score as asked (a scale its tokenizer cannot read, an endpoint
    that fails, ...); the message says what to change."""


# -- requests and results --------------------------------------------------------------------

@dataclass
class ScoreRequest:
    key: str  # the caller's id of the response (a Response pk, "external_id|arm", ...)
    case: Mapping
    response: str | None
    dimension: JudgeDimension
    reference: str | None = None


@dataclass
class PairRequest:
    key: str
    case: Mapping
    response_a: str | None
    response_b: str | None
    dimension: JudgeDimension = OVERALL


@dataclass
class PlantedRequest:
    key: str
    case: Mapping
    response: str | None
    problem: str  # the summary of the case's planted problem


@dataclass
class ScoreResult:
    key: str
    dimension: str
    score: float | None  # on the dimension's stored scale (1-5, or 0-1)
    judge_score: float | None  # on the judge's own scale (the probability-weighted mean)
    method: str  # "logits", "logprobs", "emitted" (the emitted token only: one-hot) or "samples"
    distribution: dict[str, float]  # level -> probability (renormalised), or share of samples
    mass: float | None  # probability on the level tokens before renormalising (None for samples)
    samples: list[str | None] | None
    prompt: dict  # {"messages": [...], "prefill": ..., "prompt_version": ...}
    raw_output: dict
    model: str
    error: str | None = None  # the request failed: no score (method "error")
    error_lasting: bool = False  # asking again gets the same answer (a prompt too long, a 400)
    tokens: int = 0  # tokens the judge read and wrote for it

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class PairResult:
    key: str
    dimension: str
    prob_a_first: float | None  # P(judge prefers response a) when a is shown first
    prob_a_second: float | None  # ... when a is shown second
    method: str
    prompt: dict  # {"ab": {...}, "ba": {...}}
    raw_output: dict  # {"ab": ..., "ba": ...}
    model: str
    error: str | None = None  # either order's request failed
    error_lasting: bool = False
    tokens: int = 0

    @property
    def prob_a(self) -> float | None:
        """P(a is better), averaged over both orders (the position-debiased preference)."""
        return debiased_preference(self.prob_a_first, self.prob_a_second)

    @property
    def choice_first(self) -> str | None:
        return preference(self.prob_a_first)

    @property
    def choice_second(self) -> str | None:
        return preference(self.prob_a_second)

    @property
    def consistent(self) -> bool | None:
        """True when the judge prefers the same response in both orders (None when
        either order gives no preference): :func:`~modeling.judge.scoring.is_consistent`."""
        return is_consistent(self.prob_a_first, self.prob_a_second)

    def as_dict(self) -> dict:
        out = asdict(self)
        out.update(prob_a=self.prob_a, choice_first=self.choice_first, choice_second=self.choice_second,
                   consistent=self.consistent)
        return out


@dataclass
class PlantedResult:
    key: str
    prob_named: float | None  # P(the judge answers Yes), renormalised over Yes and No
    method: str
    mass: float | None
    samples: list[str | None] | None
    prompt: dict
    raw_output: dict
    model: str
    error: str | None = None
    error_lasting: bool = False
    tokens: int = 0

    @property
    def named(self) -> bool | None:
        """The judge's reading: named above one half, not named below, None when undecided."""
        if self.prob_named is None or self.prob_named == 0.5:
            return None
        return self.prob_named > 0.5

    def as_dict(self) -> dict:
        return {**asdict(self), "named": self.named}


@dataclass
class _Query:
    messages: list[dict]
    labels: list[str]
    prefill: str  # what the assistant turn starts with (local judges only)


@dataclass
class _Answer:
    probs: dict[str, float]
    mass: float | None
    method: str
    samples: list[str | None] | None = None
    raw: dict = field(default_factory=dict)
    tokens: int = 0
    failure: RequestFailure | None = None

    @classmethod
    def failed(cls, failure: RequestFailure) -> _Answer:
        return cls({}, None, "error", raw={"error": failure.message}, failure=failure)

    @property
    def error(self) -> str | None:
        return self.failure.message if self.failure else None

    @property
    def error_lasting(self) -> bool:
        return bool(self.failure and self.failure.lasting)


# -- the judges ------------------------------------------------------------------------------------

class Judge:
    """Scores and compares responses; subclasses answer batches of queries."""

    name = "judge"
    method = ""

    def __init__(self, *, use_reference: bool = False):
        self.use_reference = use_reference

    # subclass interface
    def _plan(self, queries: list[_Query]) -> list[list[int]]:
        raise NotImplementedError

    def _answer(self, queries: list[_Query]) -> list[_Answer]:
        raise NotImplementedError

    def _prefill(self, kind: str) -> str:
        return ""

    def describe(self) -> dict:
        """What decides the judge's output, for provenance."""
        return {"judge": type(self).__name__, "model": self.name, "prompt_version": JUDGE_PROMPT_VERSION,
                "use_reference": self.use_reference}

    # -- queries -------------------------------------------------------------------------
    def _score_query(self, request: ScoreRequest) -> _Query:
        reference = request.reference if self.use_reference else None
        return _Query(score_messages(request.case, request.response, request.dimension, reference=reference),
                      request.dimension.labels, self._prefill("score"))

    def _pair_queries(self, request: PairRequest) -> tuple[_Query, _Query]:
        dim = request.dimension
        ab = _Query(pairwise_messages(request.case, request.response_a, request.response_b, dim), list(CHOICES),
                    self._prefill("choice"))
        ba = _Query(pairwise_messages(request.case, request.response_b, request.response_a, dim), list(CHOICES),
                    self._prefill("choice"))
        return ab, ba

    def _planted_query(self, request: PlantedRequest) -> _Query:
        return _Query(planted_messages(request.case, request.response, request.problem), list(YES_NO),
                      self._prefill("planted"))

    @staticmethod
    def _prompt_record(query: _Query) -> dict:
        record = {"messages": query.messages, "prompt_version": JUDGE_PROMPT_VERSION, "labels": query.labels}
        if query.prefill:
            record["prefill"] = query.prefill
        return record

    def _answers(self, queries: list[_Query], should_stop: StopCheck | None
                 ) -> Iterator[tuple[list[int], list[_Answer]]]:
        """The answers, batch by batch (``_plan``), ``should_stop`` asked before each;
        a judge that answers one query at a time yields them as they come instead."""
        for batch in self._plan(queries):
            if should_stop is not None and should_stop():
                return
            yield batch, self._answer([queries[i] for i in batch])

    def _run(self, queries: list[_Query], progress: ProgressCallback | None, should_stop: StopCheck | None
             ) -> Iterator[tuple[list[int], list[_Answer]]]:
        tracker = ProgressTracker(len(queries), progress, stage="judge")
        if progress is not None:
            tracker.update()
        for batch, answers in self._answers(queries, should_stop):
            tracker.update(done=len(batch), tokens=sum(a.tokens for a in answers))
            yield batch, answers
        if tracker.done < len(queries):
            log.info("judging stopped after %d of %d prompts", tracker.done, len(queries))

    # -- public API ---------------------------------------------------------------------------
    def score_iter(self, requests: Sequence[ScoreRequest], progress: ProgressCallback | None = None,
                   should_stop: StopCheck | None = None) -> Iterator[list[ScoreResult]]:
        """Yield the results one batch at a time, as they come (so a caller can store
        them and stop between batches; ``should_stop`` is asked before each batch, and by
        an endpoint judge after each answer). A result whose request failed carries its
        ``error``."""
        requests = list(requests)
        queries = [self._score_query(r) for r in requests]
        for batch, answers in self._run(queries, progress, should_stop):
            results = []
            for i, answer in zip(batch, answers):
                request, query = requests[i], queries[i]
                judge_score = expected_value(answer.probs)
                results.append(ScoreResult(
                    key=request.key, dimension=request.dimension.key, score=request.dimension.to_output(judge_score),
                    judge_score=judge_score, method=answer.method, distribution=answer.probs, mass=answer.mass,
                    samples=answer.samples, prompt=self._prompt_record(query), raw_output=answer.raw, model=self.name,
                    error=answer.error, error_lasting=answer.error_lasting, tokens=answer.tokens))
            yield results

    def score(self, requests: Sequence[ScoreRequest], progress: ProgressCallback | None = None) -> list[ScoreResult]:
        """Every result, in the order of ``requests`` (``score_iter`` yields them as they come)."""
        requests = list(requests)
        order = {(r.key, r.dimension.key): i for i, r in enumerate(requests)}
        return sorted((r for batch in self.score_iter(requests, progress) for r in batch),
                      key=lambda r: order[(r.key, r.dimension)])

    def compare_iter(self, requests: Sequence[PairRequest], progress: ProgressCallback | None = None,
                     should_stop: StopCheck | None = None) -> Iterator[list[PairResult]]:
        """Each pair asked in both orders; one result per pair, yielded per batch of pairs."""
        requests = list(requests)
        queries: list[_Query] = []
        for request in requests:
            queries.extend(self._pair_queries(request))
        pending: dict[int, _Answer] = {}
        for batch, answers in self._run(queries, progress, should_stop):
            pending.update(zip(batch, answers))
            finished = sorted({i // 2 for i in batch if i ^ 1 in pending and i in pending})
            results = []
            for p in finished:
                ab, ba = pending.pop(2 * p), pending.pop(2 * p + 1)
                request = requests[p]
                failed = [a for a in (ab, ba) if a.failure is not None]
                results.append(PairResult(
                    key=request.key, dimension=request.dimension.key,
                    prob_a_first=ab.probs.get("A") if ab.probs else None,
                    prob_a_second=ba.probs.get("B") if ba.probs else None,
                    method=ab.method if ab.method == ba.method else f"{ab.method}/{ba.method}",
                    prompt={"ab": self._prompt_record(queries[2 * p]), "ba": self._prompt_record(queries[2 * p + 1])},
                    raw_output={"ab": {**ab.raw, "distribution": ab.probs, "mass": ab.mass, "samples": ab.samples},
                                "ba": {**ba.raw, "distribution": ba.probs, "mass": ba.mass, "samples": ba.samples}},
                    model=self.name, error="; ".join(a.error for a in failed) or None,
                    error_lasting=bool(failed) and all(a.error_lasting for a in failed), tokens=ab.tokens + ba.tokens))
            if results:
                yield results

    def planted_iter(self, requests: Sequence[PlantedRequest], progress: ProgressCallback | None = None,
                     should_stop: StopCheck | None = None) -> Iterator[list[PlantedResult]]:
        """Whether each response names its case's planted problem, yielded per batch."""
        requests = list(requests)
        queries = [self._planted_query(r) for r in requests]
        for batch, answers in self._run(queries, progress, should_stop):
            yield [PlantedResult(key=requests[i].key, prob_named=answer.probs.get(YES_NO[0]) if answer.probs else None,
                                 method=answer.method, mass=answer.mass, samples=answer.samples,
                                 prompt=self._prompt_record(queries[i]), raw_output=answer.raw, model=self.name,
                                 error=answer.error, error_lasting=answer.error_lasting, tokens=answer.tokens)
                   for i, answer in zip(batch, answers)]

    def planted(self, requests: Sequence[PlantedRequest]) -> list[PlantedResult]:
        requests = list(requests)
        order = {r.key: i for i, r in enumerate(requests)}
        return sorted((r for batch in self.planted_iter(requests) for r in batch), key=lambda r: order[r.key])

    def compare(self, requests: Sequence[PairRequest], progress: ProgressCallback | None = None) -> list[PairResult]:
        requests = list(requests)
        order = {(r.key, r.dimension.key): i for i, r in enumerate(requests)}
        return sorted((r for batch in self.compare_iter(requests, progress) for r in batch),
                      key=lambda r: order[(r.key, r.dimension)])
