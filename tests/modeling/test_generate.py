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

    engine = GenerationEngine(demo, max_new_tokens=NEW_TOKENS)
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
    one_by_one = GenerationEngine(demo, max_new_tokens=NEW_TOKENS, max_batch_size=1)
    singles = list(one_by_one.generate_iter(items))
    assert len(singles) == len(items)
    assert {r.key: r.token_ids for batch in singles for r in batch} == batched_ids


def test_static_cache_option_gives_the_same_tokens(demo, batched, items):
    """transformers' static KV cache (compiled there on a GPU) is an option of the same
    generate call: greedy, it writes what the dynamic cache writes, prompts padded to
    shared shapes included, and the provenance says which cache ran."""
    from modeling.generate import GenerationEngine

    _, batches = batched
    engine = GenerationEngine(demo, max_new_tokens=NEW_TOKENS, static_cache=True)
    results = engine.generate(items)
    assert {r.key: r.token_ids for r in results} == {r.key: r.token_ids for r in batches[0]}
    assert [r.key for r in results] == list(IDS)  # generate() returns items in input order
    params = engine.decoding_params()
    assert params["cache"] == "static" and params["compiled"] is False  # compiled on a GPU only
    assert GenerationEngine(demo).decoding_params()["cache"] == "dynamic"


def test_finish_reason_says_whether_the_token_limit_cut_the_answer(demo, items):
    from modeling.generate import GenerationEngine
    from modeling.generate.engine import _Prompt

    capped = GenerationEngine(demo, max_new_tokens=2).generate(items[:2])
    assert [(r.finish_reason, r.completion_tokens) for r in capped] == [("length", 2), ("length", 2)]
    engine = GenerationEngine(demo, max_new_tokens=5)
    eos = demo.tokenizer.eos_token_id
    assert engine._result(_Prompt(0, "k", [1]), [11, 12, 13, 14, 15], 0.1).finish_reason == "length"
    stopped = engine._result(_Prompt(0, "k", [1]), [11, 12, eos, eos, eos], 0.1)
    assert (stopped.finish_reason, stopped.completion_tokens) == ("stop", 2)


def test_token_budget_splits_batches_and_progress_and_cancel(demo, items):
    from modeling.generate import GenerationEngine

    engine = GenerationEngine(demo, max_new_tokens=2, token_budget=1200)
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
    assert params["cache"] == "dynamic" and params["prompt_template"]
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
