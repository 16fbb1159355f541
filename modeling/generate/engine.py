"""The batched generation engine.

How a job runs: every prompt is tokenized first; prompts are sorted by length (longest
first, so a batch that does not fit in memory fails at once) and packed into batches
whose padded size, ``batch x (longest prompt + max_new_tokens)``, stays within a token
budget. Prompts are left-padded, and each batch is decoded by transformers' own
``generate``: its dynamic KV cache by default, or, with ``static_cache``, its static
cache, whose forward ``generate`` compiles on a GPU.

Each result carries the text shown to clinicians (leading behavior token parsed into
``predicted_behavior`` and every behavior token string removed), the raw text, token
counts, why it ended (``finish_reason``) and the wall time of its batch.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field

import torch

from modeling.behavior import DEFAULT_BEHAVIOR_TOKENS, BehaviorTokens
from modeling.data import PROMPT_TEMPLATE_VERSION, build_messages, prompt_ids
from modeling.params import DecodingParams
from modeling.progress import ProgressCallback, ProgressTracker, StopCheck

log = logging.getLogger(__name__)

# With a static cache each new (batch, padded length) shape is compiled again; prompts
# padded to a multiple of this many tokens share their compiled graphs.
STATIC_CACHE_PAD_TO = 64


@dataclass
class GenerationResult:
    key: str
    text: str  # shown to raters: no behavior token, stripped; "" when the model stays silent
    raw_text: str  # as generated, special tokens kept (up to the end-of-turn token)
    predicted_behavior: str | None  # named by the leading behavior token, if any
    prompt_tokens: int
    completion_tokens: int  # tokens generated, the end-of-turn token excluded
    latency_s: float  # wall time of the batch that produced it
    # "stop" (an end-of-turn token), "length" (cut at max_new_tokens), or what a server
    # said; None where nothing says.
    finish_reason: str | None = None
    token_ids: list[int] = field(default_factory=list, repr=False)
    # What the engine knows of this one answer (an endpoint: the model the server names).
    meta: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        out = asdict(self)
        out.pop("token_ids")
        return out


@dataclass
class _Prompt:
    index: int
    key: str
    ids: list[int]


# -- the engine ------------------------------------------------------------------------------

class GenerationEngine:
    """Batched generation for one loaded model.

    ``token_budget`` bounds ``batch x (longest prompt + max_new_tokens)`` per batch
    (default: 8,192 on CPU; on CUDA what fits in half the free memory as KV cache).
    Greedy decoding unless ``do_sample``; with greedy decoding the results do not
    depend on ``seed``, on the batching, or on the cache (up to floating point ties).
    ``static_cache`` decodes on transformers' static KV cache, which ``generate``
    compiles on a GPU (each new batch shape costs a compilation). ``ignore_eos``
    (benchmarks) always generates ``max_new_tokens``.
    """

    def __init__(self, loaded, max_new_tokens: int = DecodingParams.max_new_tokens, token_budget: int | None = None, *,
                 do_sample: bool = DecodingParams.do_sample, temperature: float = DecodingParams.temperature, top_p: float = DecodingParams.top_p, top_k: int = 0,
                 seed: int = 0, max_batch_size: int | None = None, static_cache: bool = False,
                 behavior_tokens: BehaviorTokens | None = None, ignore_eos: bool = False,
                 pad_token_id: int | None = None, eos_token_ids: Sequence[int] | None = None):
        self.loaded = loaded
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        self.device = torch.device(loaded.device)
        self.max_new_tokens = int(max_new_tokens)
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be at least 1")
        self.do_sample = do_sample
        self.temperature = temperature
        self.top_p = top_p
        self.top_k = top_k
        self.seed = seed
        self.ignore_eos = ignore_eos
        self.static_cache = bool(static_cache)
        is_cuda = self.device.type == "cuda"
        self.max_batch_size = max_batch_size or (256 if is_cuda else 16)
        self.token_budget = token_budget or self._default_token_budget()
        self.behavior_tokens = behavior_tokens or getattr(loaded, "behavior_tokens", None) or DEFAULT_BEHAVIOR_TOKENS
        tokenizer = self.tokenizer
        if pad_token_id is None:
            if tokenizer is None:
                raise ValueError("without a tokenizer, give pad_token_id and eos_token_ids")
            pad_token_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.pad_token_id = int(pad_token_id)
        if eos_token_ids is None:
            eos_token_ids = self._eos_ids()
        self.eos_token_ids = sorted({int(i) for i in eos_token_ids})

    # -- configuration ----------------------------------------------------------------

    def _eos_ids(self) -> list[int]:
        """End-of-turn ids: the tokenizer's eos, the model's generation config eos, and
        the chat end-of-turn tokens the vocabulary has."""
        ids = set()
        if self.tokenizer is None:
            raise ValueError("without a tokenizer, give eos_token_ids")
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        config_eos = getattr(getattr(self.model, "generation_config", None), "eos_token_id", None)
        if isinstance(config_eos, int):
            ids.add(config_eos)
        elif config_eos:
            ids.update(config_eos)
        vocab = self.tokenizer.get_vocab()
        ids.update(vocab[name] for name in ("<|im_end|>", "<|eot_id|>", "<end_of_turn>") if name in vocab)
        return sorted(ids)

    def _kv_bytes_per_token(self) -> int:
        config = self.model.config.get_text_config(decoder=True)
        heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
        head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
        element = torch.finfo(self.loaded.dtype).bits // 8 if self.loaded.dtype.is_floating_point else 4
        return 2 * config.num_hidden_layers * heads * head_dim * element

    def _default_token_budget(self) -> int:
        if self.device.type != "cuda":
            return 8192
        free, _ = torch.cuda.mem_get_info(self.device)
        return max(4096, int(free * 0.5 / self._kv_bytes_per_token()))

    def decoding_params(self) -> dict:
        """What decides the output, for each response's provenance."""
        return {
            "strategy": "sample" if self.do_sample else "greedy",
            "do_sample": self.do_sample,
            "temperature": self.temperature if self.do_sample else None,
            "top_p": self.top_p if self.do_sample else None,
            "top_k": self.top_k if self.do_sample else None,
            "max_new_tokens": self.max_new_tokens,
            "repetition_penalty": 1.0,
            "seed": self.seed,
            "ignore_eos": self.ignore_eos,
            "backend": "hf",
            "cache": "static" if self.static_cache else "dynamic",
            "compiled": self.compiled,
            "dtype": str(self.loaded.dtype).removeprefix("torch."),
            "prompt_template": PROMPT_TEMPLATE_VERSION,
            "eos_token_ids": self.eos_token_ids,
        }

    @property
    def compiled(self) -> bool:
        """Whether ``generate`` compiles the forward: on a static cache, on a GPU."""
        return self.static_cache and self.device.type == "cuda"

    def generation_config(self):
        """transformers' settings for each batch's ``generate``."""
        from transformers import GenerationConfig

        params = dict(max_new_tokens=self.max_new_tokens, do_sample=self.do_sample, num_beams=1,
                      repetition_penalty=1.0, pad_token_id=self.pad_token_id, eos_token_id=self.eos_token_ids,
                      use_cache=True, disable_compile=not self.static_cache)
        if self.static_cache:
            params["cache_implementation"] = "static"
        if self.do_sample:
            params.update(temperature=self.temperature, top_p=self.top_p, top_k=self.top_k)
        else:
            params.update(temperature=1.0, top_p=1.0, top_k=None)
        if self.ignore_eos:
            params["min_new_tokens"] = self.max_new_tokens
        return GenerationConfig(**params)

    # -- inputs ------------------------------------------------------------------------

    def _normalise(self, items: Iterable, arm: str | None, fewshot_pool) -> list[_Prompt]:
        prompts = []
        for index, item in enumerate(items):
            if isinstance(item, Mapping):
                if arm is None:
                    raise ValueError("items are cases: pass arm=... to generate_iter")
                key, messages = item["external_id"], build_messages(item, arm, fewshot_pool)
            else:
                key, messages = item
            if messages and isinstance(messages[0], int):
                ids = list(messages)
            else:
                ids = prompt_ids(self.tokenizer, list(messages))
            if not ids:
                raise ValueError(f"item {key!r}: empty prompt")
            prompts.append(_Prompt(index, str(key), ids))
        return prompts

    def plan_batches(self, lengths: Sequence[int]) -> list[list[int]]:
        """Indices grouped into batches: longest first; each batch holds at most
        ``max_batch_size`` prompts and ``batch x (longest + max_new_tokens)`` stays within
        ``token_budget`` (a prompt too long for the budget goes alone)."""
        order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
        batches: list[list[int]] = []
        current: list[int] = []
        for i in order:
            longest = lengths[current[0]] if current else lengths[i]
            if current and ((len(current) + 1) * (longest + self.max_new_tokens) > self.token_budget
                            or len(current) >= self.max_batch_size):
                batches.append(current)
                current = []
            current.append(i)
        if current:
            batches.append(current)
        return batches

    # -- the public loop ------------------------------------------------------------------

    def generate_iter(self, items: Iterable, progress: ProgressCallback | None = None,
                      should_stop: StopCheck | None = None, *, arm: str | None = None,
                      fewshot_pool: Sequence[Mapping] | None = None,
                      on_lasting_failure: Callable | None = None) -> Iterator[list[GenerationResult]]:
        """Yield one list of results per batch, so the caller can store them and cancel
        between batches (``should_stop`` is asked before each batch).

        ``items``: ``(key, messages)`` pairs (messages: chat dicts, or prompt token ids),
        or case dicts with ``arm`` (and ``fewshot_pool`` for the fewshot arm).
        ``on_lasting_failure`` is the endpoint engine's (a server's refusal of one prompt);
        a local model refuses none, so it is never called here.
        """
        prompts = self._normalise(items, arm, fewshot_pool)
        tracker = ProgressTracker(len(prompts), progress, stage="generate")
        if progress is not None:
            tracker.update()
        for batch_number, batch in enumerate(self.plan_batches([len(p.ids) for p in prompts])):
            if should_stop is not None and should_stop():
                log.info("generation stopped after %d of %d prompts", tracker.done, len(prompts))
                return
            results = self._run_safely([prompts[i] for i in batch], batch_number)
            tracker.update(done=len(results), tokens=sum(r.completion_tokens for r in results))
            yield results

    def generate(self, items: Iterable, progress: ProgressCallback | None = None, **kwargs) -> list[GenerationResult]:
        """All results, in the order of ``items``."""
        items = list(items)
        results = [r for batch in self.generate_iter(items, progress, **kwargs) for r in batch]
        order = {str(item["external_id"] if isinstance(item, Mapping) else item[0]): i for i, item in enumerate(items)}
        return sorted(results, key=lambda r: order.get(r.key, 0))

    # -- one batch -----------------------------------------------------------------------------

    def _run_safely(self, prompts: list[_Prompt], batch_number: int) -> list[GenerationResult]:
        try:
            return self._run_batch(prompts, batch_number)
        except torch.cuda.OutOfMemoryError:
            if len(prompts) == 1:
                raise
            torch.cuda.empty_cache()
            self.max_batch_size = max(1, len(prompts) // 2)
            log.warning("out of GPU memory with a batch of %d; retrying in halves", len(prompts))
            half = len(prompts) // 2
            return self._run_safely(prompts[:half], batch_number) + self._run_safely(prompts[half:], batch_number)

    def _pad(self, prompts: list[_Prompt]) -> tuple[torch.Tensor, torch.Tensor]:
        longest = max(len(p.ids) for p in prompts)
        if self.static_cache:
            longest = math.ceil(longest / STATIC_CACHE_PAD_TO) * STATIC_CACHE_PAD_TO
        ids = torch.full((len(prompts), longest), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), longest), dtype=torch.long)
        for row, p in enumerate(prompts):
            ids[row, longest - len(p.ids):] = torch.tensor(p.ids, dtype=torch.long)
            mask[row, longest - len(p.ids):] = 1
        return ids.to(self.device), mask.to(self.device)

    @torch.inference_mode()
    def _run_batch(self, prompts: list[_Prompt], batch_number: int) -> list[GenerationResult]:
        started = time.perf_counter()
        input_ids, attention_mask = self._pad(prompts)
        if self.do_sample:
            torch.manual_seed(self.seed + batch_number)
        output = self.model.generate(input_ids=input_ids, attention_mask=attention_mask,
                                     generation_config=self.generation_config())
        new_tokens = output[:, input_ids.shape[1]:].cpu().tolist()
        latency = time.perf_counter() - started
        return [self._result(p, tokens, latency) for p, tokens in zip(prompts, new_tokens)]

    def _result(self, prompt: _Prompt, tokens: list[int], latency: float) -> GenerationResult:
        finish = "length"
        if not self.ignore_eos:
            eos = set(self.eos_token_ids)
            for i, token in enumerate(tokens):
                if token in eos:
                    tokens, finish = tokens[:i], "stop"
                    break
        tokens = tokens[: self.max_new_tokens]
        raw = self.tokenizer.decode(tokens, skip_special_tokens=False) if self.tokenizer is not None else ""
        behavior, _ = self.behavior_tokens.parse(raw)
        shown = self.tokenizer.decode(tokens, skip_special_tokens=True) if self.tokenizer is not None else ""
        text = self.behavior_tokens.strip(shown)
        return GenerationResult(key=prompt.key, text=text, raw_text=raw, predicted_behavior=behavior,
                                prompt_tokens=len(prompt.ids), completion_tokens=len(tokens), latency_s=latency,
                                finish_reason=finish, token_ids=tokens)
