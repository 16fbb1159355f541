"""One loaded model per worker process, kept between jobs and replaced when a job needs
another. Loaded lazily inside the worker (never before a prefork pool forks), so CUDA is
initialised in the process that uses it."""

from __future__ import annotations

import gc
import logging
import platform
import socket
import threading

from annotations.model_refs import model_ref_check

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_current: dict = {"key": None, "loaded": None}


def loaded_model(base: str, adapter: str | None):
    """The model ``base`` (with ``adapter``), loaded once and kept; refused (InvalidRequest)
    outside the model roots, whatever the row that names it says."""
    from modeling.loading import load_model

    model_ref_check(base, what="base model")
    if adapter:
        model_ref_check(adapter, what="adapter", allow_demo=False)
    key = (base, adapter or None)
    with _lock:
        if _current["key"] != key:
            _current["key"], _current["loaded"] = None, None
            gc.collect()
            _empty_cuda_cache()
            logger.info("loading model %s (adapter %s)", base, adapter)
            _current["loaded"] = load_model(base, adapter or None)
            _current["key"] = key
        return _current["loaded"]


def forget() -> None:
    with _lock:
        _current["key"], _current["loaded"] = None, None
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
