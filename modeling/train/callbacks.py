"""What a training run tells the outside while it trains, as
:class:`transformers.TrainerCallback` objects: its progress (steps, tokens/s, ETA, each
step's loss) to a :mod:`modeling.progress` callback, a cancel read before each step, and
as it starts, where it is tracked (TensorBoard, MLflow, W&B) and the step it resumed
from. Only the first process of a multi-process run reports; :class:`ProgressFile`
carries the reports from the training processes to the one that started them."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from transformers import TrainerCallback

from modeling.progress import Cancelled, Progress, ProgressCallback, StopCheck

log = logging.getLogger(__name__)

RunCallback = Callable[[dict], None]


def step_losses(log_history: list[dict]) -> list[float]:
    """The loss of each optimizer step, from a trainer's log history (logged every step;
    a resumed run's history holds the steps before the checkpoint too)."""
    return [entry["loss"] for entry in log_history if "loss" in entry and "step" in entry]


class ProgressReport(TrainerCallback):
    """Calls ``progress`` after each step's loss is logged and raises
    :class:`~modeling.progress.Cancelled` before a step once ``should_stop()`` is true.
    Steps done before a resumed checkpoint count as done; the rate and the ETA are this
    run's own."""

    def __init__(self, progress: ProgressCallback | None = None, should_stop: StopCheck | None = None):
        self.progress, self.should_stop = progress, should_stop
        self.started = time.perf_counter()
        self.first_step = 0
        self.first_tokens = 0

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.perf_counter()
        self.first_step, self.first_tokens = state.global_step, state.num_input_tokens_seen or 0

    def on_step_begin(self, args, state, control, **kwargs):
        if self.should_stop is not None and self.should_stop():
            raise Cancelled(f"training stopped at step {state.global_step + 1} of {state.max_steps}")

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.progress is None or not state.is_world_process_zero or not logs or "loss" not in logs:
            return
        elapsed = time.perf_counter() - self.started
        tokens = state.num_input_tokens_seen or 0
        steps_now = state.global_step - self.first_step
        eta = elapsed / steps_now * max(state.max_steps - state.global_step, 0) if steps_now else None
        rate = (tokens - self.first_tokens) / elapsed if elapsed > 0 else 0.0
        self.progress(Progress(done=state.global_step, total=state.max_steps, tokens=tokens, elapsed_s=elapsed,
                               tokens_per_s=rate, eta_s=eta, loss=float(logs["loss"]), stage="train"))


class RunStart(TrainerCallback):
    """What a run says as it starts: where it is tracked, read once the trackers have
    started (the TensorBoard log folder, the MLflow or W&B run's address), and, for a run
    resumed from a checkpoint, its step and the losses of the steps before it. ``links``
    holds the addresses; ``on_run`` is called with all of it."""

    def __init__(self, on_run: RunCallback | None = None):
        self.on_run = on_run
        self.links: dict = {}
        self.trackers: list = []  # the trainer's callbacks, set once it is built

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        self.links = {"report_to": list(args.report_to or [])}
        for callback in self.trackers:
            name = type(callback).__name__
            if name == "TensorBoardCallback" and getattr(callback, "logging_dir", None):
                self.links["tensorboard_dir"] = str(Path(callback.logging_dir).parent)
            elif name == "MLflowCallback":
                self.links["run_url"] = _mlflow_run_url(callback)
            elif name == "WandbCallback":
                self.links["run_url"] = _wandb_run_url(callback)
        self.links = {k: v for k, v in self.links.items() if v}
        if self.on_run is not None:
            self.on_run({**self.links, "resumed_from_step": state.global_step or None,
                         "loss_history": step_losses(state.log_history)})


def _mlflow_run_url(callback) -> str | None:
    try:
        mlflow = callback._ml_flow
        run = mlflow.active_run()
        uri = mlflow.get_tracking_uri()
    except Exception:  # a tracker that cannot say where it is leaves the link out, not the run
        log.warning("the MLflow run's address could not be read", exc_info=True)
        return None
    if run is None:
        return None
    if uri.startswith(("http://", "https://")):
        return f"{uri.rstrip('/')}/#/experiments/{run.info.experiment_id}/runs/{run.info.run_id}"
    return f"{uri} run {run.info.run_id}"


def _wandb_run_url(callback) -> str | None:
    run = getattr(getattr(callback, "_wandb", None), "run", None)
    return getattr(run, "url", None)


# -- reports of a run in another process, through a file ------------------------------------

class ProgressFile:
    """Where a training process writes its reports, one JSON object a line (``{"progress":
    ...}`` or ``{"run": ...}``), and where the process that started it reads them."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._read_to = 0

    def progress(self, progress: Progress) -> None:
        self._write({"progress": asdict(progress)})

    def run(self, links: dict) -> None:
        self._write({"run": links})

    def _write(self, record: dict) -> None:
        with self.path.open("a") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()

    def read_new(self) -> list[dict]:
        """The complete lines written since the last read."""
        if not self.path.exists():
            return []
        with self.path.open("rb") as f:
            f.seek(self._read_to)
            data = f.read()
        complete = data[: data.rfind(b"\n") + 1]
        self._read_to += len(complete)
        return [json.loads(line) for line in complete.decode().splitlines() if line.strip()]
