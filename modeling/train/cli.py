"""``python -m modeling.train``: train a LoRA adapter (BehaviorSFT or GeneralSFT) on a
case file and write it with its tokenizer and manifest."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from modeling.data import TRAINABLE_ARMS
from modeling.params import TrainParams, param_spec, param_specs
from modeling.progress import tqdm_progress
from modeling.train.lora import train_adapter


def _option(parser, name: str, flag: str | None = None) -> None:
    """``--name`` for TrainParams's parameter ``name``, with its default and help."""
    spec = param_spec(TrainParams, name)
    extra = {"choices": spec.values} if spec.choices else {}
    parser.add_argument(flag or f"--{name.replace('_', '-')}", dest=name, type=spec.type, help=spec.help_text,
                        default=None if name == "epochs" else spec.default, **extra)


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
    _option(parser, "learning_rate", "--lr")
    for name in ("lora_r", "lora_alpha", "lora_dropout", "token_lr", "batch_size", "grad_accum", "max_length",
                 "lr_schedule", "warmup_ratio", "weight_decay", "max_grad_norm", "seed"):
        _option(parser, name)
    parser.add_argument("--device")
    parser.add_argument("--dtype", help="bf16, fp16 or fp32 (default: bf16 on CUDA, fp32 on CPU)")
    parser.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction,
                        default=TrainParams.gradient_checkpointing,
                        help=param_spec(TrainParams, "gradient_checkpointing").help_text)
    args = parser.parse_args(argv)
    try:
        registry = registry_from_file(args.tasks)
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    cases = read_cases(args.data, registry)
    chosen = cases if args.split == "all" else getattr(split_cases(cases, seed=args.split_seed), args.split)
    if not chosen:
        parser.error(f"no {args.split} cases in {args.data}")
    with tqdm_progress(f"train {args.arm}", "step") as bar:
        result = train_adapter(
            args.base, chosen, args.arm, args.out, progress=bar, device=args.device, dtype=args.dtype,
            **_params(args).train_options(),
        )
    m = result.manifest
    print(f"adapter written to {result.adapter_dir}: {m['steps']} steps on {m['n_cases']} case(s), "
          f"loss {result.loss_history[0]:.4f} -> {result.loss_history[-1]:.4f}, "
          f"{m['tokens_per_s']:.0f} tok/s", file=sys.stderr)
    return 0
