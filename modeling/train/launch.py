"""Training in processes of its own, over every GPU this process sees: ``python -m
modeling.train`` for one GPU (or the CPU), ``accelerate launch --num_processes <n>`` for
several (DDP; FSDP or DeepSpeed when an accelerate config file says so; on CPUs,
``torch.distributed.run``). The first
training process writes its progress to a file this process follows, so progress and
cancel reach the caller as they do for training in this process. A cancel ends the
processes; their last checkpoint stays for a later run to resume from.

A training process started here dies with this one (Linux): a worker killed mid-training
leaves no orphan writing into the adapter's folder while a new run resumes there.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from modeling.params import TrainParams
from modeling.progress import Cancelled, Progress, ProgressCallback, StopCheck
from modeling.train.callbacks import ProgressFile, RunCallback
from modeling.train.cli import die_with_parent, params_argv
from modeling.train.sft import TrainResult

# The folder that holds the modeling package, for the training processes' imports.
SOURCE_ROOT = Path(__file__).resolve().parents[2]
POLL_S = 0.5
STOP_GRACE_S = 20
PROGRESS_FILE = ".progress.jsonl"  # in the adapter's folder; a dot file is no part of the adapter's hash


class TrainingFailed(RuntimeError):
    """The training processes exited with an error; the message ends with what they wrote last."""


def gpu_count() -> int:
    """GPUs this process sees (CUDA_VISIBLE_DEVICES), counted without starting CUDA here."""
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def training_command(argv: list[str], *, processes: int, accelerate_config: str | None = None,
                     cpu: bool = False) -> list[str]:
    """The command that runs ``python -m modeling.train <argv>`` in ``processes`` processes:
    ``accelerate launch`` on GPUs (DDP, or what ``accelerate_config`` sets up: FSDP,
    DeepSpeed), ``torch.distributed.run`` on CPUs (gloo; accelerate launches several CPU
    processes only through MPI)."""
    if processes <= 1 and not accelerate_config:
        return [sys.executable, "-m", "modeling.train", *argv]
    if cpu and not accelerate_config:
        return [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(processes),
                "-m", "modeling.train", *argv]
    launch = [sys.executable, "-m", "accelerate.commands.launch"]
    launch += ["--config_file", str(accelerate_config)] if accelerate_config else ["--multi_gpu"]
    return [*launch, "--num_processes", str(processes), "-m", "modeling.train", *argv]


def train_in_processes(base: str, cases: Iterable[Mapping], arm: str, out_dir: str | Path, params: TrainParams, *,
                       progress: ProgressCallback | None = None, should_stop: StopCheck | None = None,
                       on_run: RunCallback | None = None, processes: int | None = None,
                       accelerate_config: str | None = None, report_to: str = "tensorboard",
                       env: Mapping[str, str] | None = None) -> TrainResult:
    """Train as :func:`modeling.train.train_adapter` does, in ``processes`` processes (by
    default one per GPU this process sees, else one on the CPU), and return what the first
    one saved. Raises :class:`Cancelled` once ``should_stop()`` is true (the processes are
    ended), :class:`TrainingFailed` when they fail."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    gpus = gpu_count()
    processes = processes or max(gpus, 1)
    reports = ProgressFile(out_dir / PROGRESS_FILE)
    reports.path.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(prefix="evalportal-train-") as tmp:
        data = Path(tmp) / "cases.jsonl"
        data.write_text("".join(json.dumps(case, ensure_ascii=False) + "\n" for case in cases))
        argv = ["--arm", arm, "--base", str(base), "--data", str(data), "--split", "all", "--out", str(out_dir),
                "--report-to", report_to, "--progress-file", str(reports.path), "--cases-checked",
                *params_argv(params)]
        command = training_command(argv, processes=processes, accelerate_config=accelerate_config, cpu=gpus == 0)
        log_path = out_dir / ".train.log"
        with log_path.open("w") as log:
            path = os.pathsep.join(p for p in (str(SOURCE_ROOT), os.environ.get("PYTHONPATH", "")) if p)
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                       env={**os.environ, "PYTHONPATH": path, **(env or {})},
                                       preexec_fn=die_with_parent)
            try:
                _follow(process, reports, progress, should_stop, on_run)
            finally:
                _end(process)
    if process.returncode != 0:
        tail = log_path.read_text(errors="replace")[-3000:]
        raise TrainingFailed(f"training exited with status {process.returncode}: {tail}")
    manifest = json.loads((out_dir / "manifest.json").read_text())
    return TrainResult(loss_history=manifest["loss_history"], adapter_dir=out_dir, manifest=manifest)


def _follow(process, reports: ProgressFile, progress, should_stop, on_run) -> None:
    while True:
        finished = process.poll() is not None
        for record in reports.read_new():
            if "progress" in record and progress is not None:
                progress(Progress(**record["progress"]))
            elif "run" in record and on_run is not None:
                on_run(record["run"])
        if finished:
            return
        if should_stop is not None and should_stop():
            raise Cancelled("training was cancelled; its last checkpoint is kept for a retry to resume from")
        time.sleep(POLL_S)


def _end(process) -> None:
    """End the training processes (all of the session) if they still run."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=STOP_GRACE_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass
