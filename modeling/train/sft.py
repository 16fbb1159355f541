"""LoRA training of the GeneralSFT and BehaviorSFT arms with TRL's ``SFTTrainer`` (see
:mod:`modeling.train`)."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from trl import SFTConfig, SFTTrainer

from modeling.behavior import DEFAULT_BEHAVIOR_TOKENS, BehaviorTokens
from modeling.data import IGNORE_INDEX, PROMPT_TEMPLATE_VERSION, TRAINABLE_ARMS, data_hash
from modeling.params import LR_SCHEDULES, TrainParams
from modeling.progress import ProgressCallback, StopCheck
from modeling.train.callbacks import ProgressReport, RunCallback, RunStart, step_losses
from modeling.train.data import training_examples

log = logging.getLogger(__name__)

MANIFEST_FORMAT = "evalportal-adapter/1"
CHECKPOINTS = "checkpoints"  # <adapter>/checkpoints/<run fingerprint>/checkpoint-<step>
RUNS = "runs"  # <adapter>/runs/<attempt>: TensorBoard's event files
SAVE_TOTAL_LIMIT = 2
REPORT_TARGETS = {"tensorboard": "tensorboard", "mlflow": "mlflow", "wandb": "wandb", "none": None}
# peft names the behavior tokens' trainable rows so
TOKEN_ROWS = "trainable_tokens_delta"
# Our cosine schedule ends at a tenth of the learning rate, not at zero.
MIN_LR_RATE = 0.1

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
    batch_size: int = _DEFAULTS.batch_size  # per process (GPU)
    grad_accum: int = _DEFAULTS.grad_accum
    max_length: int = _DEFAULTS.max_length  # longer examples are skipped (and listed in the manifest)
    lr_schedule: str = _DEFAULTS.lr_schedule
    warmup_ratio: float = _DEFAULTS.warmup_ratio
    weight_decay: float = _DEFAULTS.weight_decay
    max_grad_norm: float = _DEFAULTS.max_grad_norm
    seed: int = _DEFAULTS.seed
    gradient_checkpointing: bool | None = _DEFAULTS.gradient_checkpointing  # default: on for CUDA
    save_steps: int = _DEFAULTS.save_steps

    def __post_init__(self) -> None:
        if self.arm not in TRAINABLE_ARMS:
            raise ValueError(f"arm {self.arm!r} is not trained (trainable: {', '.join(TRAINABLE_ARMS)})")
        if self.lr_schedule not in LR_SCHEDULES:
            raise ValueError(f"unknown lr_schedule {self.lr_schedule!r} ({', '.join(LR_SCHEDULES)})")
        if self.steps is not None and self.steps < 1:
            raise ValueError("steps must be at least 1")
        if self.batch_size < 1 or self.grad_accum < 1 or self.save_steps < 1:
            raise ValueError("batch_size, grad_accum and save_steps must be at least 1")

    @property
    def alpha(self) -> int:
        return self.lora_alpha or 2 * self.lora_r


@dataclass
class TrainResult:
    loss_history: list[float]
    adapter_dir: Path
    manifest: dict


class TokenRateSFTTrainer(SFTTrainer):
    """SFTTrainer whose optimizer gives the behavior tokens' embedding rows their own
    learning rate, without weight decay (they start from the vocabulary's mean and have
    far to go); every other trainable parameter takes the run's learning rate. The
    scheduler scales both groups alike.

    The loss is computed here, not by TRL's fused LM head: that head reads the output
    embedding's weight directly, which under peft's trainable tokens is the base weight
    without the token rows' update, so BehaviorSFT's tokens would be trained through the
    input side only. Here the model's own forward (peft's wrapped head included) gives
    logits only at the positions that predict a labelled token (``logits_to_keep``): the
    vocabulary projection over a whole prompt is a large share of a small model's cost
    and of a large vocabulary's memory. Both arms take the same path. Checkpoints hold
    the adapter without the (resized) embedding matrices, as the final adapter does."""

    def __init__(self, *args, token_lr: float, **kwargs):
        self.token_lr = token_lr
        super().__init__(*args, **kwargs)

    def create_optimizer(self, model=None):
        if self.optimizer is None:
            model = self.model if model is None else model
            trainable = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
            rows = [p for name, p in trainable if TOKEN_ROWS in name]
            groups = [{"params": [p for name, p in trainable if TOKEN_ROWS not in name],
                       "weight_decay": self.args.weight_decay}]
            if rows:
                groups.append({"params": rows, "lr": self.token_lr, "weight_decay": 0.0})
            optimizer_cls, optimizer_kwargs = self.get_optimizer_cls_and_kwargs(self.args, model)
            self.optimizer = optimizer_cls(groups, **optimizer_kwargs)
        return self.optimizer

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        import torch

        labels = inputs["labels"]
        keep = torch.zeros_like(labels, dtype=torch.bool)
        keep[:, :-1] = labels[:, 1:] != IGNORE_INDEX
        targets = labels[:, 1:][keep[:, :-1]]
        outputs = model(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"], logits_to_keep=keep,
                        use_cache=False)
        logits = outputs.logits.reshape(-1, outputs.logits.shape[-1])
        if logits.shape[0] != targets.shape[0]:
            raise RuntimeError(f"the model returned {logits.shape[0]} logits for {targets.shape[0]} labelled tokens")
        loss = torch.nn.functional.cross_entropy(logits.float(), targets, reduction="sum")
        # As Trainer.compute_loss: divided by the labelled tokens of the whole step (every micro-batch, every
        # process), times the processes, since DDP averages their gradients.
        loss = loss / (num_items_in_batch if num_items_in_batch is not None else max(targets.numel(), 1))
        if self.args.average_tokens_across_devices and num_items_in_batch is not None:
            loss = loss * self.accelerator.num_processes
        return (loss, outputs) if return_outputs else loss

    def save_model(self, output_dir: str | None = None, _internal_call: bool = False) -> None:
        if self.is_fsdp_enabled or self.is_deepspeed_enabled:  # their own gathering of the weights
            super().save_model(output_dir, _internal_call)
            return
        if self.args.should_save:
            self.model.save_pretrained(output_dir or self.args.output_dir, save_embedding_layers=False)


# -- the model ----------------------------------------------------------------------------------

def _module_name(model, module) -> str | None:
    for name, candidate in model.named_modules():
        if candidate is module:
            return name.rsplit(".", 1)[-1]
    return None


def embeddings_tied(model) -> bool:
    output = model.get_output_embeddings()
    return output is not None and output.weight.data_ptr() == model.get_input_embeddings().weight.data_ptr()


def lora_config(model, config: TrainConfig, token_ids: Sequence[int] = ()):
    """LoRA on all linear layers; ``token_ids`` (the behavior tokens) get trainable
    embedding rows, in the output embeddings too when they are not tied to the input's."""
    from peft import LoraConfig

    trainable_tokens = None
    if token_ids:
        input_name = _module_name(model, model.get_input_embeddings()) or "embed_tokens"
        trainable_tokens = {input_name: list(token_ids)}
        if not embeddings_tied(model) and model.get_output_embeddings() is not None:
            output_name = _module_name(model, model.get_output_embeddings()) or "lm_head"
            trainable_tokens[output_name] = list(token_ids)
    return LoraConfig(r=config.lora_r, lora_alpha=config.alpha, lora_dropout=config.lora_dropout,
                      target_modules=config.target_modules, task_type="CAUSAL_LM", bias="none",
                      trainable_token_indices=trainable_tokens)


def count_parameters(model) -> tuple[int, int]:
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total


def report_targets(report_to: str | Sequence[str] | None) -> list[str]:
    """The trackers a run reports to (``tensorboard``, ``mlflow``, ``wandb``, or ``none``);
    ValueError for an unknown one or one whose package is not installed."""
    import importlib.util

    names = [report_to] if isinstance(report_to, str) else list(report_to or [])
    names = [n.strip() for name in names for n in name.split(",") if n.strip()]
    unknown = [n for n in names if n not in REPORT_TARGETS]
    if unknown:
        raise ValueError(f"unknown training tracker {unknown[0]!r} (known: {', '.join(REPORT_TARGETS)})")
    targets = [n for n in names if REPORT_TARGETS[n]]
    for name in targets:
        if importlib.util.find_spec(REPORT_TARGETS[name]) is None:
            raise ValueError(f"training is set to report to {name}, but the {name} package is not installed "
                             f"on this worker: pip install {name}, or report to tensorboard")
    return targets


def sft_config(config: TrainConfig, output_dir: Path, *, device: str, dtype, report_to: list[str]) -> SFTConfig:
    """TRL's arguments for ``config``: a step logged (and reported) each optimizer step,
    a checkpoint every ``save_steps``, the examples used as they are (already tokenized,
    never cut)."""
    import torch

    checkpointing = config.gradient_checkpointing
    if checkpointing is None:
        checkpointing = str(device).startswith("cuda")
    cosine = config.lr_schedule == "cosine"
    return SFTConfig(
        output_dir=str(output_dir), seed=config.seed,
        max_steps=config.steps or -1, num_train_epochs=config.epochs or _DEFAULTS.epochs,
        per_device_train_batch_size=config.batch_size, gradient_accumulation_steps=config.grad_accum,
        learning_rate=config.lr, weight_decay=config.weight_decay, max_grad_norm=config.max_grad_norm,
        lr_scheduler_type="cosine_with_min_lr" if cosine else "constant_with_warmup",
        lr_scheduler_kwargs={"min_lr_rate": MIN_LR_RATE} if cosine else None,
        # A float under 1 is a share of the steps; all of them is 1 step short of it.
        warmup_steps=min(config.warmup_ratio, 0.999999),
        activation_checkpointing=checkpointing, activation_checkpointing_kwargs={"use_reentrant": False},
        bf16=dtype == torch.bfloat16, fp16=dtype == torch.float16, use_cpu=str(device) == "cpu",
        logging_steps=1, save_strategy="steps", save_steps=config.save_steps, save_total_limit=SAVE_TOTAL_LIMIT,
        report_to=report_to or "none", include_num_input_tokens_seen="non_padding", disable_tqdm=True,
        max_length=None, packing=False, dataset_num_proc=None, ddp_find_unused_parameters=False,
    )


# -- the whole job ----------------------------------------------------------------------------------

def _process_device(device: str | None) -> str | None:
    """Each process of a multi-GPU run on its own GPU."""
    import torch

    if device is None and int(os.environ.get("WORLD_SIZE", "1")) > 1 and torch.cuda.is_available():
        return f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return device


def checkpoint_to_resume(checkpoints: Path) -> tuple[str | None, int]:
    """The newest complete checkpoint of the run in ``checkpoints`` and its step. The
    trainer writes a checkpoint's state last: one without it was cut short (its process
    was killed while saving) and is passed over."""
    from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

    complete = [(int(path.name.rsplit("-", 1)[-1]), path) for path in checkpoints.glob(f"{PREFIX_CHECKPOINT_DIR}-*")
                if path.name.rsplit("-", 1)[-1].isdigit() and (path / "trainer_state.json").is_file()]
    if not complete:
        return None, 0
    step, path = max(complete)
    return str(path), step


def train_adapter(base, cases: Iterable[Mapping], arm: str, out_dir: str | Path, *, epochs: float | None = None,
                  steps: int | None = None, lr: float = _DEFAULTS.learning_rate, lora_r: int = _DEFAULTS.lora_r,
                  seed: int = _DEFAULTS.seed,
                  progress: ProgressCallback | None = None, should_stop: StopCheck | None = None,
                  behavior_tokens: BehaviorTokens = DEFAULT_BEHAVIOR_TOKENS, device: str | None = None,
                  dtype=None, report_to: str | Sequence[str] | None = "tensorboard", resume: bool = True,
                  on_run: RunCallback | None = None, **options) -> TrainResult:
    """Train a GeneralSFT or BehaviorSFT LoRA adapter on ``cases`` and save it.

    ``base``: "demo", a model directory, a .gguf file, or a :class:`LoadedModel`
    (without adapter; it is modified in place). ``options``: any other
    :class:`TrainConfig` field. Cases without a reference response, or longer than
    ``max_length``, are skipped and listed in the manifest. Checkpoints go to
    ``out_dir/checkpoints/<run>`` every ``save_steps``; with ``resume``, a run of the same
    base, data and hyperparameters goes on from its newest one (the manifest says from
    which step). Run under ``accelerate launch``, each process trains on its share of
    each batch and the first one saves. Raises :class:`~modeling.progress.Cancelled` if
    ``should_stop`` fires; no adapter is saved then.
    """
    from transformers import set_seed

    from modeling.loading import LoadedModel, dir_hash, load_model, package_versions

    config = TrainConfig(arm=arm, epochs=epochs, steps=steps, lr=lr, lora_r=lora_r, seed=seed, **options)
    targets = report_targets(report_to)
    set_seed(seed)
    started_at = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    loaded = base if isinstance(base, LoadedModel) else load_model(base, device=_process_device(device), dtype=dtype)
    if loaded.adapter is not None:
        raise ValueError("train_adapter needs a base model without an adapter")
    model, tokenizer = loaded.model, loaded.tokenizer
    token_ids = behavior_tokens.add_to_model(model, tokenizer) if arm == "behavior_sft" else []
    data = training_examples(cases, arm, tokenizer, max_length=config.max_length, behavior_tokens=behavior_tokens)

    out_dir = Path(out_dir)
    used_hash = data_hash(data.used, arm, behavior_tokens if arm == "behavior_sft" else None)
    run = {"base_hash": loaded.base_hash, "data_hash": used_hash, "hyperparameters": asdict(config),
           "dtype": str(loaded.dtype)}
    run_id = _short_hash(run)
    checkpoints = out_dir / CHECKPOINTS / run_id
    resume_from, resumed_step = checkpoint_to_resume(checkpoints) if resume else (None, 0)

    set_seed(seed)  # the LoRA initialisation does not depend on what was loaded before
    args = sft_config(config, checkpoints, device=loaded.device, dtype=loaded.dtype, report_to=targets)
    report, links = ProgressReport(progress, should_stop), RunStart(on_run)
    trainer = TokenRateSFTTrainer(model=model, args=args, train_dataset=data.dataset(), processing_class=tokenizer,
                                  peft_config=lora_config(model, config, token_ids),
                                  token_lr=config.token_lr or 10 * config.lr, callbacks=[report, links])
    links.trackers = trainer.callback_handler.callbacks
    _tensorboard_into(trainer, out_dir / RUNS / f"{time.strftime('%Y%m%d-%H%M%S')}-{socket.gethostname()}")
    peft_model = trainer.model
    trainable, total = count_parameters(peft_model)
    log.info("training %s on %d case(s) in %d process(es): %s trainable of %s parameters%s", arm, len(data.examples),
             args.world_size, f"{trainable:,}", f"{total:,}",
             f", resumed from step {resumed_step}" if resume_from else "")
    output = trainer.train(resume_from_checkpoint=resume_from)
    state_dict = None
    if trainer.is_fsdp_enabled or trainer.is_deepspeed_enabled:  # gathered from every process
        state_dict = trainer.accelerator.get_state_dict(trainer.model_wrapped)
    _done_training(peft_model, args.gradient_checkpointing)
    losses = step_losses(trainer.state.log_history)
    if not trainer.is_world_process_zero():
        return TrainResult(loss_history=losses, adapter_dir=out_dir, manifest={})

    (out_dir / "manifest.json").unlink(missing_ok=True)  # no manifest = not a finished adapter
    peft_model.save_pretrained(out_dir, save_embedding_layers=False, state_dict=state_dict)
    tokenizer.save_pretrained(out_dir)
    ids = [c["external_id"] for c in data.used]
    tokens = trainer.state.num_input_tokens_seen or 0
    seconds = output.metrics.get("train_runtime", 0.0)
    manifest = {
        "format": MANIFEST_FORMAT,
        "arm": arm,
        "uses_behavior_tokens": arm == "behavior_sft",
        "behavior_tokens": behavior_tokens.as_dict() if arm == "behavior_sft" else None,
        "behavior_token_ids": dict(zip(behavior_tokens.as_dict(), token_ids)) if token_ids else None,
        "base": loaded.base,
        "base_hash": loaded.base_hash,
        "base_model_type": getattr(model.config, "model_type", None),
        "data_hash": used_hash,
        "n_cases": len(data.used),
        "case_ids": ids if len(ids) <= 2000 else None,
        "skipped_cases": data.skipped,
        "prompt_template_version": PROMPT_TEMPLATE_VERSION,
        "hyperparameters": asdict(config),
        "lora_alpha": config.alpha,
        "trainer": "trl.SFTTrainer",
        "processes": args.world_size,
        "global_batch_size": config.batch_size * config.grad_accum * args.world_size,
        "device": str(loaded.device),
        "dtype": str(loaded.dtype).removeprefix("torch."),
        "trainable_parameters": trainable,
        "total_parameters": total,
        "steps": trainer.state.global_step,
        "epochs": round(trainer.state.epoch or 0.0, 4),
        "resumed_from_step": resumed_step if resume_from else None,
        "tokens": tokens,
        "train_seconds": round(seconds, 3),
        "tokens_per_s": round(output.metrics.get("train_tokens_per_second", 0.0) or (tokens / seconds if seconds
                                                                                     else 0.0), 2),
        "loss_history": [round(x, 6) for x in losses],
        "final_loss": losses[-1] if losses else None,
        "tracking": links.links,
        "started_at": started_at,
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "packages": {**package_versions(), **_versions("trl", "datasets")},
    }
    manifest["adapter_hash"] = dir_hash(out_dir)
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    shutil.rmtree(out_dir / CHECKPOINTS, ignore_errors=True)  # the adapter is final: nothing left to resume
    return TrainResult(loss_history=losses, adapter_dir=out_dir, manifest=manifest)


def _tensorboard_into(trainer, folder: Path) -> None:
    """TensorBoard's events of this attempt under the adapter's ``runs/``, beside its
    earlier attempts, rather than under the checkpoints."""
    for callback in trainer.callback_handler.callbacks:
        if type(callback).__name__ == "TensorBoardCallback":
            callback.logging_dir = str(folder)


def _done_training(model, checkpointing: bool) -> None:
    """The trained model ready to generate in this process."""
    if checkpointing:
        model.gradient_checkpointing_disable()
    model.config.use_cache = True
    model.eval()


def _short_hash(value) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:16]


def _versions(*packages: str) -> dict[str, str | None]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in packages:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = None
    return found
