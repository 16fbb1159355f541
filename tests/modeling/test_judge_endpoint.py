"""The OpenAI-compatible judge against a small server on 127.0.0.1 speaking that
protocol: top_logprobs read where a level was written, samples without them, position
swaps, the command line; and a failed request as that prompt's error (a one-at-a-time
server past the timeout, a prompt longer than the context, another 400), the run
switched to sampling only by a 400 about logprobs."""

from __future__ import annotations

import json
import math

import pytest

from modeling.judge import (
    DEFAULT_DIMENSIONS,
    JudgeError,
    OpenAIJudge,
    PairRequest,
    ScoreRequest,
    resolve_dimensions,
)
from tests.chat_server import FakeOpenAI
from tests.modeling.judge_cases import CASE, GOOD, VAGUE

# -- an OpenAI-compatible endpoint on 127.0.0.1 ----------------------------------------------------

@pytest.fixture
def fake_openai():
    with FakeOpenAI() as server:
        yield server


def _remote(server, **kwargs) -> OpenAIJudge:
    return OpenAIJudge("judge-model", server.base_url, "sk-test-key", **{"max_retries": 0, "timeout": 10, **kwargs})


def test_openai_judge_reads_top_logprobs(fake_openai):
    realism, specificity = resolve_dimensions(["realism", "specificity"])
    results = _remote(fake_openai).score([ScoreRequest("r1", CASE, GOOD, realism),
                                          ScoreRequest("r2", CASE, VAGUE, specificity)])
    levels = {"1": math.exp(-6), "2": math.exp(-4), "3": 0.1, "4": 0.7, "5": 0.2}
    hand = sum(int(k) * v for k, v in levels.items()) / sum(levels.values())
    assert [r.method for r in results] == ["logprobs", "logprobs"]
    assert results[0].judge_score == pytest.approx(hand) and results[0].score == pytest.approx(hand)
    assert results[1].score == pytest.approx((hand - 1) / 4)
    assert results[0].mass == pytest.approx(sum(levels.values()))
    assert results[0].raw_output["response"]["choices"][0]["logprobs"]["content"][0]["token"] == "4"
    assert results[0].prompt["messages"][-1]["content"].endswith("- Realism:")
    body = fake_openai.requests[0]
    assert body["model"] == "judge-model" and body["logprobs"] is True and body["top_logprobs"] == 20
    assert body["temperature"] == 0 and body["messages"] == results[0].prompt["messages"] or \
        body["messages"] == results[1].prompt["messages"]
    assert all(h["authorization"] == "Bearer sk-test-key" for h in fake_openai.headers)


@pytest.mark.parametrize("mode", ["plain", "reject", "single"])
def test_openai_judge_averages_samples_without_logprobs(mode):
    realism = resolve_dimensions(["realism"])[0]
    with FakeOpenAI(mode) as server:
        judge = _remote(server, n_samples=5, temperature=0.7, concurrency=1)
        first, second = judge.score([ScoreRequest("r1", CASE, GOOD, realism), ScoreRequest("r2", CASE, VAGUE, realism)])
    # samples "4", "Score: 5", "3/5", "I think 4.", "no idea" -> 4, 5, 3, 4 (one unreadable)
    assert first.method == "samples" and first.samples == ["4", "5", "3", "4", None]
    assert first.judge_score == pytest.approx(4.0) and first.mass is None
    assert first.distribution == {"1": 0, "2": 0, "3": 0.25, "4": 0.5, "5": 0.25}
    assert first.raw_output["texts"] == server.samples
    assert second.method == "samples" and len(second.samples) == 5
    sampled = [b for b in server.requests if not b.get("logprobs")]
    assert sampled[0]["temperature"] == 0.7
    if mode == "single":
        assert len(sampled) == 10  # n ignored: topped up one request at a time
    else:
        assert sampled[0]["n"] == 5 and len(sampled) == 2
    # logprobs are asked for only until the endpoint shows it has none
    assert sum(1 for b in server.requests if b.get("logprobs")) == 1


def test_openai_judge_with_logprobs_required_fails_clearly():
    with FakeOpenAI("plain") as server:
        judge = _remote(server, logprobs=True)
        with pytest.raises(JudgeError, match="no logprobs"):
            judge.score([ScoreRequest("r1", CASE, GOOD, DEFAULT_DIMENSIONS[0])])


def test_openai_pairwise_position_swap(fake_openai):
    [result] = _remote(fake_openai).compare([PairRequest("p", CASE, GOOD, VAGUE)])
    # the endpoint always prefers the response shown first (position bias): inconsistent
    assert result.prob_a_first == pytest.approx(0.7) and result.prob_a_second == pytest.approx(0.3)
    assert result.choice_first == "a" and result.choice_second == "b" and result.consistent is False
    assert result.prob_a == pytest.approx(0.5)
    fake_openai.choice_top = {"A": math.log(0.2), "B": math.log(0.8)}
    fake_openai.mode = "logprobs"
    [swapped] = _remote(fake_openai).compare([PairRequest("p", CASE, GOOD, VAGUE)])
    assert swapped.consistent is False and swapped.prob_a_first == pytest.approx(0.2)


def test_cli_judges_files_through_an_endpoint(fake_openai, tmp_path, example_case_list, capsys):
    from modeling import judge

    cases = tmp_path / "cases.jsonl"
    cases.write_text("".join(json.dumps(c) + "\n" for c in example_case_list))
    responses = tmp_path / "responses.jsonl"
    ids = [c["external_id"] for c in example_case_list][:2]
    responses.write_text("".join(json.dumps({"external_id": i, "arm": arm, "text": f"{arm} on {i}"}) + "\n"
                                 for i in ids for arm in ("baseline", "behavior_sft")))
    out = tmp_path / "judged.jsonl"
    args = ["--cases", str(cases), "--responses", str(responses), "--out", str(out), "--openai-model", "m",
            "--base-url", fake_openai.base_url, "--dimensions", "realism,specificity", "--pairwise",
            "--api-key-env", "NO_SUCH_VARIABLE_FOR_TESTS"]
    assert judge.main(args) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    scores = [r for r in rows if r["type"] == "score"]
    pairs = [r for r in rows if r["type"] == "pairwise"]
    assert sorted((r["external_id"], r["arm"], r["dimension"]) for r in scores) == sorted(
        (i, arm, d) for i in ids for arm in ("baseline", "behavior_sft") for d in ("realism", "specificity"))
    assert all(r["prompt"]["messages"] and r["raw_output"] and r["provenance"]["model"] == "m" for r in scores)
    assert len(pairs) == 2 and all(r["consistent"] is False for r in pairs)
    summary = json.loads(capsys.readouterr().out)
    assert summary["pairwise"] == {"n": 2, "consistency": 0.0, "first_position_rate": 1.0}
    n_requests = len(fake_openai.requests)
    assert judge.main(args) == 0  # resumes: nothing left to do
    assert len(fake_openai.requests) == n_requests and len(out.read_text().splitlines()) == len(rows)


def _position(token: str, top: dict[str, float]) -> dict:
    return {"token": token, "logprob": top.get(token, -0.01), "bytes": None,
            "top_logprobs": [{"token": t, "logprob": v, "bytes": None} for t, v in top.items()]}


def test_openai_judge_reads_the_position_where_a_level_was_written(fake_openai):
    """"Score: 4": at "Score" a digit is among the alternatives, but the score is the "4"."""
    fake_openai.content = [
        _position("Score", {"Score": math.log(0.9), "1": math.log(0.05)}),
        _position(":", {":": -0.01}),
        _position("4", {"4": math.log(0.8), "5": math.log(0.2)}),
    ]
    [result] = _remote(fake_openai).score([ScoreRequest("r1", CASE, GOOD, DEFAULT_DIMENSIONS[0])])
    assert result.method == "logprobs" and result.raw_output["position"] == 2
    assert result.judge_score == pytest.approx(4.2)


def test_openai_judge_skips_a_level_position_with_little_level_mass(fake_openai):
    # "4" was written but the levels hold 0.2 of the listed mass: too little to read; sampled instead.
    fake_openai.content = [_position("4", {"4": math.log(0.2), "four": math.log(0.8)})]
    [result] = _remote(fake_openai, n_samples=2).score([ScoreRequest("r1", CASE, GOOD, DEFAULT_DIMENSIONS[0])])
    assert result.method == "samples"


def test_openai_judge_labels_a_one_hot_distribution_emitted(fake_openai):
    fake_openai.content = [{"token": "4", "logprob": -0.1, "bytes": None, "top_logprobs": []}]
    [result] = _remote(fake_openai).score([ScoreRequest("r1", CASE, GOOD, DEFAULT_DIMENSIONS[0])])
    assert result.method == "emitted" and result.distribution["4"] == 1.0


def test_openai_judge_top_up_samples_each_get_their_own_seed():
    with FakeOpenAI("single") as server:
        _remote(server, n_samples=4, logprobs=False, seed=7).score([ScoreRequest("r1", CASE, GOOD,
                                                                                 DEFAULT_DIMENSIONS[0])])
    assert [b["seed"] for b in server.requests] == [7, 8, 9, 10]


# -- an endpoint that fails some requests: each failure is that prompt's ---------------------------

def test_a_slow_one_at_a_time_server_times_out_some_prompts_and_a_later_run_asks_only_those():
    """llama.cpp's server (llama-cpp-python serving a GGUF) answers one request at a time:
    four in flight, the last wait past the timeout. Those prompts carry their error; the
    others are answered; a second run over the failed ones answers them."""
    realism = resolve_dimensions(["realism"])[0]
    requests = [ScoreRequest(f"r{i}", CASE, GOOD, realism) for i in range(8)]
    with FakeOpenAI() as server:
        server.serial, server.answer_s, server.honours_n, server.system_fingerprint = True, 0.6, False, False
        judge = _remote(server, concurrency=4, timeout=2.0)
        results = judge.score(requests)
        failed = [r for r in results if r.error]
        answered = [r for r in results if not r.error]
        assert failed and answered and len(results) == 8
        assert all(r.method == "error" and r.score is None and not r.error_lasting for r in failed)
        assert all("the request timed out" in r.error for r in failed)
        assert all(r.method == "logprobs" and r.score is not None for r in answered)
        again = _remote(server, concurrency=1, timeout=10.0).score(
            [q for q in requests if q.key in {r.key for r in failed}])
    assert all(r.error is None and r.method == "logprobs" for r in again)
    assert sorted(r.key for r in answered + again) == sorted(q.key for q in requests)


@pytest.mark.parametrize("wording", ["openai", "llama.cpp", "vllm"])
def test_a_prompt_longer_than_the_context_is_that_prompts_error_and_the_run_keeps_logprobs(wording):
    realism = resolve_dimensions(["realism"])[0]
    long_case = {**CASE, "turns": CASE["turns"] + [{"speaker": "Nurse Lee", "role": "nurse",
                                                    "text": "Observations unchanged. " * 400}]}
    requests = [ScoreRequest("short-1", CASE, GOOD, realism), ScoreRequest("long", long_case, GOOD, realism),
                ScoreRequest("short-2", CASE, VAGUE, realism)]
    with FakeOpenAI() as server:
        server.context_tokens, server.context_wording = 700, wording
        first, long, second = _remote(server, concurrency=1).score(requests)
    assert long.method == "error" and long.score is None and long.error_lasting
    assert "the prompt is longer than the model's context (HTTP 400" in long.error
    assert first.method == second.method == "logprobs" and first.score is not None and second.score is not None
    assert all(b.get("logprobs") for b in server.requests) and len(server.requests) == 3


def test_only_a_400_that_says_logprobs_are_unsupported_switches_to_sampling():
    realism = resolve_dimensions(["realism"])[0]
    with FakeOpenAI("plain") as server:
        answer = server.answer
        server.answer = lambda body: (400, {"error": {"message": "top_logprobs is not supported by this backend",
                                                      "type": "invalid_request_error", "param": None}}) \
            if body.get("logprobs") else answer(body)
        [result] = _remote(server, n_samples=2).score([ScoreRequest("r1", CASE, GOOD, realism)])
    assert result.method == "samples" and result.error is None


def test_another_400_is_that_prompts_error_named_by_the_servers_type_and_param_never_its_text():
    realism = resolve_dimensions(["realism"])[0]
    with FakeOpenAI() as server:
        server.answer = lambda body: (400, {"error": {"message": "Bad 'seed' for key=sk-abc123def456ghi789",
                                                      "type": "invalid_request_error", "param": "seed"}})
        [result] = _remote(server).score([ScoreRequest("r1", CASE, GOOD, realism)])
    assert result.method == "error" and result.error_lasting
    assert "the endpoint refused the request (HTTP 400: invalid_request_error, param seed)" in result.error
    assert "sk-abc" not in result.error and "Bad" not in result.error and len(server.requests) == 1


def test_a_refusal_every_request_would_meet_ends_the_run():
    with FakeOpenAI() as server:
        server.faults = [401] * 10
        with pytest.raises(JudgeError, match="answered HTTP 401"):
            _remote(server).score([ScoreRequest("r1", CASE, GOOD, DEFAULT_DIMENSIONS[0])])


def test_the_cli_sets_timeout_retries_and_concurrency():
    import argparse

    from modeling.judge.cli import judge_from_args, parser_for

    args = parser_for().parse_args(["--cases", "c", "--responses", "r", "--out", "o", "--openai-model", "m",
                                    "--base-url", "http://127.0.0.1:9/v1", "--timeout", "900", "--max-retries", "0",
                                    "--concurrency", "1"])
    assert isinstance(args, argparse.Namespace)
    judge = judge_from_args(args)
    assert (judge.timeout, judge.max_retries, judge.concurrency) == (900.0, 0, 1)
    assert judge.client.timeout == 900.0 and judge.client.max_retries == 0
