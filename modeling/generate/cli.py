"""``python -m modeling.generate``: generate one arm's responses to a split of a cases
file, appending to a resumable responses.jsonl (:func:`response_row`)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from modeling.data import ARMS, TRAINABLE_ARMS
from modeling.generate.engine import GenerationEngine, GenerationResult
from modeling.jsonl import read_resumable_jsonl
from modeling.params import GenerationParams, param_spec
from modeling.progress import tqdm_progress

log = logging.getLogger(__name__)


def response_row(case: Mapping, arm: str, result: GenerationResult, provenance: Mapping) -> dict:
    """One line of a responses.jsonl file: the response, plus the case's gold fields so
    that ``python -m modeling.evaluate`` can score the file on its own."""
    return {
        "external_id": case["external_id"], "arm": arm, "task": case["task"], "category": case["category"],
        "gold_behavior": case.get("gold_behavior"), "gold_label": case.get("gold_label"),
        "label_space": case.get("label_space"), "question": case.get("question"),
        "planted_problem": case.get("planted_problem"),
        **{k: v for k, v in result.as_dict().items() if k not in ("key", "meta")},
        "provenance": {**provenance, **result.meta},
    }


def main(argv: Sequence[str] | None = None) -> int:
    from modeling.cases import read_cases
    from modeling.loading import ModelLoadError, load_model
    from modeling.splits import DEFAULT_SPLIT_SEED, SPLIT_SEED_HELP, split_cases
    from modeling.task_types import TASKS_FILE_HELP, registry_from_file

    summary_line = sys.modules[__package__].__doc__.split("\n")[0]  # modeling.generate's
    parser = argparse.ArgumentParser(prog="python -m modeling.generate", description=summary_line)
    parser.add_argument("--base", required=True, help="'demo', a Hugging Face model directory or a .gguf file")
    parser.add_argument("--adapter", help="a LoRA adapter directory written by modeling.train")
    parser.add_argument("--arm", choices=ARMS, default="baseline")
    parser.add_argument("--data", required=True, help="cases.jsonl")
    parser.add_argument("--tasks", help=TASKS_FILE_HELP)
    parser.add_argument("--out", required=True, help="responses.jsonl (appended to: finished cases are skipped)")
    parser.add_argument("--split", choices=("train", "dev", "test", "all"), default="test")
    parser.add_argument("--split-seed", type=int, default=DEFAULT_SPLIT_SEED, help=SPLIT_SEED_HELP)
    parser.add_argument("--fewshot-data", help="cases for the fewshot arm's examples (default: the train split of --data)")
    parser.add_argument("--limit", type=int, help="only the first N cases")
    parser.add_argument("--max-new-tokens", type=int, default=GenerationParams.max_new_tokens,
                        help=param_spec(GenerationParams, "max_new_tokens").help_text)
    parser.add_argument("--token-budget", type=int)
    parser.add_argument("--batch-size", type=int, help="largest batch")
    parser.add_argument("--device")
    parser.add_argument("--dtype", help="bf16, fp16 or fp32")
    parser.add_argument("--static-cache", action="store_true",
                        help="decode on transformers' static KV cache, compiled on a GPU (each new batch shape is "
                             "compiled again)")
    parser.add_argument("--sample", action="store_true", help=param_spec(GenerationParams, "do_sample").help_text)
    for name in ("temperature", "top_p", "seed"):
        spec = param_spec(GenerationParams, name)
        parser.add_argument(f"--{name.replace('_', '-')}", type=spec.type, default=spec.default, help=spec.help_text)
    parser.add_argument("--overwrite", action="store_true", help="start the output file afresh")
    args = parser.parse_args(argv)
    if args.arm in TRAINABLE_ARMS and not args.adapter:
        parser.error(f"arm {args.arm} answers with its LoRA adapter: name it with --adapter (train it first: "
                     f"python -m modeling.train --arm {args.arm} --base {args.base} --data ... --out <adapter dir>)")
    try:
        registry = registry_from_file(args.tasks)
    except ValueError as exc:
        parser.error(str(exc))
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    cases = read_cases(args.data, registry)
    splits = split_cases(cases, seed=args.split_seed)
    chosen = cases if args.split == "all" else getattr(splits, args.split)
    if args.limit:
        chosen = chosen[: args.limit]
    # Few-shot examples only ever come from a train split, never from the cases being answered.
    pool = split_cases(read_cases(args.fewshot_data, registry), seed=args.split_seed).train if args.fewshot_data \
        else splits.train

    try:
        loaded = load_model(args.base, args.adapter, device=args.device, dtype=args.dtype)
    except ModelLoadError as exc:
        train_first = (f" (an adapter is written by python -m modeling.train --arm {args.arm} --base {args.base} "
                       f"--data ... --out {args.adapter})") if args.adapter else ""
        parser.error(f"{exc}{train_first}")
    out = Path(args.out)
    if args.overwrite and out.exists():
        out.unlink()
    engine = GenerationEngine(loaded, max_new_tokens=args.max_new_tokens, token_budget=args.token_budget,
                              max_batch_size=args.batch_size, static_cache=args.static_cache, do_sample=args.sample,
                              temperature=args.temperature, top_p=args.top_p, seed=args.seed)
    provenance = {**loaded.provenance(), "decoding": engine.decoding_params()}
    done = set()
    for row in read_resumable_jsonl(out):
        if row.get("arm") != args.arm:
            continue
        old = row.get("provenance", {})
        if (old.get("base_hash"), old.get("adapter_hash")) != (loaded.base_hash, loaded.adapter_hash):
            parser.error(f"{out} holds responses of another model for arm {args.arm}; use --overwrite or another --out")
        done.add(row["external_id"])
    todo = [c for c in chosen if c["external_id"] not in done]
    by_key = {c["external_id"]: c for c in todo}
    log.info("%d case(s) to generate (%d already in %s), arm %s, %s cache", len(todo), len(done), out,
             args.arm, "static" if args.static_cache else "dynamic")
    started = time.perf_counter()
    tokens = 0
    with tqdm_progress("generate", "case") as bar, out.open("a", encoding="utf-8") as f:
        for batch in engine.generate_iter(todo, bar, arm=args.arm, fewshot_pool=pool):
            for result in batch:
                f.write(json.dumps(response_row(by_key[result.key], args.arm, result, provenance),
                                   ensure_ascii=False) + "\n")
                tokens += result.completion_tokens
            f.flush()
    elapsed = time.perf_counter() - started
    print(f"wrote {len(todo)} response(s) to {out}: {tokens} tokens in {elapsed:.1f} s "
          f"({tokens / elapsed if elapsed else 0:.1f} tok/s)", file=sys.stderr)
    return 0
