"""LoRA training of the GeneralSFT and BehaviorSFT arms (see :mod:`modeling.train`)."""

from __future__ import annotations

import json
import logging
import math
import random
import time
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from modeling.behavior import DEFAULT_BEHAVIOR_TOKENS, BehaviorTokens
from modeling.data import (
    IGNORE_INDEX,
    PROMPT_TEMPLATE_VERSION,
    TRAINABLE_ARMS,
    data_hash,
    encode_for_training,
)
from modeling.params import LR_SCHEDULES, TrainParams
from modeling.progress import Cancelled, ProgressCallback, ProgressTracker, StopCheck

log = logging.getLogger(__name__)

MANIFEST_FORMAT = "evalportal-adapter/1"


_DEFAULTS = TrainParams()


@dataclass
class TrainConfig:
    """One training run: the hyperparameters (defaults, bounds and meaning in
    :class:`modeling.params.TrainParams`, where ``lr`` is ``learning_rate``) and the arm."""

    arm: str = "behavior_sft"
    epochs: float | None = None  # used when steps is None; default TrainParams.epochs
    steps: int | None = _DEFAULTS.steps
    lr: float = _DEFAULTS.learning_rate
    token_lr: float | None = _DEFAULTS.token_lr  # default 10 x lr (the token rows start from scratch)
    lora_r: int = _DEFAULTS.lora_r
    lora_alpha: int | None = _DEFAULTS.lora_alpha  # default 2 * lora_r
    lora_dropout: float = _DEFAULTS.lora_dropout
    target_modules: str | list[str] = "all-linear"
    batch_size: int = _DEFAULTS.batch_size
    grad_accum: int = _DEFAULTS.grad_accum
    max_length: int = _DEFAULTS.max_length  # longer examples are skipped (and listed in the manifest)
    lr_schedule: str = _DEFAULTS.lr_schedule
    warmup_ratio: float = _DEFAULTS.warmup_ratio
    weight_decay: float = _DEFAULTS.weight_decay
    max_grad_norm: float = _DEFAULTS.max_grad_norm
    seed: int = _DEFAULTS.seed
    gradient_checkpointing: bool | None = _DEFAULTS.gradient_checkpointing  # default: on for CUDA
    log_every: int = 10

    def __post_init__(self) -> None:
        if self.arm not in TRAINABLE_ARMS:
            raise ValueError(f"arm {self.arm!r} is not trained (trainable: {', '.join(TRAINABLE_ARMS)})")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"unknown lr_schedule {self.lr_schedule!r} ({', '.join(LR_SCHEDULES)})")
        if self.steps is not None and self.steps < 1:
            raise ValueError("steps must be at least 1")
        if self.batch_size < 1 or self.grad_accum < 1:
            raise ValueError("batch_size and grad_accum must be at least 1")


@dataclass
class TrainStats:
    loss_history: list[float] = field(default_factory=list)  # mean loss of each optimizer step
    steps: int = 0
    epochs: float = 0.0
    tokens: int = 0  # non-padding input tokens seen
    label_tokens: int = 0  # tokens the loss was computed on
    seconds: float = 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.seconds if self.seconds else 0.0


@dataclass
class TrainResult:
    loss_history: list[float]
    adapter_dir: Path
    manifest: dict


def set_seed(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # pragma: no cover
        pass


# -- the model ----------------------------------------------------------------------------------

def _module_name(model, module) -> str | None:
    for name, candidate in model.named_modules():
        if candidate is module:
            return name.rsplit(".", 1)[-1]
    return None


def embeddings_tied(model) -> bool:
    output = model.get_output_embeddings()
    return output is not None and output.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()


def add_lora(model, config: TrainConfig, token_ids: Sequence[int] = ()):
    """Wrap ``model`` in a peft LoRA model; ``token_ids`` (the behavior tokens) get
    trainable embedding rows, in the output embeddings too when untied."""
    from peft import LoraConfig, get_peft_model

    trainable_tokens = None
    if token_ids:
        input_name = _module_name(model, model.get_input_embeddings()) or "embed_tokens"
        trainable_tokens = {input_name: list(token_ids)}
        if not embeddings_tied(model) and model.get_output_embeddings() is not None:
            output_name = _module_name(model, model.get_output_embeddings()) or "lm_head"
            trainable_tokens[output_name] = list(token_ids)
    lora_config = LoraConfig(
        r=config.lora_r, lora_alpha=config.lora_alpha or 2 * config.lora_r, lora_dropout=config.lora_dropout,
        target_modules=config.target_modules, task_type="CAUSAL_LM", bias="none",
        trainable_token_indices=trainable_tokens,
    )
    with warnings.catch_warnings():  # peft asks transformers a deprecated question; not ours to fix
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        peft_model = get_peft_model(model, lora_config)
    # Optimizer state and updates in fp32 even when the base model is bf16.
    for parameter in peft_model.parameters():
        if parameter.requires_grad and parameter.dtype != torch.float32:
            parameter.data = parameter.data.float()
    return peft_model


def count_parameters(model) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


# -- the loop -----------------------------------------------------------------------------------

def collate(examples: Sequence[Mapping], pad_token_id: int) -> dict[str, torch.Tensor]:
    """Right-padded tensors; padding is masked out of attention and loss."""
    longest = max(len(e["input_ids"]) for e in examples)
    input_ids = torch.full((len(examples), longest), pad_token_id, dtype=torch.long)
    labels = torch.full((len(examples), longest), IGNORE_INDEX, dtype=torch.long)
    attention_mask = torch.zeros((len(examples), longest), dtype=torch.long)
    for row, e in enumerate(examples):
        n = len(e["input_ids"])
        input_ids[row, :n] = torch.tensor(e["input_ids"])
        labels[row, :n] = torch.tensor(e["labels"])
        attention_mask[row, :n] = 1
    return {"input_ids": input_ids, "labels": labels, "attention_mask": attention_mask}


def causal_lm_loss(model, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """Mean next-token cross-entropy over the labelled tokens. Logits are computed only
    at the positions that predict a labelled token (``logits_to_keep`` mask), not over
    the whole prompt: the vocabulary projection is a large part of a small model's
    cost, and of a large vocabulary's memory."""
    labels = batch["labels"]
    keep = torch.zeros_like(labels, dtype=torch.bool)
    keep[:, :-1] = labels[:, 1:] != IGNORE_INDEX
    targets = labels[:, 1:][keep[:, :-1]]
    logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"],
                   logits_to_keep=keep, use_cache=False).logits
    logits = logits.reshape(-1, logits.shape[-1])
    if logits.shape[0] != targets.shape[0]:
        raise RuntimeError(f"the model returned {logits.shape[0]} logits for {targets.shape[0]} labelled tokens")
    return torch.nn.functional.cross_entropy(logits.float(), targets)


def _schedule(config: TrainConfig, total_steps: int):
    warmup = int(round(config.warmup_ratio * total_steps))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        if config.lr_schedule == "constant":
            return 1.0
        progress = (step - warmup) / max(1, total_steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


def planned_steps(n_examples: int, config: TrainConfig) -> int:
    if config.steps is not None:
        return config.steps
    per_epoch = math.ceil(n_examples / (config.batch_size * config.grad_accum))
    return max(1, math.ceil(per_epoch * (config.epochs if config.epochs is not None else _DEFAULTS.epochs)))


def run_training(model, examples: Sequence[Mapping], config: TrainConfig, *, device: str | torch.device,
                 pad_token_id: int, progress: ProgressCallback | None = None,
                 should_stop: StopCheck | None = None) -> TrainStats:
    """Train the trainable parameters of ``model`` on tokenized ``examples``.

    Micro-batches of ``batch_size`` examples, reshuffled (seeded) each epoch;
    ``grad_accum`` micro-batches per optimizer step; AdamW with warmup and cosine or
    constant schedule; gradient clipping. Raises :class:`Cancelled` when
    ``should_stop()`` turns true (checked before each step).
    """
    if not examples:
        raise ValueError("no training examples")
    device = torch.device(device)
    total_steps = planned_steps(len(examples), config)
    parameters = [p for p in model.parameters() if p.requires_grad]
    token_rows = [p for name, p in model.named_parameters() if p.requires_grad and "trainable_tokens_delta" in name]
    groups = [{"params": [p for p in parameters if all(p is not q for q in token_rows)], "lr": config.lr}]
    if token_rows:
        groups.append({"params": token_rows, "lr": config.token_lr or 10 * config.lr, "weight_decay": 0.0})
    optimizer = torch.optim.AdamW(groups, lr=config.lr, weight_decay=config.weight_decay,
                                  fused=device.type == "cuda")
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(config, total_steps))
    checkpointing = config.gradient_checkpointing
    if checkpointing is None:
        checkpointing = device.type == "cuda"
    if checkpointing:
        model.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
        if hasattr(model, "enable_input_require_grads"):
            model.enable_input_require_grads()
    model.config.use_cache = False
    model.train()

    rng = random.Random(config.seed)
    order: list[int] = []
    epoch_position = 0.0

    def next_batch() -> list[Mapping]:
        nonlocal order, epoch_position
        if not order:
            order = list(range(len(examples)))
            rng.shuffle(order)
        picked, order = order[: config.batch_size], order[config.batch_size:]
        epoch_position += len(picked) / len(examples)
        return [examples[i] for i in picked]

    stats = TrainStats()
    tracker = ProgressTracker(total_steps, progress, stage="train")
    started = time.perf_counter()
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" and any(
        p.dtype == torch.bfloat16 for p in model.parameters()) else None
    for step in range(total_steps):
        if should_stop is not None and should_stop():
            raise Cancelled(f"training stopped at step {step} of {total_steps}")
        optimizer.zero_grad(set_to_none=True)
        step_loss = 0.0
        step_tokens = 0
        for _ in range(config.grad_accum):
            batch = {k: v.to(device) for k, v in collate(next_batch(), pad_token_id).items()}
            if autocast is not None:
                with autocast:
                    loss = causal_lm_loss(model, batch)
            else:
                loss = causal_lm_loss(model, batch)
            (loss / config.grad_accum).backward()
            step_loss += loss.item() / config.grad_accum
            step_tokens += int(batch["attention_mask"].sum())
            stats.label_tokens += int((batch["labels"] != IGNORE_INDEX).sum())
        if config.max_grad_norm:
            torch.nn.utils.clip_grad_norm_(parameters, config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        if not math.isfinite(step_loss):
            raise FloatingPointError(f"training loss is {step_loss} at step {step + 1}")
        stats.loss_history.append(step_loss)
        stats.tokens += step_tokens
        stats.steps = step + 1
        tracker.update(done=1, tokens=step_tokens, loss=step_loss)
        if config.log_every and (step + 1) % config.log_every == 0:
            log.info("step %d/%d loss %.4f lr %.2e", step + 1, total_steps, step_loss, scheduler.get_last_lr()[0])
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    stats.seconds = time.perf_counter() - started
    stats.epochs = epoch_position
    if checkpointing:
        model.gradient_checkpointing_disable()
    model.config.use_cache = True
    model.eval()
    return stats


# -- the whole job ----------------------------------------------------------------------------------

def train_adapter(base, cases: Iterable[Mapping], arm: str, out_dir: str | Path, *, epochs: float | None = None,
                  steps: int | None = None, lr: float = _DEFAULTS.learning_rate, lora_r: int = _DEFAULTS.lora_r,
                  seed: int = _DEFAULTS.seed,
                  progress: ProgressCallback | None = None, should_stop: StopCheck | None = None,
                  behavior_tokens: BehaviorTokens = DEFAULT_BEHAVIOR_TOKENS, device: str | None = None,
                  dtype=None, **options) -> TrainResult:
    """Train a GeneralSFT or BehaviorSFT LoRA adapter on ``cases`` and save it.

    ``base``: "demo", a model directory, a .gguf file, or a :class:`LoadedModel`
    (without adapter; it is modified in place). ``options``: any other
    :class:`TrainConfig` field (batch_size, grad_accum, lora_alpha, lora_dropout,
    max_length, lr_schedule, warmup_ratio, gradient_checkpointing, ...). Cases without
    a reference response, or longer than ``max_length``, are skipped and listed in the
    manifest. Raises :class:`~modeling.progress.Cancelled` if ``should_stop`` fires;
    nothing is saved then.
    """
    from modeling.loading import LoadedModel, dir_hash, load_model, package_versions

    config = TrainConfig(arm=arm, epochs=epochs, steps=steps, lr=lr, lora_r=lora_r, seed=seed, **options)
    set_seed(seed)
    started_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    loaded = base if isinstance(base, LoadedModel) else load_model(base, device=device, dtype=dtype)
    if loaded.adapter is not None:
        raise ValueError("train_adapter needs a base model without an adapter")
    model, tokenizer = loaded.model, loaded.tokenizer

    token_ids: list[int] = []
    if arm == "behavior_sft":
        token_ids = behavior_tokens.add_to_model(model, tokenizer)

    cases = list(cases)
    examples, used, skipped = [], [], []
    for case in cases:
        if case.get("reference_response") is None:
            skipped.append({"external_id": case.get("external_id"), "reason": "no reference_response"})
            continue
        try:
            examples.append(encode_for_training(case, arm, tokenizer, behavior_tokens=behavior_tokens,
                                                max_length=config.max_length))
            used.append(case)
        except ValueError as exc:
            skipped.append({"external_id": case.get("external_id"), "reason": str(exc)})
    if not examples:
        raise ValueError(f"none of the {len(cases)} case(s) can be trained on: {skipped[:3]}")
    if skipped:
        log.warning("skipped %d case(s): %s", len(skipped), skipped[:5])

    set_seed(seed)  # the LoRA initialisation does not depend on what was loaded before
    peft_model = add_lora(model, config, token_ids)
    trainable, total = count_parameters(peft_model)
    log.info("training %s on %d case(s): %s trainable of %s parameters, %d step(s)", arm, len(examples),
             f"{trainable:,}", f"{total:,}", planned_steps(len(examples), config))
    stats = run_training(peft_model, examples, config, device=loaded.device, pad_token_id=tokenizer.pad_token_id,
                         progress=progress, should_stop=should_stop)

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "manifest.json").unlink(missing_ok=True)  # no manifest = not a finished adapter
    peft_model.save_pretrained(out_dir, save_embedding_layers=False)
    tokenizer.save_pretrained(out_dir)
    ids = [c["external_id"] for c in used]
    manifest = {
        "format": MANIFEST_FORMAT,
        "arm": arm,
        "uses_behavior_tokens": arm == "behavior_sft",
        "behavior_tokens": behavior_tokens.as_dict() if arm == "behavior_sft" else None,
        "behavior_token_ids": dict(zip(behavior_tokens.as_dict(), token_ids)) if token_ids else None,
        "base": loaded.base,
        "base_hash": loaded.base_hash,
        "base_model_type": getattr(model.config, "model_type", None),
        "data_hash": data_hash(used, arm, behavior_tokens if arm == "behavior_sft" else None),
        "n_cases": len(used),
        "case_ids": ids if len(ids) <= 2000 else None,
        "skipped_cases": skipped,
        "prompt_template_version": PROMPT_TEMPLATE_VERSION,
        "hyperparameters": {k: v for k, v in asdict(config).items() if k not in ("log_every",)},
        "lora_alpha": config.lora_alpha or 2 * config.lora_r,
        "device": str(loaded.device),
        "dtype": str(loaded.dtype).removeprefix("torch."),
        "trainable_parameters": trainable,
        "total_parameters": total,
        "steps": stats.steps,
        "epochs": round(stats.epochs, 4),
        "tokens": stats.tokens,
        "label_tokens": stats.label_tokens,
        "train_seconds": round(stats.seconds, 3),
        "tokens_per_s": round(stats.tokens_per_s, 2),
        "loss_history": [round(x, 6) for x in stats.loss_history],
        "final_loss": stats.loss_history[-1],
        "started_at": started_at,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "packages": package_versions(),
    }
    manifest["adapter_hash"] = dir_hash(out_dir)
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    return TrainResult(loss_history=stats.loss_history, adapter_dir=out_dir, manifest=manifest)
