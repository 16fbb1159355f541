"""Generation jobs: an arm answers a study's cases. A job stores which cases it covers (a
selection, not a row per case) and is cut into chunks that any free GPU worker takes
(:mod:`annotations.services.chunks`); each chunk calls the worker's generation engine
(:func:`annotations.worker_runtime.generation_engine`) and writes each batch of responses
as it comes, idempotent per (job, case). A case an endpoint refused for good (a prompt
longer than the model's context) is stored as that case's failure
(:class:`~annotations.models.GenerationFailure`) and the chunk goes on; one that may pass
(a timeout) fails the chunk once the rest is written, and a retry asks only those."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable

from django.db import transaction
from django.db.models import Exists, OuterRef, QuerySet

from annotations import worker_runtime
from annotations.errors import InvalidRequest, StateConflict
from annotations.model_refs import adapter_present
from annotations.models import Case, GenerationJob, ModelArm, Response, Study, StudyArm
from annotations.models.arm import TRAINING_METHODS
from annotations.models.jobs import MAX_LISTED_CASES
from annotations.selectors.jobs import adapter_training_pending
from annotations.selectors.responses import response_keys_of_cases, unanswered_case_ids
from annotations.services.chunks import ChunkProgress, chunk_run, chunks_plan
from annotations.services.jobs import job_create
from annotations.services.responses import generation_failures_write, responses_write
from modeling.endpoint_requests import RequestFailure
from modeling.params import DecodingParams, GenerationParams, param_specs, params_with_defaults


def selected_cases(study: Study, arm: ModelArm, selection: dict, *, first_id: int = 0, last_id: int = 2**63 - 1,
                   job: GenerationJob | None = None) -> QuerySet[Case]:
    """The cases with ids from ``first_id`` to ``last_id`` (a chunk's) that a selection
    covers: ``{"case_ids": [...]}`` (sorted: only those in the range reach the query,
    and there are at most MAX_LISTED_CASES, well under PostgreSQL's 65,535 parameters),
    or ``{"split": "test"}``, with ``"only_missing": true`` leaving out the cases the arm
    has answered in another job (what ``job`` itself wrote stays in: a rerun skips it by
    itself)."""
    if "case_ids" in selection:
        ids = selection["case_ids"]
        return study.cases.filter(pk__in=ids[bisect_left(ids, first_id):bisect_right(ids, last_id)])
    cases = study.cases.filter(split=selection.get("split", Case.Split.TEST), pk__gte=first_id, pk__lte=last_id)
    if selection.get("only_missing"):
        answered = Response.objects.filter(case_id=OuterRef("pk"), arm=arm)
        if job is not None:
            answered = answered.exclude(job=job)
        cases = cases.exclude(Exists(answered))
    return cases


def generation_job_queue(*, study: Study, arm: ModelArm, cases: Iterable[Case] | None = None,
                         only_missing: bool = False, actor=None, decoding_params: dict | None = None,
                         seed: int | None = None) -> GenerationJob:
    """Queue generation of ``arm``'s responses for ``cases`` (default: the study's test
    cases), with ``only_missing`` only those the arm has not answered yet, in chunks.
    ``decoding_params`` (:class:`~modeling.params.DecodingParams`) override the arm's,
    which override the defaults; ``seed`` defaults to GenerationParams's."""
    if not StudyArm.objects.filter(study=study, arm=arm).exists():
        raise InvalidRequest(f"Arm {arm.name!r} is not part of study {study.slug!r}.")
    adapter_check(arm)
    decoding = job_decoding(arm, decoding_params, seed)
    if cases is not None:
        case_ids = _listed_case_ids(study, cases)
        if only_missing:
            answered = set(Response.objects.filter(arm=arm, case_id__in=case_ids).values_list("case_id", flat=True))
            case_ids = [pk for pk in case_ids if pk not in answered]
        selection = {"case_ids": case_ids}
    else:
        selection = {"split": Case.Split.TEST, "only_missing": only_missing}
        case_ids = list(selected_cases(study, arm, selection).order_by("pk").values_list("pk", flat=True))
    if not case_ids:
        raise InvalidRequest("No cases to generate for: every case already has a response from this arm."
                             if only_missing else "No cases to generate for.")
    with transaction.atomic():
        job = job_create(kind_name="generation", actor=actor, study=study, arm=arm, selection=selection,
                         decoding_params={**engine_tuning(arm.decoding_params), **engine_tuning(decoding_params),
                                          **decoding.decoding},
                         seed=decoding.seed, progress_total=len(case_ids))
        chunks_plan(job=job, case_ids=case_ids)
    return job


def adapter_check(arm: ModelArm) -> None:
    """Refuse, before anything is queued, an arm that cannot answer yet: its adapter is
    being trained (StateConflict, naming the job: queue again once it is done), or a local
    arm's adapter is not there (InvalidRequest, saying how to train it). An adapter is
    looked for where the workers load it from, which the web shares with them
    (EVALPORTAL_ADAPTER_DIR)."""
    training = adapter_training_pending(arm)
    if training is not None:
        raise StateConflict(f"{arm.name}'s adapter is still being trained (training job #{training.pk}, "
                            f"{training.progress_percent}% done, on the jobs page); queue generation when it is "
                            f"done.")
    if arm.is_endpoint or adapter_present(arm.adapter_path):
        return
    if arm.adapter_path or arm.method in dict(TRAINING_METHODS):
        found = f" (nothing at {arm.adapter_path})" if arm.adapter_path else ""
        raise InvalidRequest(f"{arm.name} has no trained adapter{found}, so it cannot generate: train it first: "
                             "queue its training on the Jobs page, or run `manage.py train_demo_adapters` for the "
                             "demo.")


def engine_tuning(decoding: dict | None) -> dict:
    """What of a decoding tunes the engine rather than the responses (``top_k``,
    ``token_budget``, ``max_batch_size``: set on an arm in the admin, or by code that
    queues a job): passed on to the job as it is."""
    return {k: v for k, v in (decoding or {}).items() if k in worker_runtime.ENGINE_TUNING}


def job_decoding(arm: ModelArm, decoding_params: dict | None, seed: int | None) -> GenerationParams:
    """A job's decoding: the defaults, then the arm's, then the job's own; InvalidRequest
    naming what is unknown or out of bounds."""
    known = {spec.name for spec in param_specs(DecodingParams)}
    arm_own = {k: v for k, v in (arm.decoding_params or {}).items() if k in known}
    asked = {k: v for k, v in (decoding_params or {}).items() if k not in worker_runtime.ENGINE_TUNING}
    if seed is not None:
        asked["seed"] = seed
    try:
        return params_with_defaults(GenerationParams, arm_own, asked)
    except ValueError as exc:
        raise InvalidRequest(f"Decoding: {exc}") from exc


def _listed_case_ids(study: Study, cases: Iterable[Case]) -> list[int]:
    """The listed cases' ids, sorted: at most MAX_LISTED_CASES, every one the study's."""
    ids = sorted({c.pk for c in cases})
    if len(ids) > MAX_LISTED_CASES:
        raise InvalidRequest(f"{len(ids):,} cases listed; a job lists at most {MAX_LISTED_CASES:,}. Queue the rest "
                            f"as another job, or choose all test cases instead.")
    if study.cases.filter(pk__in=ids).count() != len(ids):
        raise InvalidRequest("Some cases belong to another study.")
    return ids


def generation_chunk_run(*, chunk_id: int, worker: str) -> str:
    return chunk_run(kind_name="generation", chunk_id=chunk_id, worker=worker, work=_generate)


def _generate(job: GenerationJob, chunk, progress: ChunkProgress) -> bool:
    """Answer the chunk's cases that the job has neither answered nor stored a lasting
    failure for; each batch's responses, its lasting failures and the progress they make
    in one commit."""
    arm = job.arm
    cases = list(selected_cases(job.study, arm, job.selection, first_id=chunk.first_case_id,
                                last_id=chunk.last_case_id, job=job).order_by("pk"))
    written = {case_id for case_id, _, job_id in response_keys_of_cases([c.pk for c in cases]) if job_id == job.pk}
    written |= unanswered_case_ids(job, [c.pk for c in cases])
    todo = [c for c in cases if c.pk not in written]
    progress.start_at(len(written), units=len(written) + len(todo))
    if not todo:
        return True
    engine, provenance = worker_runtime.generation_engine(job)
    by_key = {c.external_id: c for c in todo}
    fewshot_pool = worker_runtime.fewshot_pool(job.study) if arm.method == ModelArm.Method.FEWSHOT else None
    refused: list[tuple[str, RequestFailure]] = []
    batches = engine.generate_iter([c.as_case_dict() for c in todo], should_stop=lambda: progress.stop,
                                   arm=arm.method, fewshot_pool=fewshot_pool, on_lasting_failure=refused.extend)
    for batch in batches:
        with transaction.atomic():
            new = _write_batch(job, batch, by_key, provenance) + generation_failures_write(
                job=job, failures=[(by_key[key].pk, failure) for key, failure in refused])
            refused.clear()
            stopping = progress.add(new, tokens=sum(r.completion_tokens for r in batch))
        if stopping:
            return False
    return not progress.stop


def _write_batch(job: GenerationJob, batch, by_key: dict[str, Case], provenance: dict) -> int:
    """Write one batch of the engine's results as responses; returns how many were new."""
    cases = {by_key[r.key].pk: by_key[r.key] for r in batch}
    return responses_write(rows=[{
        "case_id": by_key[r.key].pk, "arm_id": job.arm_id, "job_id": job.pk, "text": r.text,
        "raw_text": r.raw_text, "predicted_behavior": r.predicted_behavior or "",
        "prompt_tokens": r.prompt_tokens, "completion_tokens": r.completion_tokens,
        "latency_s": r.latency_s, "finish_reason": r.finish_reason or "", "provenance": {**provenance, **r.meta},
    } for r in batch], cases=cases)
