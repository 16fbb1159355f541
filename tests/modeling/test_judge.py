"""The G-Eval judge: the probability-weighted score, dimensions as data, prompts, and
the local judge on the demo model's logits (the endpoint judge: test_judge_endpoint.py)."""

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
from tests.modeling.judge_cases import CASE, GOOD, VAGUE

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
