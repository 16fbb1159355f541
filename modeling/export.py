"""``python -m modeling.export``: base model + adapter merged into one Hugging Face
directory, the behavior tokens in its tokenizer, for servers that do not load our
adapters (vLLM and SGLang load LoRA weights, not the trained rows of added tokens).

The merge is peft's ``merge_and_unload`` (what :func:`modeling.loading.load_model` does
for our own engine), so the exported model gives the same greedy tokens as base +
adapter. The directory also holds a ``manifest.json`` naming what was merged; our
loader reads the behavior tokens from it.

Serve it and register it as an endpoint arm::

    python -m modeling.export --base demo --adapter var/adapters/behavior-sft --out var/models/behavior-sft-merged
    vllm serve var/models/behavior-sft-merged --served-model-name behavior-sft
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from modeling.loading import MANIFEST_NAME, ModelLoadError, dir_hash, load_model, package_versions

log = logging.getLogger(__name__)

MERGED_FORMAT = "evalportal-merged/1"


def export_merged(base: str | Path, adapter: str | Path, out_dir: str | Path, *, dtype: str | None = None) -> dict:
    """Write ``base`` with ``adapter`` merged to ``out_dir`` (safetensors, config,
    generation config, tokenizer, manifest); returns the manifest."""
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty; export into a new directory")
    loaded = load_model(base, adapter, device="cpu", dtype=dtype, merge=True)
    out.mkdir(parents=True, exist_ok=True)
    loaded.model.save_pretrained(out, safe_serialization=True)
    loaded.tokenizer.save_pretrained(out)
    adapter_manifest = loaded.manifest or {}
    manifest = {
        "format": MERGED_FORMAT,
        "base": loaded.base,
        "base_hash": loaded.base_hash,
        "adapter": loaded.adapter,
        "adapter_hash": loaded.adapter_hash,
        "arm": adapter_manifest.get("arm"),
        "uses_behavior_tokens": bool(loaded.behavior_tokens and adapter_manifest.get("uses_behavior_tokens")),
        "behavior_tokens": loaded.behavior_tokens.as_dict() if loaded.behavior_tokens else None,
        "dtype": str(loaded.dtype).removeprefix("torch."),
        "packages": package_versions(),
        "merged_hash": dir_hash(out),
    }
    (out / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
    log.info("wrote %s (%s merged into %s)", out, adapter, base)
    return manifest


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modeling.export", description=__doc__.split("\n")[0])
    parser.add_argument("--base", required=True, help="'demo', a Hugging Face model directory or a .gguf file")
    parser.add_argument("--adapter", required=True, help="an adapter directory written by modeling.train")
    parser.add_argument("--out", required=True, help="a new directory for the merged model")
    parser.add_argument("--dtype", help="bf16, fp16 or fp32 (default: fp32, as trained on CPU)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        manifest = export_merged(args.base, args.adapter, args.out, dtype=args.dtype)
    except (FileExistsError, ModelLoadError, ValueError, OSError) as exc:
        parser.error(str(exc))
    print(f"merged model in {args.out} ({manifest['dtype']}); serve it with: vllm serve {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
