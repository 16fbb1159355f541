"""``python -m modeling.train``: train a LoRA adapter (BehaviorSFT or GeneralSFT) on a
case file and write it with its tokenizer and manifest. The same command runs under
``accelerate launch`` (one process per GPU); the first process prints and saves."""

from __future__ import annotations

import argparse
import ctypes
import json
import logging
import os
import signal
import sys
from collections.abc import Sequence

from modeling.data import TRAINABLE_ARMS
from modeling.params import TrainParams, param_spec, param_specs
from modeling.progress import tqdm_progress
from modeling.train.callbacks import ProgressFile
from modeling.train.sft import REPORT_TARGETS, train_adapter

# TrainParams's parameters whose option is not --<name with dashes>
FLAGS = {"learning_rate": "--lr"}


try:
    _prctl = ctypes.CDLL(None, use_errno=True).prctl
except (OSError, AttributeError):  # not Linux
    _prctl = None
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """This process is killed when the one that started it dies (Linux; elsewhere it
    outlives it): a worker killed mid-training leaves no training process behind."""
    if _prctl is not None:
        _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _flag(name: str) -> str:
    return FLAGS.get(name) or f"--{name.replace('_', '-')}"


def _option(parser, name: str) -> None:
    """``--name`` for TrainParams's parameter ``name``, with its default and help."""
    spec = param_spec(TrainParams, name)
    extra = {"choices": spec.values} if spec.choices else {}
    parser.add_argument(_flag(name), dest=name, type=spec.type, help=spec.help_text,
                        default=None if name == "epochs" else spec.default, **extra)


def params_argv(params: TrainParams) -> list[str]:
    """The options that give ``params`` to this command (``--steps`` or ``--epochs``, not both)."""
    argv = []
    for spec in param_specs(TrainParams):
        value = getattr(params, spec.name)
        if value is None or (spec.name == "epochs" and params.steps is not None):
            continue
        if spec.type is bool:
            argv.append(_flag(spec.name) if value else f"--no-{_flag(spec.name).removeprefix('--')}")
        else:
            argv += [_flag(spec.name), repr(value) if isinstance(value, float) else str(value)]
    return argv


def _params(args) -> TrainParams:
    """The command line's hyperparameters; epochs left out with --steps, else its default."""
    values = {spec.name: getattr(args, spec.name) for spec in param_specs(TrainParams)}
    if values["epochs"] is None:
        values["epochs"] = TrainParams.epochs
    return TrainParams(**values)


def main(argv: Sequence[str] | None = None) -> int:
    from modeling.cases import read_cases
    from modeling.splits import DEFAULT_SPLIT_SEED, SPLIT_SEED_HELP, split_cases
    from modeling.task_types import TASKS_FILE_HELP, registry_from_file

    parser = argparse.ArgumentParser(prog="python -m modeling.train",
                                     description="LoRA training of the GeneralSFT and BehaviorSFT arms.")
    parser.add_argument("--arm", choices=TRAINABLE_ARMS, required=True)
    parser.add_argument("--base", required=True, help="'demo', a Hugging Face model directory or a .gguf file")
    parser.add_argument("--data", required=True, help="cases.jsonl")
    parser.add_argument("--tasks", help=TASKS_FILE_HELP)
    parser.add_argument("--out", required=True, help="directory for the adapter, tokenizer and manifest.json")
    parser.add_argument("--split", choices=("train", "dev", "test", "all"), default="train")
    parser.add_argument("--split-seed", type=int, default=DEFAULT_SPLIT_SEED, help=SPLIT_SEED_HELP)
    group = parser.add_mutually_exclusive_group()
    _option(group, "epochs")
    _option(group, "steps")
    _option(parser, "learning_rate")
    for name in ("lora_r", "lora_alpha", "lora_dropout", "token_lr", "batch_size", "grad_accum", "max_length",
                 "lr_schedule", "warmup_ratio", "weight_decay", "max_grad_norm", "seed", "save_steps"):
        _option(parser, name)
    parser.add_argument("--device")
    parser.add_argument("--dtype", help="bf16, fp16 or fp32 (default: bf16 on CUDA, fp32 on CPU)")
    parser.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction,
                        default=TrainParams.gradient_checkpointing,
                        help=param_spec(TrainParams, "gradient_checkpointing").help_text)
    parser.add_argument("--report-to", default="tensorboard",
                        help=f"where the run is tracked: {', '.join(REPORT_TARGETS)}, or several separated by "
                             f"commas (TensorBoard's files go to OUT/runs/). Default: tensorboard.")
    parser.add_argument("--resume", action=argparse.BooleanOptionalAction, default=True,
                        help="go on from the newest checkpoint in OUT of a run with the same base, data and "
                             "hyper-parameters (--no-resume: start over)")
    parser.add_argument("--progress-file", help="append the progress, one JSON object a line, to this file")
    parser.add_argument("--cases-checked", action="store_true",
                        help="the cases were checked when they were imported (the portal's training jobs): read "
                             "them as they are, whatever their task types")
    args = parser.parse_args(argv)
    if "LOCAL_RANK" in os.environ:  # a process of ``accelerate launch``: it ends with its launcher
        die_with_parent()
    try:
        registry = registry_from_file(args.tasks)
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    if args.cases_checked:
        with open(args.data, encoding="utf-8") as lines:
            cases = [json.loads(line) for line in lines if line.strip()]
    else:
        cases = read_cases(args.data, registry)
    chosen = cases if args.split == "all" else getattr(split_cases(cases, seed=args.split_seed), args.split)
    if not chosen:
        parser.error(f"no {args.split} cases in {args.data}")
    reports = ProgressFile(args.progress_file) if args.progress_file else None
    with tqdm_progress(f"train {args.arm}", "step", enabled=None if reports is None else False) as bar:
        try:
            result = train_adapter(
                args.base, chosen, args.arm, args.out, progress=reports.progress if reports else bar,
                on_run=reports.run if reports else None, device=args.device, dtype=args.dtype,
                report_to=args.report_to, resume=args.resume, **_params(args).train_options(),
            )
        except ValueError as exc:
            parser.error(str(exc))
    m = result.manifest
    if not m:  # not the first process of a multi-process run
        return 0
    resumed = f" (resumed from step {m['resumed_from_step']})" if m.get("resumed_from_step") else ""
    print(f"adapter written to {result.adapter_dir}: {m['steps']} steps{resumed} on {m['n_cases']} case(s), "
          f"loss {result.loss_history[0]:.4f} -> {result.loss_history[-1]:.4f}, "
          f"{m['tokens_per_s']:.0f} tok/s", file=sys.stderr)
    return 0
