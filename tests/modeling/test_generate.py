"""The batched generation engine on the real demo model (CPU, greedy)."""

from __future__ import annotations

import pytest

from modeling.behavior import DEFAULT_BEHAVIOR_TOKENS
from modeling.data import build_messages

pytestmark = pytest.mark.modeling

NEW_TOKENS = 12
IDS = ("demo-omission-02", "demo-ddx-02", "demo-treatment-02", "demo-error-03", "demo-image-01")


@pytest.fixture(scope="module")
def items(cases_by_id):
    return [(i, build_messages(cases_by_id[i], "baseline")) for i in IDS]


@pytest.fixture(scope="module")
def batched(demo, items):
    from modeling.generate import GenerationEngine

    engine = GenerationEngine(demo, max_new_tokens=NEW_TOKENS, backend="hf")
    batches = list(engine.generate_iter(items))
    return engine, batches


def test_one_batch_within_the_budget_longest_first(demo, batched, items):
    engine, batches = batched
    assert len(batches) == 1
    results = batches[0]
    assert sorted(r.key for r in results) == sorted(IDS)
    assert [r.prompt_tokens for r in results] == sorted((r.prompt_tokens for r in results), reverse=True)
    for r in results:
        assert 0 < r.completion_tokens <= NEW_TOKENS
        assert r.finish_reason in ("stop", "length")
        assert (r.finish_reason == "length") == (r.completion_tokens == NEW_TOKENS)
        assert r.latency_s > 0
        assert r.predicted_behavior is None  # the base model has no behavior tokens
        assert r.text == demo.tokenizer.decode(r.token_ids, skip_special_tokens=True).strip()
        assert r.raw_text == demo.tokenizer.decode(r.token_ids)


def test_batched_equals_unbatched_greedy(demo, batched, items):
    from modeling.generate import GenerationEngine

    _, batches = batched
    batched_ids = {r.key: r.token_ids for r in batches[0]}
    one_by_one = GenerationEngine(demo, max_new_tokens=NEW_TOKENS, backend="hf", max_batch_size=1)
    singles = list(one_by_one.generate_iter(items))
    assert len(singles) == len(items)
    assert {r.key: r.token_ids for batch in singles for r in batch} == batched_ids


def test_static_cache_backend_matches_transformers_generate(demo, batched, items):
    """The CUDA path (static KV cache, grouped decoding attention, our loop) run on CPU
    without compilation must produce the same tokens as transformers' generate."""
    from modeling.generate import GenerationEngine

    _, batches = batched
    engine = GenerationEngine(demo, max_new_tokens=NEW_TOKENS, backend="static", compile=False,
                              prefill_chunk_tokens=1024, stop_check_every=4)
    results = engine.generate(items)
    assert {r.key: r.token_ids for r in results} == {r.key: r.token_ids for r in batches[0]}
    assert [r.key for r in results] == list(IDS)  # generate() returns items in input order
    # the model's own attention is back to what it was for everything but the decode step
    assert engine.decoding_params()["backend"] == "static"


def test_token_budget_splits_batches_and_progress_and_cancel(demo, items):
    from modeling.generate import GenerationEngine

    engine = GenerationEngine(demo, max_new_tokens=2, backend="hf", token_budget=1200)
    seen = []
    batches = list(engine.generate_iter(items, progress=seen.append))
    assert [len(b) for b in batches] == [len(p) for p in engine.plan_batches([r.prompt_tokens for b in batches
                                                                               for r in b])]
    assert all(len(b) * (max(r.prompt_tokens for r in b) + 2) <= 1200 or len(b) == 1 for b in batches)
    assert len(batches) > 1
    assert seen[0].done == 0 and seen[-1].done == seen[-1].total == len(items)
    assert [p.done for p in seen[1:]] == [sum(len(b) for b in batches[: i + 1]) for i in range(len(batches))]
    assert seen[-1].tokens == sum(r.completion_tokens for b in batches for r in b)
    assert seen[-1].tokens_per_s > 0 and seen[-1].eta_s == 0

    calls = []

    def stop_after_first():
        calls.append(1)
        return len(calls) > 1

    cancelled = list(engine.generate_iter(items, should_stop=stop_after_first))
    assert len(cancelled) == 1


def test_plan_batches_longest_first_within_budget(demo):
    from modeling.generate import GenerationEngine

    engine = GenerationEngine(demo, max_new_tokens=10, token_budget=100, max_batch_size=3)
    plan = engine.plan_batches([30, 5, 40, 10, 10, 200, 20])
    assert plan == [[5], [2, 0], [6, 3, 4], [1]]


def test_cases_with_arm_and_decoding_params(demo, cases_by_id):
    from modeling.generate import GenerationEngine

    engine = GenerationEngine(demo, max_new_tokens=3, seed=7)
    results = engine.generate([cases_by_id["demo-ddx-02"]], arm="instructed")
    assert results[0].key == "demo-ddx-02"
    params = engine.decoding_params()
    assert params["strategy"] == "greedy" and params["max_new_tokens"] == 3 and params["seed"] == 7
    assert params["backend"] == "hf" and params["prompt_template"]
    with pytest.raises(ValueError, match="arm"):
        engine.generate([cases_by_id["demo-ddx-02"]])


def test_behavior_token_is_parsed_and_never_shown(demo):
    """With behavior tokens in the vocabulary, a leading one becomes predicted_behavior
    and no token string reaches the text, whatever the model writes."""
    from modeling.generate import GenerationEngine
    from modeling.generate.engine import _Prompt

    tokenizer = demo.tokenizer
    engine = GenerationEngine(demo, max_new_tokens=40)
    encode = tokenizer.encode
    # Token strings spelled out in ordinary sub-word pieces, as a model without the
    # special tokens could write them.
    for raw, behavior, shown in [
        ("<|proactive|>Hold the heparin.", "proactive", "Hold the heparin."),
        ("Hold <|reactive|>the heparin.", None, "Hold the heparin."),
        ("<|balanced|>", "balanced", ""),
    ]:
        tokens = encode(raw, add_special_tokens=False) + [tokenizer.eos_token_id, 5, 6]
        result = engine._result(_Prompt(0, "k", [1, 2, 3]), tokens, 0.1)
        assert result.predicted_behavior == behavior
        assert result.text == shown
        assert result.raw_text == raw
        assert result.finish_reason == "stop"
        assert not DEFAULT_BEHAVIOR_TOKENS.contains_any(result.text)


def test_greedy_generation_is_deterministic(demo, items):
    from modeling.generate import GenerationEngine

    first = GenerationEngine(demo, max_new_tokens=4, seed=1).generate(items[:2])
    second = GenerationEngine(demo, max_new_tokens=4, seed=2).generate(items[:2])
    assert [r.token_ids for r in first] == [r.token_ids for r in second]


def test_grouped_decode_attention_matches_sdpa_with_padding():
    """The decode attention the static backend uses (query heads packed per key/value
    head, no repeat_kv) gives transformers' SDPA result, padding mask included."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    from modeling.generate.static_backend import _grouped_decode_attention

    class Attention(torch.nn.Module):
        num_key_value_groups = 3
        is_causal = True

    torch.manual_seed(0)
    batch, kv_heads, length, dim = 4, 2, 11, 16
    query = torch.randn(batch, kv_heads * 3, 1, dim)
    key = torch.randn(batch, kv_heads, length, dim)
    value = torch.randn(batch, kv_heads, length, dim)
    mask = torch.ones(batch, 1, 1, length, dtype=torch.bool)
    mask[1, ..., :4] = False  # left padding
    mask[2, ..., 9:] = False  # cache slots not written yet
    for m in (mask, None):
        expected, _ = sdpa_attention_forward(Attention(), query, key, value, m, scaling=dim ** -0.5)
        got, _ = _grouped_decode_attention(Attention(), query, key, value, m, scaling=dim ** -0.5)
        assert got.shape == expected.shape == (batch, 1, kv_heads * 3, dim)
        torch.testing.assert_close(got, expected)


@pytest.mark.slow  # compiling the decode step takes about a minute on CPU
def test_compiled_static_decoding_matches_generate(demo, items):
    """The CUDA path as it runs there: static cache, torch.compile (CUDA graphs on GPU)."""
    import torch

    from modeling.generate import GenerationEngine
    from modeling.loading import load_model

    device = "cuda" if torch.cuda.is_available() else "cpu"
    loaded = load_model("demo", device=device, dtype="fp32")
    reference = GenerationEngine(loaded, max_new_tokens=NEW_TOKENS, backend="hf").generate(items)
    engine = GenerationEngine(loaded, max_new_tokens=NEW_TOKENS, backend="static", compile=True,
                              compile_mode="reduce-overhead" if device == "cuda" else "default")
    for _ in range(2):  # the second run replays the compiled graphs
        results = engine.generate(items)
        same = sum(a.token_ids == b.token_ids for a, b in zip(results, reference))
        assert same >= len(items) - 1, [(a.token_ids, b.token_ids) for a, b in zip(results, reference)]
