"""Chat formatting per arm, assistant-only loss masks, the training data's hash."""

from __future__ import annotations

import pytest

from modeling.behavior import DEFAULT_BEHAVIOR_TOKENS
from modeling.data import (
    ARMS,
    IGNORE_INDEX,
    INSTRUCTED_SUFFIX,
    NO_QUESTION_PROMPT,
    SYSTEM_PROMPT,
    apply_template,
    build_messages,
    data_hash,
    encode_for_training,
    prompt_ids,
    render_case,
    select_fewshot,
)
from modeling.splits import split_cases


def test_render_case_shows_speakers_roles_tables_images_and_question():
    case = {
        "external_id": "x1", "task": "image_reasoning", "category": "reactive", "specialty": "respiratory",
        "turns": [
            {"speaker": "Dr. Lee", "role": "registrar", "text": "Film is up.",
             "images": [{"title": "Chest X-ray", "modality": "X-ray", "description": "Right pleural effusion."}]},
            {"speaker": "Ms. Ito", "role": "patient", "text": "Is it serious?",
             "tables": [{"title": "Gas", "columns": ["pH", "pO2"], "rows": [[7.41, None], ["a|b", 9.0]]}]},
        ],
        "tables": [{"columns": ["Na"], "rows": [["128"]]}],
        "images": [{"description": "ECG: sinus rhythm."}],
        "question": "What does the film show?",
        "gold_behavior": "reactive", "label_space": ["A", "B"], "gold_label": "A",
    }
    text = render_case(case)
    assert text == (
        "Specialty: respiratory\n\n"
        "Team conversation:\n"
        "Dr. Lee (registrar): Film is up.\n"
        "Chest X-ray (X-ray), described: Right pleural effusion.\n"
        "Ms. Ito (patient): Is it serious?\n"
        "Table: Gas\n| pH | pO2 |\n|---|---|\n| 7.41 |  |\n| a\\|b | 9 |\n\n"
        "| Na |\n|---|\n| 128 |\n\n"
        "Images:\n- Image, described: ECG: sinus rhythm.\n\n"
        "You are asked: What does the film show?"
    )


def test_no_question_invites_a_contribution_only_if_needed(cases_by_id):
    case = cases_by_id["demo-omission-01"]
    assert case["question"] is None
    assert render_case(case).endswith("\n\n" + NO_QUESTION_PROMPT)
    assert "You are asked" not in render_case(case)


def test_messages_per_arm(cases_by_id, demo_cases):
    case = cases_by_id["demo-ddx-02"]
    pool = split_cases(demo_cases).train
    for arm in ARMS:
        messages = build_messages(case, arm, fewshot_pool=pool)
        assert messages[0]["role"] == "system"
        assert messages[-1] == {"role": "user", "content": render_case(case)}
        expected_system = SYSTEM_PROMPT + (INSTRUCTED_SUFFIX if arm == "instructed" else "")
        assert messages[0]["content"] == expected_system
        if arm == "fewshot":
            assert [m["role"] for m in messages[1:-1]] == ["user", "assistant"] * 3
        else:
            assert len(messages) == 2
    with pytest.raises(ValueError):
        build_messages(case, "fewshot")
    with pytest.raises(ValueError):
        build_messages(case, "no-such-arm")


def test_fewshot_examples_are_deterministic_diverse_and_never_the_case(demo_cases, cases_by_id):
    pool = split_cases(demo_cases).train
    case = cases_by_id["demo-ddx-01"]  # itself in the train pool
    chosen = select_fewshot(case, pool)
    assert len(chosen) == 3
    assert case["external_id"] not in {c["external_id"] for c in chosen}
    assert chosen[0]["task"] == case["task"]
    assert {c["category"] for c in chosen} == {"reactive", "balanced", "proactive"}
    assert [c["external_id"] for c in select_fewshot(case, list(reversed(pool)))] == \
        [c["external_id"] for c in chosen]
    messages = build_messages(case, "fewshot", pool)
    assert messages[2] == {"role": "assistant", "content": chosen[0]["reference_response"]}


@pytest.mark.modeling
@pytest.mark.parametrize("arm", ["behavior_sft", "general_sft"])
def test_loss_mask_covers_exactly_the_assistant_answer(arm, cases_by_id, fresh_tokenizer):
    tokenizer = fresh_tokenizer
    DEFAULT_BEHAVIOR_TOKENS.add_to_tokenizer(tokenizer)
    for external_id in ("demo-omission-01", "demo-ddx-01", "demo-treatment-01", "demo-error-03"):
        case = cases_by_id[external_id]
        encoded = encode_for_training(case, arm, tokenizer)
        input_ids, labels = encoded["input_ids"], encoded["labels"]
        assert len(input_ids) == len(labels) == len(encoded["attention_mask"])
        # The prompt is tokenized exactly as at generation time, and fully masked.
        prompt = prompt_ids(tokenizer, build_messages(case, arm))
        assert input_ids[: len(prompt)] == prompt
        assert all(label == IGNORE_INDEX for label in labels[: len(prompt)])
        # What the loss sees, decoded, is the answer and the end-of-turn token, nothing else.
        learned = [label for label in labels if label != IGNORE_INDEX]
        token = DEFAULT_BEHAVIOR_TOKENS.token_for(case["gold_behavior"]) if arm == "behavior_sft" else ""
        assert tokenizer.decode(learned) == token + case["reference_response"] + "<|im_end|>"
        # The learned tokens are one contiguous span right after the prompt.
        positions = [i for i, label in enumerate(labels) if label != IGNORE_INDEX]
        assert positions == list(range(len(prompt), len(prompt) + len(learned)))
        assert [input_ids[i] for i in positions] == learned
        # Whole sequence = the chat template with the answer.
        full = apply_template(tokenizer, build_messages(case, arm) + [{"role": "assistant", "content": token +
                                                                      case["reference_response"]}], False)
        assert tokenizer.decode(input_ids) == full
        behavior_ids = set(DEFAULT_BEHAVIOR_TOKENS.token_ids(tokenizer))
        assert (learned[0] in behavior_ids) == (arm == "behavior_sft")
        assert not behavior_ids & set(learned[1:])


@pytest.mark.modeling
def test_training_needs_a_reference_and_a_trainable_arm(cases_by_id, demo):
    case = dict(cases_by_id["demo-ddx-01"])
    with pytest.raises(ValueError, match="not trained"):
        encode_for_training(case, "baseline", demo.tokenizer)
    case.pop("reference_response")
    with pytest.raises(ValueError, match="reference_response"):
        encode_for_training(case, "general_sft", demo.tokenizer)
    with pytest.raises(ValueError, match="max_length"):
        encode_for_training(cases_by_id["demo-ddx-01"], "general_sft", demo.tokenizer, max_length=50)


def test_data_hash_ignores_order_but_not_content(demo_cases):
    assert data_hash(demo_cases, "general_sft") == data_hash(list(reversed(demo_cases)), "general_sft")
    assert data_hash(demo_cases, "general_sft") != data_hash(demo_cases, "behavior_sft")
    changed = [dict(c) for c in demo_cases]
    changed[0]["reference_response"] += " "
    assert data_hash(changed, "general_sft") != data_hash(demo_cases, "general_sft")
