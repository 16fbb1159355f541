"""The batched generation engine and the ``python -m modeling.generate`` CLI.

How a job runs: every prompt is tokenized first; prompts are sorted by length (longest
first, so a batch that does not fit in memory fails at once) and packed into batches
whose padded size, ``batch x (longest prompt + max_new_tokens)``, stays within a token
budget. Prompts are left-padded.

Two decoding backends, same results with greedy decoding:

- ``hf`` (the CPU default): transformers' ``generate`` on each batch.
- ``static`` (the CUDA default): our own loop on a preallocated static KV cache. The
  prompt is prefilled in chunks (eager), then each decoding step is one call of a
  ``torch.compile``'d forward (``mode="reduce-overhead"``: CUDA graphs) with the next
  token picked on the device; the host only looks at the tokens every few steps to
  stop a batch once all its rows have finished. Single-token decoding attention uses
  grouped-query attention without repeating the key/value heads (``repeat_kv`` would
  copy the whole cache every step). The padding slots of the cache are zeroed after
  the prefill.

Each result carries the text shown to clinicians (leading behavior token parsed into
``predicted_behavior`` and every behavior token string removed), the raw text, token
counts and the wall time of its batch.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from modeling.behavior import DEFAULT_BEHAVIOR_TOKENS, BehaviorTokens
from modeling.data import ARMS, PROMPT_TEMPLATE_VERSION, build_messages, prompt_ids
from modeling.jsonl import read_resumable_jsonl
from modeling.progress import ProgressCallback, ProgressTracker, StopCheck, tqdm_progress

log = logging.getLogger(__name__)

ATTENTION_NAME = "evalportal_sdpa"


@dataclass
class GenerationResult:
    key: str
    text: str  # shown to raters: no behavior token, stripped; "" when the model stays silent
    raw_text: str  # as generated, special tokens kept (up to the end-of-turn token)
    predicted_behavior: str | None  # named by the leading behavior token, if any
    prompt_tokens: int
    completion_tokens: int  # tokens generated, the end-of-turn token excluded
    latency_s: float  # wall time of the batch that produced it
    finish_reason: str = "stop"  # "stop" (end-of-turn token) or "length" (max_new_tokens)
    token_ids: list[int] = field(default_factory=list, repr=False)

    def as_dict(self) -> dict:
        out = asdict(self)
        out.pop("token_ids")
        return out


@dataclass
class _Prompt:
    index: int
    key: str
    ids: list[int]


# -- attention for single-token decoding --------------------------------------------------

def _grouped_decode_attention(module, query, key, value, attention_mask, dropout=0.0, scaling=None,
                              is_causal=None, **kwargs):
    """SDPA, except for one query token with grouped-query attention: there the query
    heads that share a key/value head become that head's queries (``(b, kv_heads,
    n_rep, d)``), so the cache is read once instead of being copied ``n_rep`` times by
    ``repeat_kv``. The same packing transformers uses in eager decoding, kept under
    ``torch.compile`` (where transformers falls back to ``repeat_kv``)."""
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    n_rep = getattr(module, "num_key_value_groups", 1)
    mask_shared = attention_mask is None or (attention_mask.dim() == 4 and attention_mask.shape[1] == 1
                                             and attention_mask.shape[2] == 1)
    if (query.shape[2] != 1 or n_rep == 1 or dropout or not mask_shared
            or any(kwargs.get(k) is not None for k in ("position_bias", "softcap", "s_aux", "sinks"))):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout,
                                      scaling=scaling, is_causal=is_causal, **kwargs)
    batch, heads, _, dim = query.shape
    packed = query.reshape(batch, key.shape[1], n_rep, dim)
    out = torch.nn.functional.scaled_dot_product_attention(packed, key, value, attn_mask=attention_mask,
                                                           scale=scaling)
    return out.reshape(batch, 1, heads, value.shape[-1]), None


_ATTENTION_REGISTERED = False


def _register_attention() -> None:
    global _ATTENTION_REGISTERED
    if _ATTENTION_REGISTERED:
        return
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    AttentionInterface.register(ATTENTION_NAME, _grouped_decode_attention)
    AttentionMaskInterface.register(ATTENTION_NAME, sdpa_mask)
    _ATTENTION_REGISTERED = True


def _unwrap(model):
    """The transformers model inside a peft wrapper, if any."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


# -- the engine ------------------------------------------------------------------------------

class GenerationEngine:
    """Batched generation for one loaded model.

    ``token_budget`` bounds ``batch x (longest prompt + max_new_tokens)`` per batch
    (default: 8,192 on CPU; on CUDA what fits in half the free memory as KV cache).
    Greedy decoding unless ``do_sample``; with greedy decoding the results do not
    depend on ``seed``, on the batching, or on the backend (up to floating point ties).
    ``ignore_eos`` (benchmarks) always generates ``max_new_tokens``.
    """

    def __init__(self, loaded, max_new_tokens: int = 256, token_budget: int | None = None, *,
                 do_sample: bool = False, temperature: float = 1.0, top_p: float = 1.0, top_k: int = 0,
                 seed: int = 0, max_batch_size: int | None = None, backend: str = "auto",
                 compile: bool | None = None, compile_mode: str = "reduce-overhead",
                 prefill_chunk_tokens: int | None = None, stop_check_every: int = 16,
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
        self.stop_check_every = max(1, stop_check_every)
        is_cuda = self.device.type == "cuda"
        self.backend = ("static" if is_cuda else "hf") if backend == "auto" else backend
        if self.backend not in ("hf", "static"):
            raise ValueError(f"unknown backend {backend!r} (auto, hf, static)")
        self.compile = (is_cuda and self.backend == "static") if compile is None else compile
        self.compile_mode = compile_mode
        self.prefill_chunk_tokens = prefill_chunk_tokens or (32_768 if is_cuda else 1 << 30)
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
        self._compiled_steps: dict[bool, Callable] = {}
        self._caches: dict[tuple[int, int], object] = {}

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
        config = _unwrap(self.model).config.get_text_config(decoder=True)
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
            "backend": self.backend,
            "compiled": bool(self.compile),
            "dtype": str(self.loaded.dtype).removeprefix("torch."),
            "prompt_template": PROMPT_TEMPLATE_VERSION,
            "eos_token_ids": self.eos_token_ids,
        }

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
                      fewshot_pool: Sequence[Mapping] | None = None) -> Iterator[list[GenerationResult]]:
        """Yield one list of results per batch, so the caller can store them and cancel
        between batches (``should_stop`` is asked before each batch).

        ``items``: ``(key, messages)`` pairs (messages: chat dicts, or prompt token ids),
        or case dicts with ``arm`` (and ``fewshot_pool`` for the fewshot arm).
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
            self._caches.clear()
            self.max_batch_size = max(1, len(prompts) // 2)
            log.warning("out of GPU memory with a batch of %d; retrying in halves", len(prompts))
            half = len(prompts) // 2
            return self._run_safely(prompts[:half], batch_number) + self._run_safely(prompts[half:], batch_number)

    def _pad(self, prompts: list[_Prompt]) -> tuple[torch.Tensor, torch.Tensor]:
        longest = max(len(p.ids) for p in prompts)
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
        if self.backend == "hf":
            new_tokens = self._hf_generate(input_ids, attention_mask, batch_number)
        else:
            new_tokens = self._static_generate(input_ids, attention_mask, batch_number)
        new_tokens = new_tokens.cpu().tolist()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
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

    # -- backend: transformers generate --------------------------------------------------------

    def _generation_config(self):
        from transformers import GenerationConfig

        params = dict(max_new_tokens=self.max_new_tokens, do_sample=self.do_sample, num_beams=1,
                      repetition_penalty=1.0, pad_token_id=self.pad_token_id, eos_token_id=self.eos_token_ids,
                      disable_compile=True, use_cache=True)
        if self.do_sample:
            params.update(temperature=self.temperature, top_p=self.top_p, top_k=self.top_k)
        else:
            params.update(temperature=1.0, top_p=1.0, top_k=None)
        if self.ignore_eos:
            params["min_new_tokens"] = self.max_new_tokens
        return GenerationConfig(**params)

    def _hf_generate(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, batch_number: int) -> torch.Tensor:
        if self.do_sample:
            torch.manual_seed(self.seed + batch_number)
        output = self.model.generate(input_ids=input_ids, attention_mask=attention_mask,
                                     generation_config=self._generation_config())
        return output[:, input_ids.shape[1]:]

    # -- backend: static cache, compiled decoding ------------------------------------------------

    def _prepare_static(self) -> None:
        model = _unwrap(self.model)
        if model.config._attn_implementation != ATTENTION_NAME:
            _register_attention()
            try:
                model.set_attn_implementation(ATTENTION_NAME)
            except Exception:  # older models without the attention interface: keep theirs
                log.warning("cannot switch %s to grouped decoding attention; using %s",
                            type(model).__name__, model.config._attn_implementation)
        if self.compile:
            import torch._dynamo

            # One graph per (batch size, cache length) bucket; allow enough of them.
            torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 64)
            if hasattr(torch._dynamo.config, "recompile_limit"):
                torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)

    def _step_fn(self, greedy: bool) -> Callable:
        fn = self._compiled_steps.get(greedy)
        if fn is not None:
            return fn
        model = self.model

        def step(input_ids, position_ids, attention_mask, past_key_values):
            logits = model(input_ids=input_ids, position_ids=position_ids, attention_mask=attention_mask,
                           past_key_values=past_key_values, use_cache=True, logits_to_keep=1).logits[:, -1, :]
            return torch.argmax(logits, dim=-1) if greedy else logits.float()

        if self.compile:
            step = torch.compile(step, mode=self.compile_mode, fullgraph=False)
        self._compiled_steps[greedy] = step
        return step

    def _cache(self, batch: int, length: int):
        from transformers import StaticCache

        key = (batch, length)
        cache = self._caches.get(key)
        if cache is None:
            # Keep one bucket's KV memory (a 7B batch of 256 x 768 tokens is 11 GiB), more
            # only when they are small.
            while self._caches and (len(self._caches) >= 4 or self.device.type == "cuda"):
                self._caches.pop(next(iter(self._caches)))
            cache = StaticCache(config=_unwrap(self.model).config, max_cache_len=length)
            self._caches[key] = cache
        else:
            cache.reset()
        return cache

    def _pick(self, logits: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        if not self.do_sample:
            return torch.argmax(logits, dim=-1)
        logits = logits.float() / max(self.temperature, 1e-5)
        if self.top_k and self.top_k > 0:
            kth = torch.topk(logits, min(self.top_k, logits.shape[-1]), dim=-1).values[..., -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        if self.top_p < 1.0:
            sorted_logits, sorted_idx = torch.sort(logits, descending=True, dim=-1)
            cumulative = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
            remove = cumulative - torch.softmax(sorted_logits, dim=-1) > self.top_p
            sorted_logits = sorted_logits.masked_fill(remove, float("-inf"))
            logits = torch.full_like(logits, float("-inf")).scatter(-1, sorted_idx, sorted_logits)
        probs = torch.softmax(logits, dim=-1)
        return torch.multinomial(probs, 1, generator=generator).squeeze(-1)

    def _static_generate(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                         batch_number: int) -> torch.Tensor:
        self._prepare_static()
        model = self.model
        batch, prompt_len = input_ids.shape
        new = self.max_new_tokens
        # Cache lengths are bucketed so that batches share compiled graphs.
        cache_len = int(math.ceil((prompt_len + new) / 128) * 128)
        cache = self._cache(batch, cache_len)
        mask = torch.ones((batch, cache_len), dtype=torch.long, device=self.device)
        mask[:, :prompt_len] = attention_mask
        positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        positions = positions.masked_fill(attention_mask == 0, 1)
        generator = None
        if self.do_sample:
            generator = torch.Generator(device=self.device)
            generator.manual_seed(self.seed + batch_number)

        # Prefill, in chunks of the sequence, eager.
        chunk = max(1, self.prefill_chunk_tokens // batch)
        logits = None
        for start in range(0, prompt_len, chunk):
            end = min(prompt_len, start + chunk)
            out = model(input_ids=input_ids[:, start:end], position_ids=positions[:, start:end],
                        attention_mask=mask, past_key_values=cache, use_cache=True, logits_to_keep=1)
            logits = out.logits[:, -1, :]
            del out
        # Padding slots hold whatever fully-masked attention produced; zero them so no
        # NaN can reach a real token through a zero attention weight.
        pad = ~mask.bool()[:, None, :, None]
        for layer in cache.layers:
            keys = getattr(layer, "keys", None)
            if keys is not None and keys.shape[2] == cache_len:
                layer.keys.masked_fill_(pad, 0)
                layer.values.masked_fill_(pad, 0)

        tokens = torch.full((batch, new), self.pad_token_id, dtype=torch.long, device=self.device)
        finished = torch.zeros(batch, dtype=torch.bool, device=self.device)
        eos = torch.tensor(self.eos_token_ids or [-1], dtype=torch.long, device=self.device)
        pad_token = torch.tensor(self.pad_token_id, dtype=torch.long, device=self.device)
        next_tokens = self._pick(logits, generator)
        next_position = attention_mask.sum(-1, keepdim=True)  # (b, 1): real prompt length
        step = self._step_fn(greedy=not self.do_sample)
        for t in range(new):
            next_tokens = torch.where(finished, pad_token, next_tokens)
            tokens[:, t] = next_tokens
            if not self.ignore_eos:
                finished |= torch.isin(next_tokens, eos)
            if t == new - 1:
                break
            if (t + 1) % self.stop_check_every == 0 and not self.ignore_eos and bool(finished.all()):
                break
            if self.compile and self.device.type == "cuda":
                torch.compiler.cudagraph_mark_step_begin()
            result = step(next_tokens[:, None].clone(), next_position + t, mask, cache)
            next_tokens = result.clone() if not self.do_sample else self._pick(result, generator)
        return tokens


# -- the CLI ------------------------------------------------------------------------------------

def response_row(case: Mapping, arm: str, result: GenerationResult, provenance: Mapping) -> dict:
    """One line of a responses.jsonl file: the response, plus the case's gold fields so
    that ``python -m modeling.evaluate`` can score the file on its own."""
    return {
        "external_id": case["external_id"], "arm": arm, "task": case["task"], "category": case["category"],
        "gold_behavior": case.get("gold_behavior"), "gold_label": case.get("gold_label"),
        "label_space": case.get("label_space"), "question": case.get("question"),
        **{k: v for k, v in result.as_dict().items() if k != "key"}, "provenance": dict(provenance),
    }


def main(argv: Sequence[str] | None = None) -> int:
    from modeling.cases import read_cases
    from modeling.data import split_cases
    from modeling.models import load_model

    parser = argparse.ArgumentParser(prog="python -m modeling.generate", description=__doc__.split("\n")[0])
    parser.add_argument("--base", required=True, help="'demo', a Hugging Face model directory or a .gguf file")
    parser.add_argument("--adapter", help="a LoRA adapter directory written by modeling.train")
    parser.add_argument("--arm", choices=ARMS, default="baseline")
    parser.add_argument("--data", required=True, help="cases.jsonl")
    parser.add_argument("--out", required=True, help="responses.jsonl (appended to: finished cases are skipped)")
    parser.add_argument("--split", choices=("train", "dev", "test", "all"), default="test")
    parser.add_argument("--fewshot-data", help="cases for the fewshot arm's examples (default: the train split of --data)")
    parser.add_argument("--limit", type=int, help="only the first N cases")
    parser.add_argument("--max-new-tokens", type=int, default=256)
    parser.add_argument("--token-budget", type=int)
    parser.add_argument("--batch-size", type=int, help="largest batch")
    parser.add_argument("--device")
    parser.add_argument("--dtype", help="bf16, fp16 or fp32")
    parser.add_argument("--backend", choices=("auto", "hf", "static"), default="auto")
    parser.add_argument("--no-compile", action="store_true")
    parser.add_argument("--sample", action="store_true", help="sample instead of greedy decoding")
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--top-p", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true", help="start the output file afresh")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    cases = read_cases(args.data)
    splits = split_cases(cases, seed=args.seed)
    chosen = cases if args.split == "all" else getattr(splits, args.split)
    if args.limit:
        chosen = chosen[: args.limit]
    pool = read_cases(args.fewshot_data) if args.fewshot_data else splits.train
    if args.arm in ("general_sft", "behavior_sft") and not args.adapter:
        log.warning("arm %s without --adapter: generating with the base model as is", args.arm)

    out = Path(args.out)
    if args.overwrite and out.exists():
        out.unlink()
    loaded = load_model(args.base, args.adapter, device=args.device, dtype=args.dtype)
    engine = GenerationEngine(loaded, max_new_tokens=args.max_new_tokens, token_budget=args.token_budget,
                              max_batch_size=args.batch_size, backend=args.backend,
                              compile=False if args.no_compile else None, do_sample=args.sample,
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
    log.info("%d case(s) to generate (%d already in %s), arm %s, backend %s", len(todo), len(done), out,
             args.arm, engine.backend)
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


if __name__ == "__main__":
    sys.exit(main())
