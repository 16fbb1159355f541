"""A worker's runtime: where it runs (host, device), the one model it keeps loaded between
jobs (replaced when a job needs another) and the engines a job runs on. The model is
loaded lazily inside the worker (never before a prefork pool forks), so CUDA is
initialised in the process that uses it. The generation engine of the last decoding
settings is kept too, for every chunk of a job."""

from __future__ import annotations

import gc
import json
import logging
import platform
import socket
import threading
from dataclasses import asdict

from django.conf import settings
from django.utils.module_loading import import_string

from annotations.endpoint_policy import address_policy, endpoint_key
from annotations.errors import InvalidRequest
from annotations.model_refs import adapter_present, model_ref_check
from modeling.params import DecodingParams, param_specs

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_current: dict = {"key": None, "loaded": None}
_engine: dict = {"key": None, "engine": None}
_pool: dict = {"key": None, "pool": None}
# What of a job's decoding_params tunes our engine besides modeling.params.DecodingParams.
ENGINE_TUNING = ("top_k", "token_budget", "max_batch_size")


def stored_decoding(job) -> DecodingParams:
    """The job's decoding as stored (what it leaves out at the defaults)."""
    known = {spec.name for spec in param_specs(DecodingParams)}
    return DecodingParams(**{k: v for k, v in (job.decoding_params or {}).items() if k in known})


def loaded_model(base: str, adapter: str | None):
    """The model ``base`` (with ``adapter``), loaded once and kept; refused (InvalidRequest)
    outside the model roots, whatever the row that names it says."""
    from modeling.loading import load_model

    model_ref_check(base, what="base model")
    if adapter:
        model_ref_check(adapter, what="adapter", allow_demo=False)
        if not adapter_present(adapter):
            raise InvalidRequest(
                f"The adapter {adapter} is not on this worker ({worker_host()}): it was moved or deleted after the "
                "job was queued, or this worker does not share the adapters folder (EVALPORTAL_ADAPTER_DIR) with "
                "the web and the worker that trained it. Put it back or train it again, then retry the job.")
    key = (base, adapter or None)
    with _lock:
        if _current["key"] != key:
            _current["key"], _current["loaded"] = None, None
            gc.collect()
            _empty_cuda_cache()
            logger.info("loading model %s (adapter %s)", base, adapter)
            _current["loaded"] = load_model(base, adapter or None, device=settings.EVALPORTAL_MODEL_DEVICE or None)
            _current["key"] = key
        return _current["loaded"]


def generation_engine(job):
    """``(engine, provenance)`` for a generation job: :func:`endpoint_engine` for an
    endpoint arm, else what the ``EVALPORTAL_GENERATION_ENGINE`` setting names (by
    default :func:`local_engine`)."""
    if job.arm.is_endpoint:
        return endpoint_engine(job)
    return import_string(settings.EVALPORTAL_GENERATION_ENGINE)(job)


def endpoint_api_key(arm) -> str | None:
    """The key for an endpoint arm's server, from the worker's side only: the variable
    the arm names, when EVALPORTAL_ENDPOINT_KEYS lets it go to the arm's server (else the
    job fails, saying so); none for an arm that names none."""
    return endpoint_key(arm.api_key_env, arm.endpoint_url)


def endpoint_engine(job):
    """Chat completions against the arm's server, ``max_concurrency`` requests at a time,
    each with the arm's timeout and retries (blank: the EVALPORTAL_ENDPOINT_TIMEOUT_S and
    EVALPORTAL_ENDPOINT_MAX_RETRIES settings), on no internal address the deployment does
    not allow (checked now and on each connection)."""
    from modeling.generate import EndpointEngine

    arm = job.arm
    engine = EndpointEngine(
        arm.endpoint_url, arm.served_model, endpoint_api_key(arm), **asdict(stored_decoding(job)), seed=job.seed,
        concurrency=arm.max_concurrency,
        timeout=arm.request_timeout_s if arm.request_timeout_s is not None else settings.EVALPORTAL_ENDPOINT_TIMEOUT_S,
        max_retries=arm.max_retries if arm.max_retries is not None else settings.EVALPORTAL_ENDPOINT_MAX_RETRIES,
        keep_special_tokens=arm.uses_behavior_tokens,
        address_policy=address_policy())
    provenance = {"endpoint": arm.endpoint_url, "served_model": arm.served_model, "base_model": arm.base_model,
                  "decoding": engine.decoding_params(), "seed": job.seed, "worker_host": worker_host(),
                  "arm_method": arm.method}
    return engine, provenance


def local_engine(job):
    """Our batched engine on the arm's model, loaded on this worker."""
    from modeling.data import PROMPT_TEMPLATE_VERSION
    from modeling.generate import GenerationEngine

    arm = job.arm
    loaded = loaded_model(arm.base_model, arm.adapter_path or None)
    decoding = {**{k: v for k, v in (job.decoding_params or {}).items() if k in ENGINE_TUNING},
                **asdict(stored_decoding(job))}
    key = (arm.base_model, arm.adapter_path or None, json.dumps(decoding, sort_keys=True), job.seed)
    if _engine["key"] != key:
        _engine["engine"] = GenerationEngine(loaded, seed=job.seed, static_cache=settings.EVALPORTAL_GENERATION_STATIC_CACHE,
                                             **decoding)
        _engine["key"] = key
    engine = _engine["engine"]
    provenance = {**loaded.provenance(), "decoding": engine.decoding_params(), "seed": job.seed,
                  "template_version": PROMPT_TEMPLATE_VERSION, "worker_host": worker_host(), "device": device_name(),
                  "arm_method": arm.method}
    return engine, provenance


def fewshot_pool(study) -> list[dict]:
    """The study's training cases as the fewshot arm's examples, read once per worker and
    study (each chunk of JOB_CHUNK_CASES cases would otherwise read the whole training split again);
    read again when the training split changes."""
    from annotations.models import Case

    train = study.cases.filter(split=Case.Split.TRAIN)
    key = (study.pk, train.count(), train.order_by("-pk").values_list("pk", flat=True).first())
    with _lock:
        if _pool["key"] != key:
            _pool["pool"] = [case.as_case_dict() for case in train.order_by("pk")]
            _pool["key"] = key
        return _pool["pool"]


def forget() -> None:
    with _lock:
        _current["key"], _current["loaded"] = None, None
        _engine["key"], _engine["engine"] = None, None
        gc.collect()
        _empty_cuda_cache()


def _empty_cuda_cache() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def worker_host() -> str:
    return socket.gethostname()


def device_name() -> str:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.get_device_name(0)
    return f"CPU ({platform.machine()}, {torch.get_num_threads()} threads)"
