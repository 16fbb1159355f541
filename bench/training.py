"""Benchmark: LoRA training throughput (tokens/s) of the BehaviorSFT setup, through the
same trainer the training CLI runs (``modeling.train.TokenRateSFTTrainer``, TRL's
SFTTrainer), on Qwen2.5 shapes with random weights (nothing downloaded; the demo
model's tokenizer stands in for padding, which these equal-length examples never need).

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
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402
from transformers import TrainerCallback  # noqa: E402

from bench.model_shapes import build_model, environment, parameter_count  # noqa: E402
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


class StepTimer(TrainerCallback):
    """Times the steps after the warm-up ones."""

    def __init__(self, warmup: int, device: str):
        self.warmup, self.device = warmup, device
        self.start = time.perf_counter() if not warmup else None
        self.tokens_at_start = 0

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.warmup:
            if self.device.startswith("cuda"):
                torch.cuda.synchronize()
            self.start, self.tokens_at_start = time.perf_counter(), state.num_input_tokens_seen


def bench_shape(shape: str, args, preset: dict, device: str) -> dict:
    import tempfile

    from datasets import Dataset

    from modeling.loading import converted_gguf_dir, demo_gguf_path, load_tokenizer
    from modeling.train import (
        TokenRateSFTTrainer,
        TrainConfig,
        count_parameters,
        embeddings_tied,
        lora_config,
        sft_config,
    )
    from modeling.train.callbacks import step_losses

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
    config = TrainConfig(arm="behavior_sft", steps=steps + warmup, lr=2e-4, lora_r=args.lora_r, batch_size=batch,
                         lr_schedule="constant", warmup_ratio=0.0, gradient_checkpointing=checkpointing,
                         seed=args.seed, save_steps=10**6)
    examples = make_examples(batch * (steps + warmup), seq_len, vocab, args.seed)
    dataset = Dataset.from_dict({"input_ids": [e["input_ids"] for e in examples],
                                 "labels": [e["labels"] for e in examples]})
    timer = StepTimer(warmup, device)
    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
    with tempfile.TemporaryDirectory() as out:
        trainer = TokenRateSFTTrainer(
            model=model, args=sft_config(config, out, device=device, dtype=dtype, report_to=[]),
            train_dataset=dataset, processing_class=load_tokenizer(converted_gguf_dir(demo_gguf_path())[0]),
            peft_config=lora_config(model, config, token_ids), token_lr=2e-3, callbacks=[timer])
        trainable, total = count_parameters(trainer.model)
        trainer.train()
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        seconds = time.perf_counter() - timer.start
    tokens = trainer.state.num_input_tokens_seen - timer.tokens_at_start
    losses = step_losses(trainer.state.log_history)[warmup:]
    entry = {
        "shape": shape, "dtype": str(dtype).removeprefix("torch."), "parameters": parameter_count(model),
        "trainable_parameters": trainable, "tied_embeddings": embeddings_tied(model), "lora_r": args.lora_r,
        "batch_size": batch, "seq_len": seq_len, "steps": steps, "warmup_steps": warmup,
        "gradient_checkpointing": checkpointing, "tokens": tokens, "label_tokens": tokens // 2,
        "seconds": round(seconds, 3), "tok_s": round(tokens / seconds, 2),
        "seconds_per_step": round(seconds / steps, 3),
        "loss_first": round(losses[0], 4), "loss_last": round(losses[-1], 4),
        "build_seconds": round(build_s, 2), "trainer": "trl.SFTTrainer",
    }
    if device.startswith("cuda"):
        entry["peak_gpu_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    print(f"  {shape}: {tokens:,} tokens in {seconds:.2f} s = {entry['tok_s']:,.1f} tok/s "
          f"({entry['seconds_per_step']:.2f} s/step, batch {batch} x {seq_len}, {trainable:,} trainable of "
          f"{total:,})", flush=True)
    del trainer, model
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
