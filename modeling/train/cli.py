"""``python -m modeling.train``: train a LoRA adapter (BehaviorSFT or GeneralSFT) on a
case file and write it with its tokenizer and manifest."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from modeling.data import TRAINABLE_ARMS
from modeling.progress import tqdm_progress
from modeling.train.lora import train_adapter


def main(argv: Sequence[str] | None = None) -> int:
    from modeling.cases import read_cases
    from modeling.data import split_cases
    from modeling.task_types import TASKS_FILE_HELP, registry_from_file

    parser = argparse.ArgumentParser(prog="python -m modeling.train",
                                     description="LoRA training of the GeneralSFT and BehaviorSFT arms.")
    parser.add_argument("--arm", choices=TRAINABLE_ARMS, required=True)
    parser.add_argument("--base", required=True, help="'demo', a Hugging Face model directory or a .gguf file")
    parser.add_argument("--data", required=True, help="cases.jsonl")
    parser.add_argument("--tasks", help=TASKS_FILE_HELP)
    parser.add_argument("--out", required=True, help="directory for the adapter, tokenizer and manifest.json")
    parser.add_argument("--split", choices=("train", "dev", "test", "all"), default="train")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--epochs", type=float)
    group.add_argument("--steps", type=int)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--lora-alpha", type=int)
    parser.add_argument("--lora-dropout", type=float, default=0.05)
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--grad-accum", type=int, default=1)
    parser.add_argument("--max-length", type=int, default=4096)
    parser.add_argument("--lr-schedule", choices=("cosine", "constant"), default="cosine")
    parser.add_argument("--warmup-ratio", type=float, default=0.03)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device")
    parser.add_argument("--dtype", help="bf16, fp16 or fp32 (default: bf16 on CUDA, fp32 on CPU)")
    parser.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction, default=None)
    args = parser.parse_args(argv)
    try:
        registry = registry_from_file(args.tasks)
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    cases = read_cases(args.data, registry)
    chosen = cases if args.split == "all" else getattr(split_cases(cases, seed=args.seed), args.split)
    if not chosen:
        parser.error(f"no {args.split} cases in {args.data}")
    with tqdm_progress(f"train {args.arm}", "step") as bar:
        result = train_adapter(
            args.base, chosen, args.arm, args.out, epochs=args.epochs, steps=args.steps, lr=args.lr,
            lora_r=args.lora_r, seed=args.seed, progress=bar, device=args.device, dtype=args.dtype,
            lora_alpha=args.lora_alpha, lora_dropout=args.lora_dropout, batch_size=args.batch_size,
            grad_accum=args.grad_accum, max_length=args.max_length, lr_schedule=args.lr_schedule,
            warmup_ratio=args.warmup_ratio, gradient_checkpointing=args.gradient_checkpointing,
        )
    m = result.manifest
    print(f"adapter written to {result.adapter_dir}: {m['steps']} steps on {m['n_cases']} case(s), "
          f"loss {result.loss_history[0]:.4f} -> {result.loss_history[-1]:.4f}, "
          f"{m['tokens_per_s']:.0f} tok/s", file=sys.stderr)
    return 0
