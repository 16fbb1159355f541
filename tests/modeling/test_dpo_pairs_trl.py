"""TRL reads the portal's DPO pairs as they are: a ``datasets.Dataset`` of a small study's
pairs passes TRL's own preference checks and tokenization, and ``DPOTrainer`` takes one
training step on the demo model (CPU)."""

from __future__ import annotations

import pytest

from annotations.analysis.dpo_pairs import DpoRules
from annotations.selectors.preference_pairs import dpo_pairs
from tests.annotations.test_preference_pairs import REVERSED, ranked_study, submit_all

pytestmark = [pytest.mark.modeling, pytest.mark.django_db]


@pytest.fixture
def pairs(db):
    study = ranked_study("trl", 3, raters=2)
    submit_all(study, {("r1", "c2"): REVERSED})
    return list(dpo_pairs(study, rules=DpoRules()))


def test_dpo_trainer_takes_a_step_on_the_pairs(pairs, demo, tmp_path):
    from datasets import Dataset
    from peft import LoraConfig
    from trl import DPOConfig, DPOTrainer
    from trl.data_utils import is_conversational
    from trl.trainer.dpo_trainer import DataCollatorForPreference

    from modeling.loading import load_model

    assert len(pairs) == 6  # c0 and c1: three pairs each; c2's raters disagree on every pair
    dataset = Dataset.from_list(pairs)
    assert is_conversational(dataset[0])
    loaded = load_model("demo", device="cpu")  # a copy from the cache: the session's demo stays untrained
    # One short step (a LoRA adapter, as the portal trains, sequences cut to their last 96
    # tokens): what is checked is that TRL takes the pairs as they are, not what it learns.
    args = DPOConfig(output_dir=str(tmp_path), max_steps=1, per_device_train_batch_size=1, max_length=96,
                     truncation_mode="keep_end", gradient_checkpointing=False, learning_rate=1e-6,
                     report_to="none", use_cpu=True, logging_steps=1, save_strategy="no")
    trainer = DPOTrainer(model=loaded.model, args=args, train_dataset=dataset, processing_class=loaded.tokenizer,
                         peft_config=LoraConfig(r=4, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM"))
    tokenized = trainer.train_dataset[0]
    assert tokenized["prompt_ids"] and tokenized["chosen_ids"] and tokenized["rejected_ids"]
    # the chosen text is what the completion holds, after the Baseline arm's prompt
    assert pairs[0]["chosen"][0]["content"] in loaded.tokenizer.decode(tokenized["chosen_ids"])
    assert "Team conversation:" in loaded.tokenizer.decode(tokenized["prompt_ids"])
    batch = DataCollatorForPreference(pad_token_id=loaded.tokenizer.pad_token_id)(
        [trainer.train_dataset[i] for i in range(2)])
    assert batch["input_ids"].shape[0] == 4  # two chosen and two rejected sequences

    result = trainer.train()
    assert result.global_step == 1
    logged = trainer.state.log_history[0]
    assert logged["loss"] == pytest.approx(0.6931, abs=0.01)  # a fresh policy equals its reference: -log(1/2)
