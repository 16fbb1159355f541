"""What each kind of job can be asked to do, with its defaults, bounds and help, in one
place: decoding (a generation job, an arm's defaults, ``python -m modeling.generate``),
training (a training job, ``python -m modeling.train``, :class:`modeling.train.TrainConfig`)
and the LLM judge (a judge job).

The portal builds its page forms and API serializers from these dataclasses, and its
services check a job's values with :func:`params_check`, so a default, a bound or a
help text is written here and nowhere else. Plain Python: no Django, no torch.
"""

import math
import typing
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from types import NoneType, UnionType
from typing import Any

# numpy takes seeds from 0 to 2^32 - 1.
SEED_RANGE = (0, 2**32 - 1)


def param(default: Any = MISSING, help: str = "", *, low: float | None = None, high: float | None = None,
          choices: tuple = (), label: str = "", default_factory: Any = MISSING, max_items: int | None = None):
    """A dataclass field with its default, its bounds (``low``..``high``, inclusive), its
    ``choices`` (values, or (value, label) pairs) and its help text."""
    metadata = {"help": help, "low": low, "high": high, "choices": tuple(choices), "label": label,
                "max_items": max_items}
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class ParamSpec:
    """One parameter as a form or a serializer needs it."""

    name: str
    type: type  # int, float, bool, str or list (of str)
    optional: bool  # None is a value (it means "the default the code picks")
    default: Any
    help: str
    label: str
    low: float | None
    high: float | None
    choices: tuple  # (value, label) pairs
    max_items: int | None

    @property
    def values(self) -> tuple:
        return tuple(value for value, _ in self.choices)

    def problem(self, value) -> str | None:
        """What is wrong with ``value`` for this parameter, in words; None when it is fine."""
        if value is None:
            return None if self.optional else "must be given"
        if self.type is bool:
            return None if isinstance(value, bool) else "must be true or false"
        if self.type in (int, float):
            if isinstance(value, bool) or not isinstance(value, int | float):
                return "must be a number"
            if self.type is int and not (isinstance(value, int) or float(value).is_integer()):
                return "must be a whole number"
            if not math.isfinite(value):
                return "must be a finite number"
            if (self.low is not None and value < self.low) or (self.high is not None and value > self.high):
                return f"must be from {self.low:g} to {self.high:g}"
            return None
        if self.type is list:
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                return "must be a list of names"
            if not value:
                return "must name at least one"
            if self.max_items is not None and len(value) > self.max_items:
                return f"must name at most {self.max_items}"
            return None
        if not isinstance(value, str):
            return "must be text"
        if self.choices and value not in self.values:
            return f"must be one of {', '.join(map(str, self.values))}"
        return None

    def clean(self, value):
        """``value`` as stored (a whole float of an int parameter as an int, an int of a
        float one as a float); call after :meth:`problem`."""
        if value is None:
            return None
        if self.type is int:
            return int(value)
        if self.type is float:
            return float(value)
        if self.type is list:
            return list(value)
        return value

    @property
    def help_text(self) -> str:
        """The help with the default, as a form or the API documents it."""
        if self.default is None:
            shown = ""
        elif isinstance(self.default, bool):
            shown = "on" if self.default else "off"
        elif isinstance(self.default, list):
            shown = ", ".join(self.default)
        else:
            shown = f"{self.default:g}" if isinstance(self.default, float) else str(self.default)
        default = f" Default: {shown}." if shown != "" else ""
        return f"{self.help}{default}".strip()


def _base_type(hint) -> tuple[type, bool]:
    if isinstance(hint, UnionType) or typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not NoneType]
        return _base_type(args[0])[0], True
    return (list if typing.get_origin(hint) is list else hint), False


def param_specs(cls) -> list[ParamSpec]:
    """The parameters of one of this module's dataclasses, in order."""
    hints = typing.get_type_hints(cls)
    specs = []
    for f in fields(cls):
        kind, optional = _base_type(hints[f.name])
        meta = f.metadata
        default = f.default_factory() if f.default_factory is not MISSING else f.default
        choices = tuple(c if isinstance(c, tuple) else (c, str(c)) for c in meta.get("choices", ()))
        specs.append(ParamSpec(f.name, kind, optional, default, meta.get("help", ""), meta.get("label", ""),
                               meta.get("low"), meta.get("high"), choices, meta.get("max_items")))
    return specs


def param_spec(cls, name: str) -> ParamSpec:
    return next(spec for spec in param_specs(cls) if spec.name == name)


def params_check(cls, values: Mapping | None) -> dict:
    """``values`` checked against ``cls``'s parameters: unknown names, wrong types and
    values out of bounds raise ValueError naming each; returns them cleaned."""
    values = dict(values or {})
    specs = {spec.name: spec for spec in param_specs(cls)}
    problems = [f"unknown parameter {name!r} (known: {', '.join(specs)})" for name in values if name not in specs]
    problems += [f"{name} {problem}" for name, value in values.items() if name in specs
                 for problem in [specs[name].problem(value)] if problem]
    if problems:
        raise ValueError("; ".join(problems) + ".")
    return {name: specs[name].clean(value) for name, value in values.items()}


def params_with_defaults(cls, *layers: Mapping | None):
    """An instance of ``cls`` from its defaults, overridden by each of ``layers`` in turn
    (each checked by :func:`params_check`)."""
    merged: dict = {}
    for layer in layers:
        merged.update(params_check(cls, layer))
    return cls(**merged)


def params_dict(params) -> dict:
    return asdict(params)


@dataclass(frozen=True)
class DecodingParams:
    """How responses are decoded: a generation job's settings, an arm's defaults."""

    max_new_tokens: int = param(160, "Most tokens a response may have.", low=1, high=4096)
    do_sample: bool = param(False, "Sample instead of greedy decoding.", label="Sample")
    temperature: float = param(1.0, "Sampling temperature (when sampling).", low=0.0, high=2.0)
    top_p: float = param(1.0, "Nucleus sampling: the probability mass sampled from (when sampling).",
                         low=0.0, high=1.0)


@dataclass(frozen=True)
class GenerationParams(DecodingParams):
    """A generation job's settings: its decoding and the seed of its sampling."""

    seed: int = param(0, "Seed of the sampling (greedy decoding does not depend on it).",
                      low=SEED_RANGE[0], high=SEED_RANGE[1])

    @property
    def decoding(self) -> dict:
        """The decoding part, as a job and an arm store it."""
        return {spec.name: getattr(self, spec.name) for spec in param_specs(DecodingParams)}


LR_SCHEDULES = ("cosine", "constant")


@dataclass(frozen=True)
class TrainParams:
    """The hyperparameters of LoRA training (BehaviorSFT and GeneralSFT)."""

    epochs: float = param(3.0, "Passes over the training split (unless steps is set).", low=0.1, high=100.0)
    steps: int | None = param(None, "Optimizer steps; overrides epochs.", low=1, high=1_000_000)
    learning_rate: float = param(2e-4, "Learning rate of the LoRA weights.", low=1e-7, high=1e-1)
    lora_r: int = param(16, "LoRA rank.", low=1, high=256, label="LoRA r")
    lora_alpha: int | None = param(None, "LoRA alpha (empty: twice the rank).", low=1, high=4096,
                                   label="LoRA alpha")
    lora_dropout: float = param(0.05, "Dropout on the LoRA layers.", low=0.0, high=0.9, label="LoRA dropout")
    token_lr: float | None = param(None, "Learning rate of the behavior tokens' embedding rows (empty: ten times "
                                         "the learning rate; they start from scratch).", low=1e-7, high=1.0,
                                   label="Token learning rate")
    batch_size: int = param(4, "Examples per micro-batch.", low=1, high=1024)
    grad_accum: int = param(1, "Micro-batches per optimizer step.", low=1, high=1024,
                            label="Gradient accumulation")
    max_length: int = param(4096, "Longest example in tokens; longer ones are skipped (and listed in the "
                                  "manifest).", low=16, high=131_072)
    lr_schedule: str = param("cosine", "Learning rate schedule after a linear warmup.", choices=LR_SCHEDULES,
                             label="Learning rate schedule")
    warmup_ratio: float = param(0.03, "Share of the steps spent warming up.", low=0.0, high=1.0)
    weight_decay: float = param(0.0, "AdamW weight decay.", low=0.0, high=1.0)
    max_grad_norm: float = param(1.0, "Gradients are clipped to this norm.", low=0.0, high=10_000.0)
    gradient_checkpointing: bool | None = param(None, "Recompute activations to save memory (empty: on for "
                                                      "CUDA).")
    seed: int = param(0, "Seed of the LoRA initialisation, the data order and dropout.",
                      low=SEED_RANGE[0], high=SEED_RANGE[1])
    save_steps: int = param(50, "A checkpoint every this many steps (the last two kept): a job whose worker "
                                "died resumes from the latest.", low=1, high=1_000_000,
                            label="Checkpoint every (steps)")

    def train_options(self) -> dict:
        """Keyword arguments of :func:`modeling.train.train_adapter` (``steps``, when set,
        wins over ``epochs``)."""
        options = asdict(self)
        options["lr"] = options.pop("learning_rate")
        if options["steps"] is not None:
            options["epochs"] = None
        return options


@dataclass(frozen=True)
class EndpointParams:
    """How requests go to an OpenAI-compatible server: an endpoint judge's (part of
    :class:`JudgeParams`) and an endpoint arm's (its ``max_concurrency``,
    ``request_timeout_s`` and ``max_retries``, these bounds). A request that times out, meets
    a server error (5xx, 429) or cannot connect is retried with backoff; one that still
    fails is that prompt's error, never the run's end."""

    concurrency: int = param(4, "Requests to the endpoint in flight at once (a server that answers one at a time "
                                "keeps the rest waiting: give them the time in the timeout).", low=1, high=256)
    timeout_s: float = param(300.0, "Seconds one request to the endpoint may take, waiting at the server included.",
                             low=1.0, high=3600.0, label="Timeout (s)")
    max_retries: int = param(2, "Retries, with backoff, of a request to the endpoint that timed out, met a server "
                                "error or could not connect.", low=0, high=10)


LOGPROBS_CHOICES = (("auto", "auto"), ("on", "required"), ("off", "never (sample)"))


@dataclass(frozen=True)
class JudgeParams(EndpointParams):
    """How an LLM judge is asked (the endpoint's requests as :class:`EndpointParams`)."""

    use_reference: bool = param(False, "Show the judge the case's reference response.")
    logprobs: str = param("auto", "Endpoint only: score from top_logprobs (required), average samples (never), "
                                  "or whichever the endpoint offers (auto).", choices=LOGPROBS_CHOICES)
    top_logprobs: int = param(20, "Endpoint only: alternatives read at the score's token.", low=1, high=20)
    n_samples: int = param(10, "Endpoint only: samples averaged when there are no logprobs.", low=1, high=50)
    temperature: float = param(1.0, "Endpoint only: temperature of the samples.", low=0.0, high=2.0)
    pairwise_dimensions: list[str] = param(help="Dimensions the pairwise comparisons are asked on.",
                                           default_factory=lambda: ["overall"], max_items=20)

    @property
    def logprobs_mode(self) -> bool | str:
        """``logprobs`` as :class:`modeling.judge.OpenAIJudge` takes it."""
        return {"on": True, "off": False}.get(self.logprobs, "auto")
