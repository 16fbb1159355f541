"""Generation through an OpenAI-compatible server (vLLM, SGLang, TGI, llama.cpp, hosted
APIs), against a small chat completions server on 127.0.0.1: answers, behavior tokens
kept and parsed, retries on 429 and timeouts, bounded concurrency; a failed request is
that prompt's error (a server gone away, one answering one request at a time past the
timeout, a prompt longer than the context), the rest answered and kept."""

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


def test_a_server_that_goes_away_fails_its_prompts_and_stops_asking_after_failures_in_a_row(server):
    engine = _engine(server, max_retries=0, concurrency=1)
    seen = []
    with pytest.raises(EndpointError) as failed:
        for batch in engine.generate_iter(CASES, arm="baseline"):
            seen += batch
            server.down = True  # gone after the first answer
    assert [r.key for r in seen] == ["ep-0"]  # what came back was handed on before the error
    message = str(failed.value)
    assert message.startswith("8 of 10 prompts got no answer (ep-1: http://127.0.0.1:")
    assert "Connection error" in message and "1 not asked after 8 failures in a row" in message
    assert len(server.requests) == 9


def test_should_stop_is_asked_after_each_answer(server):
    results = [r for b in _engine(server, concurrency=1).generate_iter(
        CASES, should_stop=lambda: server.answered >= 2, arm="baseline") for r in b]
    assert [r.key for r in results] == ["ep-0", "ep-1"] and len(server.requests) == 2


def test_a_slow_one_at_a_time_server_times_out_some_prompts_keeps_the_rest_and_a_later_run_fills_them_in(server):
    """llama.cpp's server answers one request at a time: with four in flight the last
    ones wait past the timeout. Those prompts fail alone; a second run asks only them."""
    server.serial, server.answer_s = True, 0.6
    engine = _engine(server, max_retries=0, concurrency=4, timeout=2.0)
    kept = []
    with pytest.raises(EndpointError, match=r"prompts got no answer \(ep-\d: .*the request timed out") as failed:
        for batch in engine.generate_iter(CASES[:8], arm="baseline"):
            kept += batch
    missing = [c for c in CASES[:8] if c["external_id"] not in {r.key for r in kept}]
    assert kept and missing and f"{len(missing)} of 8 prompts" in str(failed.value)
    assert all(r.text.startswith("Noted:") for r in kept)
    patient = _engine(server, max_retries=0, concurrency=1, timeout=10.0)
    again = [r for b in patient.generate_iter(missing, arm="baseline") for r in b]
    assert sorted(r.key for r in kept + again) == sorted(c["external_id"] for c in CASES[:8])


LONG = {**CASES[0], "external_id": "ep-long", "question": "Which diagnosis fits? " + "Lab value noted. " * 300,
        "turns": [{"speaker": "Dr. Lee", "role": "attending", "text": "Which diagnosis fits? " + "Lab value noted. " * 300}]}


@pytest.mark.parametrize("wording", ["openai", "llama.cpp", "vllm"])
def test_a_prompt_longer_than_the_context_is_that_prompts_error_in_the_servers_words(server, wording):
    server.context_tokens, server.context_wording = 600, wording
    kept = []
    with pytest.raises(EndpointError) as failed:
        for batch in _engine(server, concurrency=2).generate_iter([CASES[0], LONG, CASES[1]], arm="baseline"):
            kept += batch
    assert sorted(r.key for r in kept) == ["ep-0", "ep-1"]
    assert str(failed.value).startswith("1 of 3 prompts got no answer (ep-long: http://127.0.0.1:")
    assert "the prompt is longer than the model's context (HTTP 400" in str(failed.value)
    assert len(server.requests) == 3  # a 400 is not retried


def test_a_caller_that_keeps_lasting_failures_gets_them_with_their_batch_and_no_error_for_them(server):
    """The portal stores a refusal that asking again would meet as that case's failure:
    such prompts reach ``on_lasting_failure`` (an empty batch is yielded where nothing
    else came, so the caller can store them), the run ends without an error for them."""
    server.context_tokens = 600
    kept, refused, batches = [], [], 0
    engine = _engine(server, concurrency=1)
    for batch in engine.generate_iter([LONG, CASES[0], {**LONG, "external_id": "ep-long-2"}], arm="baseline",
                                      on_lasting_failure=refused.extend):
        batches += 1
        kept += batch
        assert {key for key, _ in refused} <= {"ep-long", "ep-long-2"}
    assert [r.key for r in kept] == ["ep-0"] and batches >= 2
    assert [key for key, _ in refused] == ["ep-long", "ep-long-2"]
    assert all(f.kind == "context" and f.lasting and "longer than the model's context" in f.message
               for _, f in refused)


def test_a_failure_that_may_pass_still_fails_the_run_when_lasting_ones_are_kept(server):
    server.context_tokens, server.faults = 600, [503]
    refused = []
    with pytest.raises(EndpointError) as failed:
        list(_engine(server, concurrency=1, max_retries=0).generate_iter(
            [CASES[0], LONG, CASES[1]], arm="baseline", on_lasting_failure=refused.extend))
    assert [key for key, _ in refused] == ["ep-long"]
    assert str(failed.value).startswith("1 of 3 prompts got no answer (ep-0: ") and "ep-long" not in str(failed.value)


def test_another_400_is_that_prompts_error_named_by_the_servers_type_and_param_never_its_text(server):
    answer = server.answer
    server.answer = lambda body: (400, {"error": {
        "message": "Invalid value for 'seed' (api key sk-live-1234567890abcdef seen)", "type": "invalid_request_error",
        "param": "seed", "code": None}}) if "patient 1?" in body["messages"][-1]["content"] else answer(body)
    with pytest.raises(EndpointError) as failed:
        list(_engine(server).generate_iter(CASES[:3], arm="baseline"))
    message = str(failed.value)
    assert message.startswith("1 of 3 prompts got no answer (ep-1: http://127.0.0.1:")
    assert "the endpoint refused the request (HTTP 400: invalid_request_error, param seed)" in message
    assert "sk-live" not in message and "Invalid value" not in message


def test_finish_reason_is_the_servers_and_a_missing_system_fingerprint_is_none(server):
    server.system_fingerprint = False
    [result] = [r for b in _engine(server).generate_iter(CASES[:1], arm="baseline") for r in b]
    assert result.finish_reason == "stop" and result.meta["system_fingerprint"] is None


def test_decoding_params_say_what_decided_the_output(server):
    greedy = _engine(server).decoding_params()
    assert greedy["strategy"] == "greedy" and greedy["temperature"] == 0.0 and greedy["backend"] == "endpoint"
    sampled = _engine(server, do_sample=True, temperature=0.7, top_p=0.9)
    list(sampled.generate_iter(CASES[:1], arm="baseline"))
    assert server.requests[-1]["temperature"] == 0.7 and server.requests[-1]["top_p"] == 0.9
