"""The ``static`` decoding backend (the CUDA default): our own loop on a preallocated
static KV cache.

The prompt is prefilled in chunks (eager), then each decoding step is one call of a
``torch.compile``'d forward (``mode="reduce-overhead"``: CUDA graphs) with the next
token picked on the device; the host only looks at the tokens every few steps to stop a
batch once all its rows have finished. Single-token decoding attention uses
grouped-query attention without repeating the key/value heads
(:func:`_grouped_decode_attention`; ``repeat_kv`` would copy the whole cache every
step). The padding slots of the cache are zeroed after the prefill.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import torch

log = logging.getLogger(__name__)

ATTENTION_NAME = "evalportal_sdpa"


def unwrap_model(model):
    """The transformers model inside a peft wrapper, if any."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


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


# -- the backend ------------------------------------------------------------------------------

class StaticCacheBackend:
    """Decodes a padded batch for a :class:`~modeling.generate.engine.GenerationEngine`,
    reading the engine's decoding settings at each call. Keeps the compiled decoding
    steps and the static caches (one per batch size x cache length bucket) between
    batches."""

    def __init__(self, engine):
        self.engine = engine
        self._compiled_steps: dict[bool, Callable] = {}
        self._caches: dict[tuple[int, int], object] = {}

    def release_memory(self) -> None:
        """Drop the static caches (after running out of memory)."""
        self._caches.clear()

    def _prepare(self) -> None:
        model = unwrap_model(self.engine.model)
        if model.config._attn_implementation != ATTENTION_NAME:
            _register_attention()
            try:
                model.set_attn_implementation(ATTENTION_NAME)
            except Exception:  # older models without the attention interface: keep theirs
                log.warning("cannot switch %s to grouped decoding attention; using %s",
                            type(model).__name__, model.config._attn_implementation)
        if self.engine.compile:
            import torch._dynamo

            # One graph per (batch size, cache length) bucket; allow enough of them.
            torch._dynamo.config.cache_size_limit = max(torch._dynamo.config.cache_size_limit, 64)
            if hasattr(torch._dynamo.config, "recompile_limit"):
                torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, 64)

    def _step_fn(self, greedy: bool) -> Callable:
        fn = self._compiled_steps.get(greedy)
        if fn is not None:
            return fn
        model = self.engine.model

        def step(input_ids, position_ids, attention_mask, past_key_values):
            logits = model(input_ids=input_ids, position_ids=position_ids, attention_mask=attention_mask,
                           past_key_values=past_key_values, use_cache=True, logits_to_keep=1).logits[:, -1, :]
            return torch.argmax(logits, dim=-1) if greedy else logits.float()

        if self.engine.compile:
            step = torch.compile(step, mode=self.engine.compile_mode, fullgraph=False)
        self._compiled_steps[greedy] = step
        return step

    def _cache(self, batch: int, length: int):
        from transformers import StaticCache

        key = (batch, length)
        cache = self._caches.get(key)
        if cache is None:
            # Keep one bucket's KV memory (a 7B batch of 256 x 768 tokens is 11 GiB), more
            # only when they are small.
            while self._caches and (len(self._caches) >= 4 or self.engine.device.type == "cuda"):
                self._caches.pop(next(iter(self._caches)))
            cache = StaticCache(config=unwrap_model(self.engine.model).config, max_cache_len=length)
            self._caches[key] = cache
        else:
            cache.reset()
        return cache

    def _pick(self, logits: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        engine = self.engine
        if not engine.do_sample:
            return torch.argmax(logits, dim=-1)
        logits = logits.float() / max(engine.temperature, 1e-5)
        if engine.top_k and engine.top_k > 0:
            kth = torch.topk(logits, min(engine.top_k, logits.shape[-1]), dim=-1).values[..., -1:]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        if engine.top_p < 1.0:
            sorted_logits, sorted_idx = torch.sort(logits, descending=True, dim=-1)
            cumulative = torch.softmax(sorted_logits, dim=-1).cumsum(dim=-1)
            remove = cumulative - torch.softmax(sorted_logits, dim=-1) > engine.top_p
            sorted_logits = sorted_logits.masked_fill(remove, float("-inf"))
            logits = torch.full_like(logits, float("-inf")).scatter(-1, sorted_idx, sorted_logits)
        probs = torch.softmax(logits, dim=-1)
        return torch.multinomial(probs, 1, generator=generator).squeeze(-1)

    def generate(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, batch_number: int) -> torch.Tensor:
        """The ``(batch, max_new_tokens)`` new tokens of a left-padded batch (rows that
        finished early are padded with the pad token)."""
        engine = self.engine
        self._prepare()
        model = engine.model
        device = engine.device
        batch, prompt_len = input_ids.shape
        new = engine.max_new_tokens
        # Cache lengths are bucketed so that batches share compiled graphs.
        cache_len = int(math.ceil((prompt_len + new) / 128) * 128)
        cache = self._cache(batch, cache_len)
        mask = torch.ones((batch, cache_len), dtype=torch.long, device=device)
        mask[:, :prompt_len] = attention_mask
        positions = (attention_mask.cumsum(-1) - 1).clamp(min=0)
        positions = positions.masked_fill(attention_mask == 0, 1)
        generator = None
        if engine.do_sample:
            generator = torch.Generator(device=device)
            generator.manual_seed(engine.seed + batch_number)

        # Prefill, in chunks of the sequence, eager.
        chunk = max(1, engine.prefill_chunk_tokens // batch)
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

        tokens = torch.full((batch, new), engine.pad_token_id, dtype=torch.long, device=device)
        finished = torch.zeros(batch, dtype=torch.bool, device=device)
        eos = torch.tensor(engine.eos_token_ids or [-1], dtype=torch.long, device=device)
        pad_token = torch.tensor(engine.pad_token_id, dtype=torch.long, device=device)
        next_tokens = self._pick(logits, generator)
        next_position = attention_mask.sum(-1, keepdim=True)  # (b, 1): real prompt length
        step = self._step_fn(greedy=not engine.do_sample)
        for t in range(new):
            next_tokens = torch.where(finished, pad_token, next_tokens)
            tokens[:, t] = next_tokens
            if not engine.ignore_eos:
                finished |= torch.isin(next_tokens, eos)
            if t == new - 1:
                break
            if (t + 1) % engine.stop_check_every == 0 and not engine.ignore_eos and bool(finished.all()):
                break
            if engine.compile and device.type == "cuda":
                torch.compiler.cudagraph_mark_step_begin()
            result = step(next_tokens[:, None].clone(), next_position + t, mask, cache)
            next_tokens = result.clone() if not engine.do_sample else self._pick(result, generator)
        return tokens
