"""Benchmark: LoRA training throughput (tokens/s) of the BehaviorSFT setup, through the
same code the training CLI runs (``modeling.train.add_lora`` and ``run_training``), on
Qwen2.5 shapes with random weights (nothing downloaded).

Each example is a random token sequence whose second half is the "answer" (labels) and
whose first half is masked, as in assistant-only SFT; the three last vocabulary rows
stand for the behavior tokens (trainable rows of the embeddings, and of lm_head when
untied). Warm-up steps are run first and not timed.

    # GPU: the 0.5B and 7B shapes in bf16 (7B with gradient checkpointing)
    .venv/bin/python bench/training.py --preset gpu
    # CPU check: the 0.5B shape in fp32, a few short steps
    .venv/bin/python bench/training.py --preset cpu

Writes bench/results/training.json.
"""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench.model_shapes import PAD_TOKEN_ID, build_model, environment, parameter_count  # noqa: E402
from bench.results_file import write_results  # noqa: E402

PRESETS = {
    "gpu": {"shapes": "0.5b,7b", "dtype": "bf16", "steps": 10, "warmup": 2, "seq_len": 1024,
            "batch_size": {"0.5b": 16, "7b": 8}, "gradient_checkpointing": {"0.5b": False, "7b": True}},
    "cpu": {"shapes": "0.5b", "dtype": "fp32", "steps": 3, "warmup": 1, "seq_len": 128,
            "batch_size": {"0.5b": 2, "7b": 1}, "gradient_checkpointing": {"0.5b": False, "7b": False}},
}
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def make_examples(n: int, seq_len: int, vocab: int, seed: int) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    examples = []
    for _ in range(n):
        ids = torch.randint(1000, vocab - 1000, (seq_len,), generator=g).tolist()
        half = seq_len // 2
        examples.append({"input_ids": ids, "labels": [-100] * half + ids[half:], "attention_mask": [1] * seq_len})
    return examples


def bench_shape(shape: str, args, preset: dict, device: str) -> dict:
    from modeling.train import TrainConfig, add_lora, count_parameters, embeddings_tied, run_training

    dtype = DTYPES[args.dtype or preset["dtype"]]
    batch = args.batch_size or preset["batch_size"][shape]
    seq_len = args.seq_len or preset["seq_len"]
    steps = args.steps or preset["steps"]
    warmup = preset["warmup"] if args.warmup is None else args.warmup
    checkpointing = preset["gradient_checkpointing"][shape] if args.gradient_checkpointing is None \
        else args.gradient_checkpointing
    print(f"building the {shape} shape ({str(dtype).removeprefix('torch.')}, random weights) on {device} ...",
          flush=True)
    model, build_s = build_model(shape, device, dtype, seed=args.seed)
    vocab = model.config.vocab_size
    token_ids = [vocab - 3, vocab - 2, vocab - 1]
    config = TrainConfig(arm="behavior_sft", steps=steps, lr=2e-4, lora_r=args.lora_r, batch_size=batch,
                         lr_schedule="constant", warmup_ratio=0.0, gradient_checkpointing=checkpointing,
                         seed=args.seed, log_every=0)
    peft_model = add_lora(model, config, token_ids)
    trainable, total = count_parameters(peft_model)
    examples = make_examples(batch * (steps + warmup), seq_len, vocab, args.seed)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    if warmup:
        warm = TrainConfig(**{**config.__dict__, "steps": warmup})
        run_training(peft_model, examples[: batch * warmup], warm, device=device, pad_token_id=PAD_TOKEN_ID)
    stats = run_training(peft_model, examples[batch * warmup:], config, device=device, pad_token_id=PAD_TOKEN_ID)
    entry = {
        "shape": shape, "dtype": str(dtype).removeprefix("torch."), "parameters": parameter_count(model),
        "trainable_parameters": trainable, "tied_embeddings": embeddings_tied(model), "lora_r": args.lora_r,
        "batch_size": batch, "seq_len": seq_len, "steps": stats.steps, "warmup_steps": warmup,
        "gradient_checkpointing": checkpointing, "tokens": stats.tokens, "label_tokens": stats.label_tokens,
        "seconds": round(stats.seconds, 3), "tok_s": round(stats.tokens_per_s, 2),
        "seconds_per_step": round(stats.seconds / stats.steps, 3),
        "loss_first": round(stats.loss_history[0], 4), "loss_last": round(stats.loss_history[-1], 4),
        "build_seconds": round(build_s, 2),
    }
    if device.startswith("cuda"):
        entry["peak_gpu_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    print(f"  {shape}: {stats.tokens:,} tokens in {stats.seconds:.2f} s = {entry['tok_s']:,.1f} tok/s "
          f"({entry['seconds_per_step']:.2f} s/step, batch {batch} x {seq_len}, {trainable:,} trainable of "
          f"{total:,})", flush=True)
    del peft_model, model
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return entry


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), help="default: gpu when CUDA is there, else cpu")
    parser.add_argument("--shapes", help="comma-separated: 0.5b,7b")
    parser.add_argument("--dtype", choices=sorted(DTYPES))
    parser.add_argument("--device")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--warmup", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--seq-len", type=int)
    parser.add_argument("--lora-r", type=int, default=16)
    parser.add_argument("--gradient-checkpointing", action=argparse.BooleanOptionalAction, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "training.json"))
    args = parser.parse_args(argv)

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    preset = PRESETS[args.preset or ("gpu" if device.startswith("cuda") else "cpu")]
    shapes = (args.shapes or preset["shapes"]).split(",")
    results = [bench_shape(shape, args, preset, device) for shape in shapes]
    result = {"benchmark": "training", "device": device, "results": results, "environment": environment(device)}
    write_results("training", result, args.out)
    return result


if __name__ == "__main__":
    main()
