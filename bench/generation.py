"""Benchmark: generation throughput of naive sequential ``generate``, plain batched
``generate`` and our engine (``modeling.generate.GenerationEngine``: transformers'
``generate`` on length-sorted batches within a token budget), with transformers' dynamic
KV cache and with its static cache (compiled by ``generate`` on a GPU), in one run, on a
Qwen2.5 shape with random weights (nothing downloaded). Every method generates exactly
``--new-tokens`` tokens per prompt (end-of-sequence ignored), greedy.

Prints tokens/s per method and the engine's ratios to each, and writes
bench/results/generation.json. The static-cache engine is what
``EVALPORTAL_GENERATION_STATIC_CACHE`` turns on for the workers: its figure against the
dynamic one on a GPU decides that setting's default.

    # the GPU setting: Qwen2.5-7B shape, bf16, 256 prompts x 512 tokens, 256 new;
    # the engine with the dynamic and with the static (compiled) cache
    .venv/bin/python bench/generation.py --preset gpu
    # also plain generate(cache_implementation='static') and continuous batching
    .venv/bin/python bench/generation.py --preset gpu --with-hf-static 64,256 --with-cb
    # a CPU check that everything runs: 0.5B shape, 8 prompts x 64 tokens, 16 new
    .venv/bin/python bench/generation.py --preset cpu

Reference figures for the 7B shape on one H100 (not measured here), tok/s: sequential
24, plain batched b=128 1,386, static cache b=64 2,380 / b=128 2,843 / b=256 3,171,
continuous batching (n=256) 659.
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

from bench.model_shapes import EOS_TOKEN_IDS, PAD_TOKEN_ID, build_model, environment, parameter_count  # noqa: E402
from bench.results_file import write_results  # noqa: E402

PRESETS = {
    "gpu": dict(shape="7b", dtype="bf16", prompts=256, prompt_len=512, new_tokens=256, sequential_prompts=2,
                batched_batch_size=128, engine_caches="dynamic,static"),
    "cpu": dict(shape="0.5b", dtype="fp32", prompts=8, prompt_len=64, new_tokens=16, sequential_prompts=2,
                batched_batch_size=8, engine_caches="dynamic"),
}
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _free(device: str) -> None:
    gc.collect()
    if device.startswith("cuda"):
        torch.cuda.empty_cache()


def make_prompts(n: int, length: int, vocab: int, seed: int, vary: bool) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    prompts = []
    for _ in range(n):
        size = length if not vary else int(torch.randint(length // 2, length + 1, (1,), generator=g))
        prompts.append(torch.randint(1000, vocab - 1000, (size,), generator=g).tolist())
    return prompts


def hf_generation_config(new_tokens: int, **extra):
    from transformers import GenerationConfig

    return GenerationConfig(max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False, num_beams=1,
                            pad_token_id=PAD_TOKEN_ID, eos_token_id=EOS_TOKEN_IDS, repetition_penalty=1.0,
                            temperature=1.0, top_p=1.0, **extra)


def left_pad(prompts: list[list[int]], device: str) -> tuple[torch.Tensor, torch.Tensor]:
    longest = max(map(len, prompts))
    ids = torch.full((len(prompts), longest), PAD_TOKEN_ID, dtype=torch.long)
    mask = torch.zeros((len(prompts), longest), dtype=torch.long)
    for row, p in enumerate(prompts):
        ids[row, longest - len(p):] = torch.tensor(p)
        mask[row, longest - len(p):] = 1
    return ids.to(device), mask.to(device)


@torch.inference_mode()
def run_hf(model, prompts, new_tokens: int, batch_size: int, device: str, **config) -> tuple[float, list]:
    """transformers generate on batches of ``batch_size``; returns (seconds, new token ids)."""
    generation_config = hf_generation_config(new_tokens, **config)
    outputs = []
    _sync(device)
    started = time.perf_counter()
    for start in range(0, len(prompts), batch_size):
        ids, mask = left_pad(prompts[start:start + batch_size], device)
        out = model.generate(input_ids=ids, attention_mask=mask, generation_config=generation_config)
        outputs.extend(out[:, ids.shape[1]:].tolist())
    _sync(device)
    return time.perf_counter() - started, outputs


def run_engine(engine, prompts, device: str) -> tuple[float, list]:
    items = [(str(i), p) for i, p in enumerate(prompts)]
    _sync(device)
    started = time.perf_counter()
    results = engine.generate(items)
    _sync(device)
    return time.perf_counter() - started, [r.token_ids for r in results]


def run_continuous_batching(model, prompts, new_tokens: int, device: str) -> tuple[float, list]:
    generation_config = hf_generation_config(new_tokens)
    _sync(device)
    started = time.perf_counter()
    out = model.generate_batch(inputs=prompts, generation_config=generation_config, max_new_tokens=new_tokens)
    _sync(device)
    seconds = time.perf_counter() - started
    return seconds, [o.generated_tokens for o in out.values()]


def record(name: str, seconds: float, outputs: list, **extra) -> dict:
    tokens = sum(len(o) for o in outputs)
    entry = {"tokens": tokens, "seconds": round(seconds, 3), "tok_s": round(tokens / seconds, 2), **extra}
    print(f"  {name:<34} {tokens:>8,} tokens {seconds:>9.2f} s {entry['tok_s']:>11,.1f} tok/s", flush=True)
    return entry


def agreement(a: list[list[int]], b: list[list[int]]) -> float:
    """Share of prompts whose greedy continuations are identical (random weights in
    bf16 make near-ties, so a few may part ways after a while)."""
    pairs = list(zip(a, b))
    return sum(x == y for x, y in pairs) / len(pairs) if pairs else 0.0


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", choices=sorted(PRESETS), help="default: gpu when CUDA is there, else cpu")
    parser.add_argument("--shape", choices=("0.5b", "7b"))
    parser.add_argument("--dtype", choices=sorted(DTYPES))
    parser.add_argument("--device")
    parser.add_argument("--prompts", type=int)
    parser.add_argument("--prompt-len", type=int)
    parser.add_argument("--new-tokens", type=int)
    parser.add_argument("--vary-lengths", action="store_true", help="prompt lengths uniform in [len/2, len]")
    parser.add_argument("--sequential-prompts", type=int, help="prompts for the batch-1 baseline (it is slow)")
    parser.add_argument("--batched-batch-size", type=int, help="batch size of plain batched generate")
    parser.add_argument("--engine-batch-size", type=int, help="largest engine batch (default: the engine's)")
    parser.add_argument("--token-budget", type=int, help="engine token budget (default: the engine's)")
    parser.add_argument("--engine-caches", help="the engine's KV caches to time, of dynamic,static (default: both "
                                                 "on a GPU, dynamic on the CPU)")
    parser.add_argument("--with-hf-static", metavar="B1,B2", help="also time generate(cache_implementation='static')")
    parser.add_argument("--with-cb", action="store_true", help="also time transformers continuous batching")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "generation.json"))
    args = parser.parse_args(argv)

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    preset = PRESETS[args.preset or ("gpu" if device.startswith("cuda") else "cpu")]
    settings = {k: getattr(args, k) if getattr(args, k, None) is not None else v for k, v in preset.items()}
    dtype = DTYPES[settings["dtype"]]
    n_seq = min(settings["sequential_prompts"], settings["prompts"])

    from modeling.generate import GenerationEngine
    from modeling.loading import LoadedModel

    print(f"building the {settings['shape']} shape ({settings['dtype']}, random weights) on {device} ...", flush=True)
    model, build_s = build_model(settings["shape"], device, dtype, seed=args.seed)
    prompts = make_prompts(settings["prompts"], settings["prompt_len"], model.config.vocab_size, args.seed,
                           args.vary_lengths)
    new = settings["new_tokens"]
    print(f"  {parameter_count(model) / 1e9:.2f}B parameters, built in {build_s:.1f} s; {len(prompts)} prompts "
          f"x {settings['prompt_len']} tokens, {new} new tokens each", flush=True)
    methods: dict[str, dict] = {}

    # 1. naive: one prompt at a time
    run_hf(model, prompts[:1], min(new, 4), 1, device)  # warm-up (kernels, allocator)
    seconds, outputs = run_hf(model, prompts[:n_seq], new, 1, device)
    methods["sequential"] = record("sequential generate (b=1)", seconds, outputs, prompts=n_seq, batch_size=1)
    _free(device)

    # 2. plain batched generate (dynamic cache)
    b = settings["batched_batch_size"]
    run_hf(model, prompts[:b], min(new, 2), b, device)  # warm-up at the batch's shape
    seconds, batched_outputs = run_hf(model, prompts, new, b, device)
    methods["batched"] = record(f"batched generate (b={b})", seconds, batched_outputs, prompts=len(prompts),
                                batch_size=b)
    _free(device)

    # 3. optional: transformers' static cache + compile, continuous batching
    for size in [int(x) for x in (args.with_hf_static or "").split(",") if x]:
        try:
            run_hf(model, prompts[:size], new, size, device, cache_implementation="static")  # compile warm-up
            seconds, outputs = run_hf(model, prompts, new, size, device, cache_implementation="static")
            methods[f"hf_static_b{size}"] = record(f"generate static cache (b={size})", seconds, outputs,
                                                   prompts=len(prompts), batch_size=size)
        except Exception as exc:  # report, do not abort the run
            methods[f"hf_static_b{size}"] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
            print(f"  generate static cache (b={size}) failed: {exc}", flush=True)
        _free(device)
    if args.with_cb:
        try:
            seconds, outputs = run_continuous_batching(model, prompts, new, device)
            methods["continuous_batching"] = record("continuous batching", seconds, outputs, prompts=len(prompts))
        except Exception as exc:
            methods["continuous_batching"] = {"error": f"{type(exc).__name__}: {exc}"[:500]}
            print(f"  continuous batching failed: {exc}", flush=True)
        _free(device)

    # 4. our engine, per cache: a first run (compilation included), then a timed one
    loaded = LoadedModel(model=model, tokenizer=None, device=device, base_hash=f"random-{settings['shape']}",
                         dtype=dtype)
    caches = [c for c in settings["engine_caches"].split(",") if c]
    if not caches or set(caches) - {"dynamic", "static"}:
        parser.error("--engine-caches: dynamic, static or both")
    for cache in caches:
        engine = GenerationEngine(loaded, max_new_tokens=new, token_budget=args.token_budget,
                                  max_batch_size=args.engine_batch_size, static_cache=cache == "static",
                                  ignore_eos=True, pad_token_id=PAD_TOKEN_ID, eos_token_ids=EOS_TOKEN_IDS)
        name = "engine" if cache == caches[0] else f"engine_{cache}"
        first_s, _ = run_engine(engine, prompts, device)
        seconds, engine_outputs = run_engine(engine, prompts, device)
        batches = engine.plan_batches([len(p) for p in prompts])
        methods[name] = record(f"engine ({cache} cache{', compiled' if engine.compiled else ''})", seconds,
                               engine_outputs, prompts=len(prompts), batches=len(batches),
                               largest_batch=max(map(len, batches)), cache=cache, compiled=engine.compiled,
                               first_run_seconds=round(first_s, 3),
                               first_run_tok_s=round(len(prompts) * new / first_s, 2),
                               same_tokens_as_batched=agreement(engine_outputs, batched_outputs))
        print(f"    first run (with compilation/warm-up): {first_s:.2f} s; identical continuations to batched "
              f"generate: {methods[name]['same_tokens_as_batched']:.0%}", flush=True)
        _free(device)

    engine_tok_s = methods["engine"]["tok_s"]
    ratios = {f"engine/{k}": round(engine_tok_s / v["tok_s"], 2) for k, v in methods.items()
              if k != "engine" and "tok_s" in v}
    print("ratios: " + ", ".join(f"{k} {v}x" for k, v in ratios.items()), flush=True)
    result = {
        "benchmark": "generation",
        "settings": {**settings, "device": device, "vary_lengths": args.vary_lengths, "seed": args.seed,
                     "parameters": parameter_count(model)},
        "methods": methods,
        "ratios": ratios,
        "environment": environment(device),
    }
    if device.startswith("cuda"):
        result["peak_gpu_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    write_results("generation", result, args.out)
    return result


if __name__ == "__main__":
    main()
