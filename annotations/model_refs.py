"""Which models the portal may ask a worker to load: the demo model, or a path under one
of the configured model roots (``EVALPORTAL_MODEL_ROOTS``). A base model, an adapter or
a local judge named anywhere else (``../../etc/passwd``) is refused before anything is
queued, and again by the worker before it loads anything."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

from annotations.errors import InvalidRequest

DEMO_MODEL = "demo"


def model_roots() -> list[Path]:
    return [Path(root).resolve() for root in settings.EVALPORTAL_MODEL_ROOTS]


def model_ref_check(ref: str, *, what: str = "model", allow_demo: bool = True) -> str:
    """``ref`` unchanged when it is the demo model or a path that resolves (relative
    paths from the project folder, symbolic links followed) inside a model root;
    InvalidRequest naming the roots otherwise. It need not exist yet: an adapter is
    written by the training job that names it."""
    ref = (ref or "").strip()
    if allow_demo and ref == DEMO_MODEL:
        return ref
    if not ref or "\x00" in ref:
        raise InvalidRequest(f"Name the {what}: {'demo or ' if allow_demo else ''}a path under a model root.")
    resolved = resolved_path(ref)
    roots = model_roots()
    if not any(resolved.is_relative_to(root) for root in roots):
        shown = ", ".join(str(root) for root in roots)
        raise InvalidRequest(f"The {what} {ref!r} is outside the model roots ({shown}); put it under one of them "
                             "or add its folder to EVALPORTAL_MODEL_ROOTS.")
    return ref


def resolved_path(ref: str) -> Path:
    """Where a model path points: relative paths from the project folder."""
    path = Path(ref)
    return (path if path.is_absolute() else Path(settings.BASE_DIR) / path).resolve()


def adapter_present(ref: str) -> bool:
    """Whether an adapter directory is on this machine (a fresh clone has none)."""
    return bool(ref) and (resolved_path(ref) / "adapter_config.json").is_file()
