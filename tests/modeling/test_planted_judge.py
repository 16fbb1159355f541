"""An LLM judge's reading of "does the response name the planted problem", used in the
scores in place of the terms' reading, and its agreement with the terms reported."""

from __future__ import annotations

import json

import pytest

from modeling import evaluate, judge
from modeling.cases import read_cases
from modeling.judge import LocalJudge, OpenAIJudge, PlantedRequest, parse_label
from modeling.planted import problem_description, reading_agreement
from tests.chat_server import FakeOpenAI
from tests.modeling.conftest import DEMO_CASES


def _demo_case(external_id: str) -> dict:
    return next(c for c in read_cases(DEMO_CASES) if c["external_id"] == external_id)


def test_agreement_and_kappa_by_hand():
    # judge, terms: one both named, one judge only, two neither
    agreement = reading_agreement([(True, True), (True, False), (False, False), (False, False)])
    # chance agreement: judge says named 1/2, terms 1/4 -> 1/2*1/4 + 1/2*3/4 = 1/2
    assert agreement == {"n": 4, "agreed": 3, "agreement": 0.75, "kappa": pytest.approx((0.75 - 0.5) / 0.5),
                         "judge_only": 1, "terms_only": 0}


def test_agreement_of_two_constant_readings_has_no_kappa():
    agreement = reading_agreement([(True, True), (True, True)])
    assert agreement["agreement"] == 1.0 and agreement["kappa"] is None
    assert reading_agreement([])["agreement"] is None


def test_sampled_yes_no_answers_are_read_in_any_case():
    assert parse_label("Yes, it names the anti-D.", ["Yes", "No"]) == "Yes"
    assert parse_label("no.", ["Yes", "No"]) == "No"
    assert parse_label("Nope, nothing", ["Yes", "No"]) is None
    assert parse_label("I would say B", ["A", "B"]) == "B"  # letters are still read as before


def test_the_judge_is_told_the_summary_or_else_the_terms():
    assert problem_description({"summary": " the wrong patient ", "terms": ["Tanaka"]}) == "the wrong patient"
    assert problem_description({"terms": ["anti-D", ["Rh", "immunoglobulin"]]}) == "any one of: anti-D; Rh + immunoglobulin"
    assert problem_description(None) is None


def test_every_planted_demo_case_tells_the_judge_the_problem_not_the_answer():
    """A balanced case's summary is the concern to raise beside the answer: it must not
    open with the gold option letter."""
    planted = [c for c in read_cases(DEMO_CASES) if c.get("planted_problem")]
    assert planted
    for case in planted:
        summary = problem_description(case["planted_problem"])
        assert summary and not summary.startswith(f"{case['gold_label']}:") and \
            not summary.startswith(f"{case['gold_label']},"), case["external_id"]


def test_an_endpoint_judge_reads_the_probability_of_yes():
    case = _demo_case("demo-omission-01")
    problem = problem_description(case["planted_problem"])
    with FakeOpenAI() as server:
        server.named_words = ["immunoglobulin"]
        remote = OpenAIJudge("judge-model", server.base_url, "sk-test", max_retries=0, timeout=10)
        named, missed = remote.planted([
            PlantedRequest("a", case, "She is Rh negative: give Rh immunoglobulin today.", problem),
            PlantedRequest("b", case, "Shall we check her blood pressure again?", problem)])
        asked = server.requests[0]["messages"][-1]["content"]
    assert named.method == "logprobs" and named.prob_named == pytest.approx(0.9) and named.named is True
    assert missed.prob_named == pytest.approx(0.2) and missed.named is False
    assert problem in asked and "Yes or No" in asked
    assert named.prompt["messages"][-1]["content"] == asked or missed.prompt["messages"][-1]["content"] == asked


def test_an_endpoint_without_logprobs_is_sampled():
    case = _demo_case("demo-omission-01")
    with FakeOpenAI("plain") as server:
        server.named_words = ["Kleihauer"]
        remote = OpenAIJudge("judge-model", server.base_url, "sk-test", max_retries=0, timeout=10, n_samples=3)
        [result] = remote.planted([PlantedRequest("a", case, "Send a Kleihauer.", "anti-D and a Kleihauer test")])
    assert result.method == "samples" and result.samples == ["Yes", "Yes", "Yes"] and result.named is True


@pytest.mark.modeling
def test_the_local_judge_reads_yes_and_no_from_the_logits(demo):
    case = _demo_case("demo-omission-01")
    local = LocalJudge(demo)
    request = PlantedRequest("a", case, "Give anti-D and send a Kleihauer test.", "anti-D and a Kleihauer test")
    [result] = local.planted([request])
    assert result.method == "logits" and 0.0 <= result.prob_named <= 1.0
    assert result.prompt["prefill"] == "Named:" and result.mass > 0
    ids, label_ids = local.encode(local._planted_query(request))
    assert [local.tokenizer.decode([label_ids[label][0]]).strip() for label in ("Yes", "No")] == ["Yes", "No"]


def test_the_judges_readings_replace_the_terms_and_their_agreement_is_reported(tmp_path, capsys):
    cases = [_demo_case("demo-omission-01"), _demo_case("demo-treatment-01")]
    case_file = tmp_path / "cases.jsonl"
    case_file.write_text("".join(json.dumps(c) + "\n" for c in cases))
    texts = {  # (arm, case): text
        ("synonyms", "demo-omission-01"): "She is Rh negative: she needs Rh immunoglobulin today.",
        ("synonyms", "demo-treatment-01"): "B, and check her K+ before the insulin.",
        ("terms", "demo-omission-01"): "Please arrange a Kleihauer test for the fetal bleed.",
        ("terms", "demo-treatment-01"): "B. Watch the potassium.",
        ("silent", "demo-omission-01"): "",
    }
    responses = tmp_path / "responses.jsonl"
    responses.write_text("".join(json.dumps({"external_id": case, "arm": arm, "text": text}) + "\n"
                                 for (arm, case), text in texts.items()))
    judged = tmp_path / "judged.jsonl"
    with FakeOpenAI() as server:
        server.named_words = ["immunoglobulin", "K+", "potassium"]  # the judge misses "Kleihauer"
        assert judge.main(["--cases", str(case_file), "--responses", str(responses), "--out", str(judged),
                           "--openai-model", "m", "--base-url", server.base_url, "--dimensions", "none",
                           "--planted", "--api-key-env", "NO_SUCH_VARIABLE_FOR_TESTS"]) == 0
    rows = [json.loads(line) for line in judged.read_text().splitlines()]
    assert sorted((r["type"], r["arm"], r["external_id"]) for r in rows) == sorted(
        ("planted", arm, case) for arm, case in texts)
    assert json.loads(capsys.readouterr().out)["planted"]["synonyms"] == {"n": 2, "named": 2, "undecided": 0}

    def scores(*extra):
        out = tmp_path / f"scores{len(extra)}.json"
        assert evaluate.main([str(responses), "--data", str(case_file), "--n-boot", "0", "--json", str(out),
                              *extra]) == 0
        return json.loads(out.read_text())

    offline, read = scores(), scores("--planted-readings", str(judged))
    printed = capsys.readouterr().out
    assert offline["arms"]["synonyms"]["proactive"]["issue_found_rate"] == 0.0
    assert read["arms"]["synonyms"]["proactive"]["issue_found_rate"] == 1.0
    assert offline["arms"]["synonyms"]["balanced"]["concern_found_rate"] == 0.0
    assert read["arms"]["synonyms"]["balanced"]["concern_found_rate"] == 1.0
    assert read["arms"]["terms"]["proactive"]["issue_found_rate"] == 0.0  # what the judge missed counts as missed
    # The silent response is no flag either way, so it is not where the readings can disagree.
    assert read["planted_agreement"]["all"] == {"n": 4, "agreed": 1, "agreement": 0.25,
                                                "kappa": pytest.approx(-0.5), "judge_only": 2, "terms_only": 1}
    assert read["planted_agreement"]["arms"]["synonyms"]["judge_only"] == 2
    assert "the judge's reading vs the terms'" in printed and "agree 25.0%" in printed
    assert "planted_agreement" not in offline


def test_an_unreadable_readings_file_is_a_clear_error(tmp_path, capsys):
    responses = tmp_path / "responses.jsonl"
    responses.write_text(json.dumps({"external_id": "demo-omission-01", "arm": "a", "text": "x"}) + "\n")
    judged = tmp_path / "judged.jsonl"
    judged.write_text("{not json\n")
    with pytest.raises(SystemExit) as exit_info:
        evaluate.main([str(responses), "--data", str(DEMO_CASES), "--planted-readings", str(judged)])
    assert exit_info.value.code == 2 and "judged.jsonl, line 1: not valid JSON" in capsys.readouterr().err
