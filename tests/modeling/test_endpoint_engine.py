"""Generation through an OpenAI-compatible server (vLLM, SGLang, TGI, llama.cpp, hosted
APIs), against a small chat completions server on 127.0.0.1: answers, behavior tokens
kept and parsed, retries on 429 and timeouts, bounded concurrency, a server that goes
away in the middle."""

from __future__ import annotations

import pytest

from modeling.generate import EndpointEngine, EndpointError
from tests.chat_server import FakeChatModel

CASES = [{"external_id": f"ep-{i}", "task": "ddx_reasoning", "category": "reactive", "gold_behavior": "reactive",
          "turns": [{"speaker": "Dr. Lee", "role": "attending", "text": f"Which diagnosis fits patient {i}?"}],
          "question": f"Which diagnosis fits patient {i}?"} for i in range(10)]


@pytest.fixture
def server():
    with FakeChatModel() as chat:
        yield chat


def _engine(server, **kwargs) -> EndpointEngine:
    options = {"max_new_tokens": 32, "max_retries": 3, "timeout": 10, "concurrency": 3, **kwargs}
    return EndpointEngine(server.base_url, "behavior-sft", "sk-test", **options)


def test_each_case_is_answered_with_its_behavior_token_parsed_out_of_the_shown_text(server):
    results = [r for batch in _engine(server).generate_iter(CASES, arm="baseline") for r in batch]
    assert sorted(r.key for r in results) == sorted(c["external_id"] for c in CASES)
    for r in results:
        number = r.key.removeprefix("ep-")
        assert r.raw_text.startswith("<|reactive|>") and f"{number}?" in r.raw_text
        assert r.predicted_behavior == "reactive"
        assert "<|" not in r.text and r.text.startswith("Noted:")
        assert r.completion_tokens > 0 and r.prompt_tokens > 0
        assert r.meta == {"server_model": "/models/behavior-sft-merged", "system_fingerprint": "fp-test"}
    request = server.requests[0]
    assert request["model"] == "behavior-sft" and request["temperature"] == 0.0 and request["max_tokens"] == 32
    assert request["skip_special_tokens"] is False and request["seed"] == 0
    assert request["messages"][0]["role"] == "system"
    assert server.headers[0]["authorization"] == "Bearer sk-test"


def test_without_keep_special_tokens_the_server_drops_the_token_and_no_behavior_is_read(server):
    results = [r for b in _engine(server, keep_special_tokens=False).generate_iter(CASES[:2], arm="baseline")
               for r in b]
    assert "skip_special_tokens" not in server.requests[0]
    assert all(r.predicted_behavior is None and r.text.startswith("Noted:") for r in results)


def test_requests_in_flight_stay_within_the_concurrency(server):
    server.faults = ["slow"] * 6
    server.slow_s = 0.3
    list(_engine(server, concurrency=2).generate_iter(CASES, arm="baseline"))
    assert server.most_in_flight == 2


def test_rate_limits_and_server_errors_are_retried_with_backoff(server):
    server.faults = [429, 503, 429]
    results = [r for b in _engine(server).generate_iter(CASES[:4], arm="baseline") for r in b]
    assert len(results) == 4 and server.answered == 4
    assert len(server.requests) == 4 + 3


def test_a_timed_out_request_is_asked_again(server):
    server.faults, server.slow_s = ["slow"], 3.0
    results = [r for b in _engine(server, timeout=0.5, concurrency=1).generate_iter(CASES[:2], arm="baseline")
               for r in b]
    assert sorted(r.key for r in results) == ["ep-0", "ep-1"]
    assert len(server.requests) == 3


def test_a_server_that_goes_away_ends_the_run_after_yielding_what_came_back(server):
    engine = _engine(server, max_retries=1, concurrency=2)
    seen = []
    with pytest.raises(EndpointError, match="Connection error|APIConnectionError"):
        for batch in engine.generate_iter(CASES, arm="baseline"):
            seen += batch
            server.down = True  # gone after the first batch
    assert [r.key for r in seen] == [c["external_id"] for c in CASES[:8]]  # a batch is 4 x concurrency


def test_should_stop_is_asked_between_batches(server):
    asked = iter([False, True])
    batches = list(_engine(server, concurrency=1).generate_iter(CASES, should_stop=lambda: next(asked),
                                                                arm="baseline"))
    assert len(batches) == 1 and len(batches[0]) == 4 and server.answered == 4


def test_decoding_params_say_what_decided_the_output(server):
    greedy = _engine(server).decoding_params()
    assert greedy["strategy"] == "greedy" and greedy["temperature"] == 0.0 and greedy["backend"] == "endpoint"
    sampled = _engine(server, do_sample=True, temperature=0.7, top_p=0.9)
    list(sampled.generate_iter(CASES[:1], arm="baseline"))
    assert server.requests[-1]["temperature"] == 0.7 and server.requests[-1]["top_p"] == 0.9
