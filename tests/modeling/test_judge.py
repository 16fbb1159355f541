"""The G-Eval judge: the probability-weighted score, dimensions as data, prompts, the
local judge on the demo model's logits, and the OpenAI-compatible judge against a
small server on 127.0.0.1 speaking that protocol."""

from __future__ import annotations

import json
import math

import pytest

from modeling.judge import (
    DEFAULT_DIMENSIONS,
    OVERALL,
    JudgeDimension,
    JudgeError,
    LocalJudge,
    OpenAIJudge,
    PairRequest,
    ScoreRequest,
    distribution_from_top_logprobs,
    expected_value,
    level_distribution,
    pairwise_messages,
    parse_label,
    probability_weighted_score,
    render_conversation,
    resolve_dimensions,
    score_messages,
)
from tests.chat_server import FakeOpenAI

CASE = {
    "external_id": "j-1", "task": "omission_detection", "category": "proactive", "specialty": "haematology",
    "turns": [{"speaker": "Dr. Amari", "role": "attending", "text": "Start heparin at 18:00."},
              {"speaker": "Nurse Lee", "role": "nurse", "text": "Platelets fell from 250 to 90."}],
    "tables": [{"title": "Bloods", "columns": ["Test", "Value"], "rows": [["Platelets", 90]]}],
    "question": None, "reference_response": "Platelets have halved on heparin: check for HIT first.",
}
GOOD = "Platelets fell from 250 to 90 on heparin: hold it and send a HIT screen."
VAGUE = "Looks fine."


# -- the score from known logits ------------------------------------------------------------

def test_probability_weighted_score_equals_a_hand_computation():
    # vocabulary of 8 tokens; levels 1-5 read from tokens 2..6, level 3 also from token 7
    logits = [1.0, -2.0, 0.5, 2.0, -1.0, 1.5, 0.0, -0.5]
    level_ids = {"1": [2], "2": [3], "3": [4, 7], "4": [5], "5": [6]}
    z = sum(math.exp(v) for v in logits)
    p = {"1": math.exp(0.5) / z, "2": math.exp(2.0) / z, "3": (math.exp(-1.0) + math.exp(-0.5)) / z,
         "4": math.exp(1.5) / z, "5": math.exp(0.0) / z}
    mass = sum(p.values())
    hand = sum(int(k) * v for k, v in p.items()) / mass

    dist = level_distribution(logits, level_ids)
    assert dist["mass"] == pytest.approx(mass, rel=1e-12)
    assert dist["probs"] == pytest.approx({k: v / mass for k, v in p.items()}, rel=1e-12)
    assert probability_weighted_score(logits, level_ids) == pytest.approx(hand, rel=1e-12)
    assert hand == pytest.approx(2.72861, abs=1e-5)
    # not the sampled (argmax) digit
    assert probability_weighted_score(logits, level_ids) != 2


def test_expected_value_and_top_logprobs():
    assert expected_value({"1": 0.5, "5": 0.5}) == 3.0
    assert expected_value({}) is None
    top = [(" 4", math.log(0.5)), ("4", math.log(0.2)), ("5", math.log(0.2)), ("Hello", math.log(0.05)),
           ("3 ", math.log(0.05))]
    dist = distribution_from_top_logprobs(top, ["1", "2", "3", "4", "5"])
    assert dist["mass"] == pytest.approx(0.95)
    assert dist["probs"]["4"] == pytest.approx(0.7 / 0.95) and dist["probs"]["1"] == 0
    assert expected_value(dist["probs"]) == pytest.approx((4 * 0.7 + 5 * 0.2 + 3 * 0.05) / 0.95)
    assert distribution_from_top_logprobs([("The", -0.1)], ["1", "2"]) is None


@pytest.mark.parametrize("text, expected", [
    ("4", "4"), ("Score: 5", "5"), ("3/5", "3"), ("I'd say 4.", "4"), ("4.6", "5"), ("Realism (1-5): 2", "1"),
    ("nonsense", None), ("9", None), ("", None), (None, None),
])
def test_parse_label_numbers(text, expected):
    assert parse_label(text, ["1", "2", "3", "4", "5"]) == expected


def test_parse_label_letters():
    assert parse_label("Response B is better.", ["A", "B"]) == "B"
    assert parse_label("A", ["A", "B"]) == "A"
    assert parse_label("Both are fine", ["A", "B"]) is None


# -- dimensions as data ------------------------------------------------------------------------

def test_default_dimensions_and_scales():
    dims = resolve_dimensions()
    assert [d.key for d in dims] == ["realism", "proactivity", "helpfulness", "safety", "specificity", "implicitness"]
    assert {d.key: d.scale for d in dims} == {"realism": "likert", "proactivity": "likert", "helpfulness": "likert",
                                             "safety": "likert", "specificity": "unit", "implicitness": "unit"}
    spec = dims[4]
    assert (spec.to_output(1), spec.to_output(3), spec.to_output(5)) == (0.0, 0.5, 1.0)
    assert dims[0].to_output(3.7) == pytest.approx(3.7)
    for dim in DEFAULT_DIMENSIONS:  # JSON round trip
        assert JudgeDimension.from_dict(json.loads(json.dumps(dim.as_dict()))) == dim


def test_dimensions_from_data():
    custom = {"key": "brevity", "label": "Brevity", "criteria": "Says it in few words.",
              "steps": ["Count the words.", "Score 0-9."], "min": 0, "max": 9, "out_min": 0, "out_max": 1}
    dims = resolve_dimensions(["safety", {"key": "realism", "max": 7}, custom, "overall"])
    assert [d.key for d in dims] == ["safety", "realism", "brevity", "overall"]
    assert dims[1].max == 7 and dims[1].criteria == DEFAULT_DIMENSIONS[0].criteria
    assert dims[2].labels == [str(i) for i in range(10)] and dims[2].to_output(9) == 1.0
    with pytest.raises(ValueError, match="unknown judge dimension"):
        resolve_dimensions(["charm"])
    with pytest.raises(ValueError, match="twice"):
        resolve_dimensions(["safety", "safety"])
    with pytest.raises(ValueError, match="lacks"):
        resolve_dimensions([{"key": "new_one"}])
    with pytest.raises(ValueError, match="min < max"):
        JudgeDimension(key="x", label="X", criteria="c", steps=("s",), min=3, max=3)


def test_prompts_hold_criteria_steps_case_and_response():
    dim = resolve_dimensions(["specificity"])[0]
    messages = score_messages(CASE, GOOD, dim)
    user = messages[-1]["content"]
    assert messages[0]["role"] == "system"
    assert dim.criteria in user and all(step in user for step in dim.steps)
    assert "Evaluation Steps:" in user and "Evaluation Criteria:" in user
    assert "Dr. Amari (attending): Start heparin at 18:00." in user and "| Platelets | 90 |" in user
    assert "Nobody asked the assistant anything" in user
    assert user.rstrip().endswith("- Specificity:") and GOOD in user
    assert "Platelets have halved" not in user  # reference-free unless asked
    with_ref = score_messages(CASE, "", dim, reference=CASE["reference_response"])[-1]["content"]
    assert "Platelets have halved" in with_ref and "(stays silent)" in with_ref
    asked = render_conversation({**CASE, "question": "Anything to add?"})
    assert "The assistant was asked: Anything to add?" in asked
    pair = pairwise_messages(CASE, GOOD, VAGUE)[-1]["content"]
    assert pair.index(GOOD) < pair.index(VAGUE) and "Response A:" in pair and OVERALL.criteria in pair


# -- the local judge on the demo model ----------------------------------------------------------

@pytest.fixture(scope="module")
def local_judge(demo):
    return LocalJudge(demo)


@pytest.mark.modeling
def test_local_score_is_the_expectation_under_the_models_logits(demo, local_judge):
    import torch

    realism, specificity = resolve_dimensions(["realism", "specificity"])
    requests = [ScoreRequest("good", CASE, GOOD, realism), ScoreRequest("vague", CASE, VAGUE, specificity)]
    results = local_judge.score(requests)  # one padded batch of two prompts of different lengths
    assert [(r.key, r.dimension, r.method) for r in results] == [("good", "realism", "logits"),
                                                                 ("vague", "specificity", "logits")]
    for request, result in zip(requests, results):
        query = local_judge._score_query(request)
        ids, level_ids = local_judge.encode(query)
        # the canonical continuation of "Score:" is the level's own token
        assert [local_judge.tokenizer.decode([level_ids[label][0]]).strip() for label in level_ids] == \
            request.dimension.labels
        assert local_judge.tokenizer.decode(ids).rstrip().endswith("<|im_start|>assistant\nScore:")
        with torch.inference_mode():
            logits = demo.model(input_ids=torch.tensor([ids])).logits[0, -1].double()
        probs = torch.softmax(logits, dim=-1)
        p = {label: float(sum(probs[i] for i in set(token_ids))) for label, token_ids in level_ids.items()}
        hand = sum(int(label) * v for label, v in p.items()) / sum(p.values())
        assert result.judge_score == pytest.approx(hand, abs=2e-4)
        assert result.mass == pytest.approx(sum(p.values()), abs=2e-4)
        assert result.score == pytest.approx(request.dimension.to_output(hand), abs=2e-4)
        assert sum(result.distribution.values()) == pytest.approx(1.0)
        # prompt and raw output are kept for audit
        assert result.prompt["messages"] == query.messages and result.prompt["prefill"] == "Score:"
        assert result.raw_output["prompt_tokens"] == len(ids) and len(result.raw_output["top_tokens"]) == 5
    assert 0.0 <= results[1].score <= 1.0 and 1.0 <= results[0].score <= 5.0


@pytest.mark.modeling
def test_local_pairwise_compares_in_both_orders(local_judge):
    [result] = local_judge.compare([PairRequest("pair", CASE, GOOD, VAGUE)])
    assert result.dimension == "overall" and result.method == "logits"
    assert 0 <= result.prob_a_first <= 1 and 0 <= result.prob_a_second <= 1
    ab = result.prompt["ab"]["messages"][-1]["content"]
    ba = result.prompt["ba"]["messages"][-1]["content"]
    assert ab.index(GOOD) < ab.index(VAGUE) and ba.index(VAGUE) < ba.index(GOOD)
    assert result.consistent == ((result.prob_a_first > 0.5) == (result.prob_a_second > 0.5))
    assert result.prob_a == pytest.approx((result.prob_a_first + result.prob_a_second) / 2)
    assert set(result.raw_output["ab"]["distribution"]) == {"A", "B"}


@pytest.mark.modeling
def test_local_judge_refuses_levels_that_are_not_single_tokens(local_judge):
    wide = JudgeDimension(key="wide", label="Wide", criteria="c", steps=("s",), min=0, max=10)
    with pytest.raises(JudgeError, match="10 are not single tokens"):
        local_judge.score([ScoreRequest("x", CASE, GOOD, wide)])


@pytest.mark.modeling
def test_local_judge_stops_between_batches(local_judge):
    realism = resolve_dimensions(["realism"])[0]
    local_judge._engine.max_batch_size = 1
    try:
        batches = list(local_judge.score_iter([ScoreRequest(str(i), CASE, GOOD, realism) for i in range(3)],
                                              should_stop=iter([False, True]).__next__))
    finally:
        local_judge._engine.max_batch_size = 16
    assert len(batches) == 1 and len(batches[0]) == 1


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


def test_local_judge_caps_tokens_per_forward_and_halves_on_out_of_memory():
    import torch

    from modeling.judge.local import LocalJudge, cap_forward_tokens

    # (5 prompts of 100 tokens): at most 250 padded tokens a forward -> batches of 2, 2, 1
    assert cap_forward_tokens([[0, 1, 2, 3, 4]], [100] * 5, 250) == [[0, 1], [2, 3], [4]]
    assert cap_forward_tokens([[0, 1]], [300, 10], 250) == [[0], [1]]  # too long: alone
    judge = object.__new__(LocalJudge)
    calls = []

    def forward(prompts):
        calls.append(len(prompts))
        if len(prompts) > 2:
            raise torch.OutOfMemoryError("out of memory")
        return torch.zeros((len(prompts), 3))

    judge.next_token_logprobs = forward
    assert judge._logprobs_in_halves([[1]] * 5).shape == (5, 3)
    assert calls == [5, 2, 3, 1, 2]  # 5 fails -> 2 and 3; 3 fails -> 1 and 2
    judge.next_token_logprobs = lambda prompts: (_ for _ in ()).throw(torch.OutOfMemoryError("oom"))
    with pytest.raises(torch.OutOfMemoryError):
        judge._logprobs_in_halves([[1]])


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
