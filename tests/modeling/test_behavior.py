"""Behavior tokens: added to the tokenizer as single special tokens, parsed from the
start of generated text, and never left in the text a clinician sees."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from modeling.behavior import DEFAULT_BEHAVIOR_TOKENS, BehaviorTokens

TOKENS = DEFAULT_BEHAVIOR_TOKENS.strings


def test_defaults_cover_the_three_categories():
    assert DEFAULT_BEHAVIOR_TOKENS.as_dict() == {
        "reactive": "<|reactive|>", "balanced": "<|balanced|>", "proactive": "<|proactive|>"}
    assert DEFAULT_BEHAVIOR_TOKENS.behavior_for("<|balanced|>") == "balanced"
    assert DEFAULT_BEHAVIOR_TOKENS.behavior_for("<|im_end|>") is None


def test_custom_strings_are_validated():
    custom = BehaviorTokens.from_mapping({"reactive": "[R]", "balanced": "[B]", "proactive": "[P]"})
    assert custom.parse("[P] Check the platelets.") == ("proactive", "Check the platelets.")
    with pytest.raises(ValueError):
        BehaviorTokens.from_mapping({"reactive": "[R]", "balanced": "[R]", "proactive": "[P]"})
    with pytest.raises(ValueError):
        BehaviorTokens.from_mapping({"reactive": "[R]", "proactive": "[P]"})
    with pytest.raises(ValueError):  # one token inside another would be ambiguous to strip
        BehaviorTokens.from_mapping({"reactive": "<R>", "balanced": "<R>>", "proactive": "<P>"})


@pytest.mark.parametrize(("raw", "behavior", "text"), [
    ("<|proactive|>Hold the heparin.", "proactive", "Hold the heparin."),
    ("  <|reactive|> B, adrenal insufficiency", "reactive", "B, adrenal insufficiency"),
    ("<|balanced|>", "balanced", ""),  # the token alone: the agent stays silent
    ("B, adrenal insufficiency", None, "B, adrenal insufficiency"),
    ("Sure. <|proactive|>Hold the heparin.", None, "Sure. Hold the heparin."),  # not leading: no behavior
    ("<|proactive|><|reactive|>Hold it.", "proactive", "Hold it."),
    ("<|pro<|reactive|>active|>Hold it.", None, "Hold it."),  # removing one token must not make another
])
def test_parse_reads_the_leading_token_and_strips_all(raw, behavior, text):
    assert DEFAULT_BEHAVIOR_TOKENS.parse(raw) == (behavior, text)


@given(st.lists(st.one_of(st.sampled_from(TOKENS), st.text(alphabet="<|>proactivebalncd ABC.\n", max_size=12)),
                max_size=12))
def test_stripped_text_never_contains_a_token(pieces):
    raw = "".join(pieces)
    behavior, text = DEFAULT_BEHAVIOR_TOKENS.parse(raw)
    assert not any(token in text for token in TOKENS)
    assert not DEFAULT_BEHAVIOR_TOKENS.contains_any(DEFAULT_BEHAVIOR_TOKENS.strip(raw))
    if behavior is not None:
        assert raw.lstrip().startswith(DEFAULT_BEHAVIOR_TOKENS.token_for(behavior))


@pytest.mark.modeling
def test_tokens_round_trip_through_the_tokenizer(fresh_tokenizer, tmp_path):
    tokenizer = fresh_tokenizer
    size = len(tokenizer)
    ids = DEFAULT_BEHAVIOR_TOKENS.add_to_tokenizer(tokenizer)
    assert ids == list(range(size, size + 3))
    assert DEFAULT_BEHAVIOR_TOKENS.add_to_tokenizer(tokenizer) == ids  # idempotent
    assert len(tokenizer) == size + 3
    for token, token_id in zip(TOKENS, ids):
        encoded = tokenizer(token + "Hold the heparin.", add_special_tokens=False)["input_ids"]
        assert encoded[0] == token_id  # one token, never split
        assert tokenizer.decode(encoded, skip_special_tokens=False) == token + "Hold the heparin."
        assert tokenizer.decode(encoded, skip_special_tokens=True) == "Hold the heparin."
    tokenizer.save_pretrained(tmp_path)
    from modeling.loading import load_tokenizer

    assert DEFAULT_BEHAVIOR_TOKENS.token_ids(load_tokenizer(tmp_path)) == ids


@pytest.mark.modeling
def test_add_to_model_grows_tied_embeddings_with_mean_rows(fresh_tokenizer):
    from transformers import LlamaConfig, LlamaForCausalLM

    tokenizer = fresh_tokenizer
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, tie_word_embeddings=False)
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    before_in = model.get_input_embeddings().weight.detach().clone()
    before_out = model.get_output_embeddings().weight.detach().clone()
    ids = DEFAULT_BEHAVIOR_TOKENS.add_to_model(model, tokenizer)
    weight_in = model.get_input_embeddings().weight
    weight_out = model.get_output_embeddings().weight
    assert weight_in.shape[0] == len(tokenizer) == before_in.shape[0] + 3
    torch.testing.assert_close(weight_in[: before_in.shape[0]], before_in)  # old rows untouched
    for token_id in ids:
        torch.testing.assert_close(weight_in[token_id], before_in.mean(0))
        torch.testing.assert_close(weight_out[token_id], before_out.mean(0))
