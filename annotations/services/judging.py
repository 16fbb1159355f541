"""Judge jobs: an LLM judge (:mod:`modeling.judge`) scores a study's responses on a GPU
worker or through an OpenAI-compatible endpoint. Queued here; :func:`judge_chunk_run`
writes scores idempotently per (job, response, dimension), comparisons per (job, pair,
dimension) and planted-problem readings per (job, response), so a retried job asks only
what is missing, then analyses the scores against the clinicians' ratings
(:mod:`annotations.services.judge_analysis`).

A job with ``planted`` also asks, for each response to a case with a planted problem,
whether the response names it (:meth:`modeling.judge.Judge.planted_iter`), stored as
:class:`~annotations.models.judge.JudgePlantedReading`; with no dimensions it asks only
that. The study's automatic metrics can then read it (``Study.planted_reading_job``).

An endpoint judge's answers are stored as they come (with the progress they make, in one
transaction each). A prompt whose request failed for good (longer than the judge's
context, another 400) is stored with no score and method ``error``; one that failed for
now (a timeout, a server error, no connection) is not stored, and the chunk ends failed
naming those (:class:`JudgeUnanswered`), so a retry asks only them.

Judge output is researcher-only: nothing here is read by a clinician page."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Sequence

from django.conf import settings
from django.db import transaction
from django.db.models import Count, QuerySet

from annotations import worker_runtime
from annotations.endpoint_policy import address_policy, endpoint_url_problem, key_origins
from annotations.errors import InvalidRequest
from annotations.model_refs import model_ref_check
from annotations.models import Case, Response, Study, StudyArm
from annotations.models.judge import JudgeComparison, JudgeJob, JudgePlantedReading, JudgeScore
from annotations.selectors.arms import study_arm_ids
from annotations.selectors.responses import newest_responses
from annotations.services.chunks import ChunkProgress, chunk_run, chunks_plan
from annotations.services.jobs import job_create
from annotations.services.judge_results import judge_comparisons_write, judge_planted_write, judge_scores_write
from modeling.endpoint_policy import url_origin
from modeling.endpoint_requests import failures_text
from modeling.params import JudgeParams, param_specs, params_dict, params_with_defaults

logger = logging.getLogger(__name__)

OPENAI_BASE_URL = "https://api.openai.com/v1"


def judge_setting(name: str, default: str = "") -> str:
    """A judge setting: Django settings first, then the environment (so a worker can be
    configured without touching the settings), then ``default``."""
    value = getattr(settings, name, None)
    if value in (None, ""):
        value = os.environ.get(name, "")
    return value or default


def judge_base_url() -> str:
    """The deployment's judge endpoint: ``JUDGE_OPENAI_BASE_URL``, else OpenAI's."""
    return judge_setting("JUDGE_OPENAI_BASE_URL", OPENAI_BASE_URL)


def judge_api_key(base_url: str) -> str | None:
    """``JUDGE_OPENAI_API_KEY`` when ``base_url`` is on a server the key belongs to: the
    deployment's judge endpoint (:func:`judge_base_url`) or an origin
    ``EVALPORTAL_ENDPOINT_KEYS`` lists for it. A job naming another server gets no key."""
    key = judge_setting("JUDGE_OPENAI_API_KEY")
    if not key:
        return None
    allowed = {url_origin(judge_base_url()), *key_origins("JUDGE_OPENAI_API_KEY")}
    if url_origin(base_url) not in allowed:
        logger.info("judge endpoint %s is not among %s: no API key sent", url_origin(base_url), sorted(allowed))
        return None
    return key


# -- what a job judges ----------------------------------------------------------------------

def judge_responses_for(study: Study, arms: Iterable | None = None) -> list[int]:
    """Ids of the newest response of each study arm to each test case (what the
    clinicians compare)."""
    arm_ids = [a.pk if hasattr(a, "pk") else a for a in arms] if arms is not None else None
    return sorted(newest_responses(study, arm_ids=arm_ids).values_list("id", flat=True))


def judge_pairs(responses: Sequence[Response], study: Study) -> list[tuple[Response, Response]]:
    """Each case's responses paired (i < j in the study's arm order), for pairwise
    comparison."""
    position = dict(StudyArm.objects.filter(study=study).values_list("arm_id", "position"))
    by_case: dict[int, list[Response]] = {}
    for response in responses:
        by_case.setdefault(response.case_id, []).append(response)
    pairs = []
    for case_id in sorted(by_case):
        rows = sorted(by_case[case_id], key=lambda r: (position.get(r.arm_id, 1 << 15), r.arm_id, r.pk))
        pairs += [(rows[i], rows[j]) for i in range(len(rows)) for j in range(i + 1, len(rows))]
    return pairs


# -- queue ----------------------------------------------------------------------------------------

def planted_problems(study: Study, case_ids: Iterable[int]) -> dict[int, str]:
    """Case id -> the planted problem in words (what the judge is told), for the study's
    cases among ``case_ids`` that plant a problem."""
    from modeling.planted import problem_description

    wanted = set(case_ids)
    out = {}
    for pk, planted in Case.objects.filter(study=study).values_list("pk", "planted_problem").iterator(
            chunk_size=5000):
        problem = problem_description(planted) if pk in wanted else None
        if problem:
            out[pk] = problem
    return out


def judge_job_queue(*, study: Study, kind: str = JudgeJob.Kind.LOCAL, model_ref: str = "",
                    dimensions: Sequence | None = None, pairwise: bool = False, params: dict | None = None,
                    base_url: str = "", adapter_path: str = "", responses: Iterable | None = None,
                    arms: Iterable | None = None, planted: bool = False, actor=None) -> JudgeJob:
    """Queue a judge job over the newest response of each of ``arms`` (default: every
    study arm) to each test case, or over the listed ``responses`` (of ``arms``, where
    both are given). With ``planted`` the judge also reads whether each response to a
    case with a planted problem names it; ``planted`` with ``dimensions=[]`` asks only
    that. ``params``: :class:`~modeling.params.JudgeParams` (the job stores them all,
    those not given at their defaults). An endpoint judge's model and base URL, when the
    job names none, are the worker's (``JUDGE_OPENAI_MODEL``, ``JUDGE_OPENAI_BASE_URL``),
    read when it runs. Raises InvalidRequest for a bad request and QueueUnavailable
    (leaving no job) when the broker is down."""
    from modeling.judge import resolve_dimensions

    try:
        asked = params_with_defaults(JudgeParams, params)
    except ValueError as exc:
        raise InvalidRequest(f"Judge parameters: {exc}") from exc
    if kind not in JudgeJob.Kind.values:
        raise InvalidRequest(f"Unknown judge kind {kind!r}; use {' or '.join(JudgeJob.Kind.values)}.")
    if kind == JudgeJob.Kind.OPENAI:
        if adapter_path:
            raise InvalidRequest("An adapter only applies to a local judge.")
        # The worker resolves and checks the URL again; one this process already knows is refused now.
        known = base_url or judge_setting("JUDGE_OPENAI_BASE_URL")
        problem = known and endpoint_url_problem(known)
        if problem:
            raise InvalidRequest(f"Base URL{'' if base_url else ' (JUDGE_OPENAI_BASE_URL)'}: {problem}")
    else:
        model_ref = model_ref_check(model_ref or "demo", what="judge model")
        if adapter_path:
            adapter_path = model_ref_check(adapter_path, what="judge adapter", allow_demo=False)
        if base_url:
            raise InvalidRequest("A base URL only applies to an OpenAI-compatible judge.")
    only_planted = planted and dimensions is not None and not list(dimensions)
    if only_planted and pairwise:
        raise InvalidRequest("Pairwise comparisons need a dimension to compare on.")
    try:
        dims = [] if only_planted else resolve_dimensions(dimensions)
        pair_dims = resolve_dimensions(asked.pairwise_dimensions) if pairwise else []
    except ValueError as exc:
        raise InvalidRequest(str(exc)) from exc
    selection = judge_selection(study=study, arms=arms, responses=responses)
    per_case = dict(selected_responses(study, selection).order_by().values_list("case_id").annotate(n=Count("id")))
    if not per_case:
        raise InvalidRequest("No responses to judge: generate or import responses first."
                             if responses is None and arms is None else "The chosen arms have no responses to judge.")
    with_problem = set(planted_problems(study, per_case)) if planted else set()
    if only_planted:
        per_case = {c: n for c, n in per_case.items() if c in with_problem}
        if not per_case:
            raise InvalidRequest("No response to a case with a planted problem: there is nothing for the judge "
                                "to read.")

    def units(case_ids: list[int]) -> int:  # a prompt per score and per planted reading, two per pair (both orders)
        return sum(per_case[c] * len(dims) + (per_case[c] * (per_case[c] - 1) if pairwise else 0) * len(pair_dims)
                   + (per_case[c] if c in with_problem else 0) for c in case_ids)

    merged = params_dict(asked)
    merged["pairwise_dimensions"] = [d.key for d in pair_dims] or merged["pairwise_dimensions"]
    with transaction.atomic():
        job = job_create(kind_name="judge", actor=actor, study=study, kind=kind, model_ref=model_ref,
                         adapter_path=adapter_path, base_url=base_url, dimensions=[d.as_dict() for d in dims],
                         pairwise=pairwise, planted=planted, params=merged, selection=selection,
                         response_count=sum(per_case.values()))
        job.progress_total = chunks_plan(job=job, case_ids=sorted(per_case), units=units)
        JudgeJob.objects.filter(pk=job.pk).update(progress_total=job.progress_total)
    return job


def judge_selection(*, study: Study, arms: Iterable | None = None, responses: Iterable | None = None) -> dict:
    """What a job judges, as stored: ``{"arm_ids": [...]}`` (every study arm when
    ``arms`` is None) and, with ``responses``, ``"response_ids"``. InvalidRequest for an
    arm not in the study, or a response of another study or of an arm not chosen."""
    study_arms = study_arm_ids(study)
    if arms is None:
        arm_ids = study_arms
    else:
        arm_ids = sorted({a.pk if hasattr(a, "pk") else int(a) for a in arms})
        strangers = [a for a in arm_ids if a not in study_arms]
        if not arm_ids or strangers:
            raise InvalidRequest("Choose at least one arm." if not arm_ids else
                                 f"Arm ids not in study {study.slug!r}: {', '.join(map(str, strangers))}.")
    selection = {"arm_ids": arm_ids}
    if responses is not None:
        ids = sorted({r.pk if hasattr(r, "pk") else int(r) for r in responses})
        found = dict(Response.objects.filter(pk__in=ids, case__study=study).values_list("pk", "arm_id"))
        missing = [i for i in ids if i not in found]
        if missing:
            shown = ", ".join(map(str, missing[:20])) + (f" and {len(missing) - 20} more" if len(missing) > 20 else "")
            raise InvalidRequest(f"Some responses belong to another study or do not exist: {shown}.")
        elsewhere = sorted(i for i in ids if found[i] not in arm_ids)
        if elsewhere:
            raise InvalidRequest(f"Responses of arms not chosen: {', '.join(map(str, elsewhere[:20]))}.")
        selection["response_ids"] = ids
    return selection


def selected_responses(study: Study, selection: dict) -> QuerySet[Response]:
    """The responses a judge job's selection covers: ``{"response_ids": [...]}`` (of the
    ``arm_ids``, where it lists them too), or ``{"arm_ids": [...]}``: the newest response
    of each of those arms to each test case."""
    if "response_ids" in selection:
        chosen = Response.objects.filter(case__study=study, pk__in=selection["response_ids"])
        return chosen.filter(arm_id__in=selection["arm_ids"]) if "arm_ids" in selection else chosen
    return newest_responses(study, arm_ids=selection.get("arm_ids"))


# -- run ------------------------------------------------------------------------------------------

def judge_for_job(job: JudgeJob):
    """The :class:`modeling.judge.Judge` a job asks for, built on the worker. A local
    model is the worker's one kept model (:mod:`annotations.worker_runtime`); an
    endpoint's model is the job's or the worker's ``JUDGE_OPENAI_MODEL``, its base URL
    the job's or :func:`judge_base_url`, its API key :func:`judge_api_key` (never stored
    with the job), and its address is checked again here and on each connection."""
    from modeling.judge import JudgeError, LocalJudge, OpenAIJudge

    params = judge_params(job)
    if job.kind == JudgeJob.Kind.LOCAL:
        loaded = worker_runtime.loaded_model(job.model_ref, job.adapter_path or None)
        return LocalJudge(loaded, use_reference=params.use_reference)
    model = job.model_ref or judge_setting("JUDGE_OPENAI_MODEL")
    if not model:
        raise JudgeError("The job names no endpoint model and this worker has no JUDGE_OPENAI_MODEL: set it in the "
                         "worker's environment (or settings), or queue the job with a model.")
    base_url = job.base_url or judge_base_url()
    return OpenAIJudge(model, base_url, judge_api_key(base_url), address_policy=address_policy(),
                       logprobs=params.logprobs_mode, top_logprobs=params.top_logprobs, n_samples=params.n_samples,
                       temperature=params.temperature, concurrency=params.concurrency, timeout=params.timeout_s,
                       max_retries=params.max_retries, use_reference=params.use_reference)


def judge_params(job: JudgeJob) -> JudgeParams:
    """How the job asks its judge, as stored (a job stored before ``logprobs`` was a word
    holds true or false)."""
    stored = {k: v for k, v in (job.params or {}).items() if k in {s.name for s in param_specs(JudgeParams)}}
    if isinstance(stored.get("logprobs"), bool):
        stored["logprobs"] = "on" if stored["logprobs"] else "off"
    return JudgeParams(**stored)


def judge_chunk_run(*, chunk_id: int, worker: str) -> str:
    return chunk_run(kind_name="judge", chunk_id=chunk_id, worker=worker, work=_judge, on_success=_analyse)


def _judge(job: JudgeJob, chunk, progress: ChunkProgress) -> bool:
    from modeling.judge import PairRequest, PlantedRequest, ScoreRequest, resolve_dimensions

    dims = resolve_dimensions(job.dimensions) if job.dimensions else []
    params = judge_params(job)
    pair_dims = resolve_dimensions(params.pairwise_dimensions) if job.pairwise else []
    use_reference = params.use_reference
    responses = list(selected_responses(job.study, job.selection).filter(
        case_id__gte=chunk.first_case_id, case_id__lte=chunk.last_case_id).select_related("case", "arm").order_by("pk"))
    ids = [r.pk for r in responses]
    cases = {r.case_id: r.case.as_case_dict() for r in responses}
    scored = set(JudgeScore.objects.filter(job=job, response_id__in=ids).values_list("response_id", "dimension"))
    score_todo = [ScoreRequest(key=str(r.pk), case=cases[r.case_id], response=r.text, dimension=d,
                               reference=cases[r.case_id].get("reference_response") if use_reference else None)
                  for r in responses for d in dims if (r.pk, d.key) not in scored]
    compared = set(JudgeComparison.objects.filter(job=job, response_a_id__in=ids).values_list(
        "response_a_id", "response_b_id", "dimension"))
    pair_todo = [PairRequest(key=f"{a.pk}:{b.pk}", case=cases[a.case_id], response_a=a.text, response_b=b.text,
                             dimension=d)
                 for a, b in judge_pairs(responses, job.study) for d in pair_dims
                 if (a.pk, b.pk, d.key) not in compared]
    read: set[int] = set()
    planted_todo = []
    if job.planted:
        from modeling.planted import problem_description

        problems = {r.case_id: problem_description(r.case.planted_problem) for r in responses}
        read = set(JudgePlantedReading.objects.filter(job=job, response_id__in=ids).values_list("response_id",
                                                                                                  flat=True))
        planted_todo = [PlantedRequest(key=str(r.pk), case=cases[r.case_id], response=r.text,
                                       problem=problems[r.case_id])
                        for r in responses if problems[r.case_id] and r.pk not in read]
    progress.start_at(len(scored) + 2 * len(compared) + len(read))
    if not score_todo and not pair_todo and not planted_todo:
        return True
    judge = judge_for_job(job)
    JudgeJob.objects.filter(pk=job.pk).update(judge_provenance={
        **judge.describe(), "worker_host": worker_runtime.worker_host(), "device": worker_runtime.device_name()})
    unanswered: list = []  # results whose request failed for now: asked again by a retry
    for run, todo, write, units_each in ((judge.score_iter, score_todo, judge_scores_write, 1),
                                         (judge.compare_iter, pair_todo, judge_comparisons_write, 2),
                                         (judge.planted_iter, planted_todo, judge_planted_write, 1)):
        if not todo:
            continue
        for batch in run(todo, should_stop=lambda: progress.stop):
            kept = [r for r in batch if r.error is None or r.error_lasting]
            unanswered += [r for r in batch if r.error is not None and not r.error_lasting]
            with transaction.atomic():  # the answers and the progress they make: one commit
                new = write(job=job, results=kept)
                stopping = progress.add(units_each * new, tokens=sum(r.tokens for r in kept))
            if stopping:
                return False
        if progress.stop:
            return False
    if unanswered:
        raise JudgeUnanswered(unanswered, len(score_todo) + len(pair_todo) + len(planted_todo))
    return True


class JudgeUnanswered(RuntimeError):
    """Prompts of a chunk the endpoint did not answer (timed out, a server error, no
    connection, after the retries); every other answer is stored, and a retry asks
    only these."""

    def __init__(self, results: Sequence, asked: int):
        super().__init__(failures_text([(_result_label(r), r.error) for r in results], asked)
                         + "; Retry asks them again")


def _result_label(result) -> str:
    dimension = getattr(result, "dimension", None)
    what = "response " + result.key.replace(":", " vs ")
    return f"{what} ({dimension})" if dimension else f"{what} (planted problem)"


def _analyse(job: JudgeJob) -> None:
    """After the last chunk: the judge page's analysis; a failure leaves the scores as
    they are and the page offers to recompute. A job that read planted problems also
    asks for the study's analysis again (its reading-vs-clinician agreement)."""
    from annotations.services.aggregation import aggregation_request
    from annotations.services.judge_analysis import judge_analyse

    try:
        judge_analyse(job=job)
    except Exception as exc:
        logger.exception("analysis of judge job %s failed", job.pk)
        JudgeJob.objects.filter(pk=job.pk).update(analysis={"error": f"{exc.__class__.__name__}: {exc}"})
    if job.planted:
        aggregation_request(study_id=job.study_id)
