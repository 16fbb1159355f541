"""LoRA training of BehaviorSFT and GeneralSFT (TRL's SFTTrainer) on the real demo model
(CPU, fp32).

The runs are as short as a CPU test allows (a few optimizer steps on three demo cases,
one per behavior, with a high learning rate); they check the mechanics a user relies
on: the loss goes down, the adapter and its manifest are written and load back, the
BehaviorSFT model starts its answers with a behavior token, mostly the right one, and
the GeneralSFT model never writes one; both arms train on the same tokens but the
behavior token; the token rows take their own learning rate; a run stopped after a
checkpoint and run again ends with the adapter of a run that never stopped.
"""

from __future__ import annotations

import json

import pytest

from modeling.behavior import DEFAULT_BEHAVIOR_TOKENS
from tests.modeling.tiny_cases import one_thread

pytestmark = pytest.mark.modeling

TRAIN_IDS = ("demo-consistency-01", "demo-temporal-05", "demo-medication-04")  # proactive, reactive, balanced
FAST = dict(lora_r=8, lr=1e-3, token_lr=3e-2, lr_schedule="constant", warmup_ratio=0.0, lora_dropout=0.0)


@pytest.fixture(scope="module")
def behavior_run(cases_by_id, demo, tmp_path_factory):
    from modeling.loading import load_model
    from modeling.train import train_adapter

    loaded = load_model("demo", device="cpu")  # a private copy, from the cache
    cases = [cases_by_id[i] for i in TRAIN_IDS]
    seen = []
    with one_thread():
        result = train_adapter(loaded, cases, "behavior_sft", tmp_path_factory.mktemp("behavior"), steps=4,
                               batch_size=3, seed=0, progress=seen.append, **FAST)
    return loaded, cases, result, seen


@pytest.fixture(scope="module")
def general_run(cases_by_id, demo, tmp_path_factory):
    from modeling.loading import load_model
    from modeling.train import train_adapter

    loaded = load_model("demo", device="cpu")
    vocabulary = len(loaded.tokenizer)
    cases = [cases_by_id["demo-temporal-05"]]
    with one_thread():
        result = train_adapter(loaded, cases, "general_sft", tmp_path_factory.mktemp("general"), steps=2,
                               batch_size=1, seed=0, **FAST)
    return loaded, cases, result, vocabulary


def _first_behaviors(loaded, cases, arm):
    from modeling.generate import GenerationEngine

    return GenerationEngine(loaded, max_new_tokens=2).generate(cases, arm=arm)


def test_behavior_sft_lowers_the_loss_and_reports_progress(behavior_run):
    _, _, result, seen = behavior_run
    losses = result.loss_history
    assert len(losses) == 4
    assert losses[-1] < losses[0] - 0.5
    assert all(b < a for a, b in zip(losses, losses[1:]))
    assert [p.done for p in seen] == [1, 2, 3, 4] and all(p.total == 4 for p in seen)
    assert seen[-1].loss == losses[-1] and seen[-1].tokens > 0 and seen[-1].eta_s == 0


def test_behavior_sft_emits_the_right_token_first_on_most_cases(behavior_run):
    loaded, cases, _, _ = behavior_run
    results = _first_behaviors(loaded, cases, "behavior_sft")
    predicted = [r.predicted_behavior for r in results]
    gold = [c["gold_behavior"] for c in cases]
    assert all(p is not None for p in predicted), predicted  # every answer starts with a token
    assert sum(p == g for p, g in zip(predicted, gold)) >= 2, (predicted, gold)
    for r in results:
        assert not DEFAULT_BEHAVIOR_TOKENS.contains_any(r.text)
        assert r.raw_text.startswith(DEFAULT_BEHAVIOR_TOKENS.token_for(r.predicted_behavior))


def test_adapter_and_manifest_are_saved_and_load_back(behavior_run, demo):
    from modeling.data import PROMPT_TEMPLATE_VERSION, data_hash
    from modeling.loading import dir_hash, load_model

    loaded, cases, result, _ = behavior_run
    out = result.adapter_dir
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "manifest.json"):
        assert (out / name).is_file(), name
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest == json.loads(json.dumps(result.manifest))
    assert manifest["arm"] == "behavior_sft" and manifest["uses_behavior_tokens"] is True
    assert manifest["base_hash"] == demo.base_hash
    assert manifest["data_hash"] == data_hash(cases, "behavior_sft", DEFAULT_BEHAVIOR_TOKENS)
    assert manifest["case_ids"] == list(TRAIN_IDS)
    assert manifest["behavior_tokens"] == DEFAULT_BEHAVIOR_TOKENS.as_dict()
    assert manifest["hyperparameters"]["lr"] == FAST["lr"] and manifest["hyperparameters"]["lora_r"] == 8
    assert manifest["hyperparameters"]["seed"] == 0 and manifest["steps"] == 4
    assert manifest["prompt_template_version"] == PROMPT_TEMPLATE_VERSION
    assert manifest["dtype"] == "float32" and manifest["device"] == "cpu"
    assert {"torch", "transformers", "peft", "python"} <= set(manifest["packages"])
    assert manifest["adapter_hash"] == dir_hash(out)
    assert 0 < manifest["trainable_parameters"] < manifest["total_parameters"] / 20
    assert manifest["trainer"] == "trl.SFTTrainer" and manifest["packages"]["trl"] and manifest["processes"] == 1
    assert manifest["resumed_from_step"] is None and not (out / "checkpoints").exists()  # nothing left to resume
    assert manifest["tracking"]["tensorboard_dir"] == str(out / "runs")
    assert list((out / "runs").rglob("events.out.tfevents.*"))

    # Loading base + adapter (merged) gives the same first tokens as the model in memory.
    reloaded = load_model("demo", adapter=out, device="cpu")
    assert reloaded.adapter_hash == manifest["adapter_hash"]
    assert reloaded.behavior_tokens == DEFAULT_BEHAVIOR_TOKENS
    in_memory = _first_behaviors(loaded, cases, "behavior_sft")
    from_disk = _first_behaviors(reloaded, cases, "behavior_sft")
    assert [r.token_ids for r in from_disk] == [r.token_ids for r in in_memory]


def test_the_merged_export_gives_the_same_greedy_tokens_as_base_plus_adapter(behavior_run, tmp_path):
    from modeling.export import main as export_main
    from modeling.generate import GenerationEngine
    from modeling.loading import load_model

    _, cases, result, _ = behavior_run
    out = tmp_path / "merged"
    assert export_main(["--base", "demo", "--adapter", str(result.adapter_dir), "--out", str(out)]) == 0
    for name in ("config.json", "model.safetensors", "tokenizer.json", "generation_config.json", "manifest.json"):
        assert (out / name).is_file(), name
    assert not (out / "adapter_config.json").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["format"] == "evalportal-merged/1" and manifest["uses_behavior_tokens"] is True
    assert manifest["adapter_hash"] == result.manifest["adapter_hash"]

    merged = load_model(str(out), device="cpu")  # as a plain Hugging Face model, no adapter
    assert merged.adapter is None and merged.behavior_tokens == DEFAULT_BEHAVIOR_TOKENS
    assert DEFAULT_BEHAVIOR_TOKENS.in_tokenizer(merged.tokenizer)
    with_adapter = load_model("demo", adapter=result.adapter_dir, device="cpu")
    expected = GenerationEngine(with_adapter, max_new_tokens=24).generate(cases, arm="behavior_sft")
    exported = GenerationEngine(merged, max_new_tokens=24).generate(cases, arm="behavior_sft")
    assert [r.token_ids for r in exported] == [r.token_ids for r in expected]
    assert [r.predicted_behavior for r in exported] == [r.predicted_behavior for r in expected]
    with pytest.raises(SystemExit):  # never over an earlier export
        export_main(["--base", "demo", "--adapter", str(result.adapter_dir), "--out", str(out)])


def test_general_sft_lowers_the_loss_and_never_emits_a_token(general_run):
    loaded, cases, result, vocabulary = general_run
    assert result.loss_history[-1] < result.loss_history[0]
    assert len(loaded.tokenizer) == vocabulary  # no behavior tokens added
    assert result.manifest["arm"] == "general_sft" and result.manifest["behavior_tokens"] is None
    for r in _first_behaviors(loaded, cases, "general_sft"):
        assert r.predicted_behavior is None
        assert not DEFAULT_BEHAVIOR_TOKENS.contains_any(r.raw_text)


def test_training_can_be_cancelled_and_then_saves_nothing(cases_by_id, demo, tmp_path):
    from modeling.loading import load_model
    from modeling.progress import Cancelled
    from modeling.train import train_adapter

    with pytest.raises(Cancelled):
        train_adapter(load_model("demo", device="cpu"), [cases_by_id["demo-temporal-05"]], "general_sft",
                      tmp_path / "adapter", steps=3, should_stop=lambda: True)
    assert not (tmp_path / "adapter" / "manifest.json").exists()
    assert not (tmp_path / "adapter" / "adapter_model.safetensors").exists()


def test_bad_arguments_are_refused(cases_by_id, demo, tmp_path):
    from modeling.train import train_adapter

    with pytest.raises(ValueError, match="not trained"):
        train_adapter(demo, [cases_by_id["demo-temporal-05"]], "baseline", tmp_path)
    no_reference = {k: v for k, v in cases_by_id["demo-temporal-05"].items() if k != "reference_response"}
    with pytest.raises(ValueError, match="none of the 1 case"):
        train_adapter(demo, [no_reference], "general_sft", tmp_path)


def test_both_arms_train_on_the_same_tokens_but_the_leading_behavior_token(cases_by_id, fresh_tokenizer):
    from modeling.train.data import training_examples

    cases = [cases_by_id[i] for i in TRAIN_IDS]
    general = training_examples(cases, "general_sft", fresh_tokenizer, max_length=4096).dataset()
    token_ids = DEFAULT_BEHAVIOR_TOKENS.add_to_tokenizer(fresh_tokenizer)
    behavior = training_examples(cases, "behavior_sft", fresh_tokenizer, max_length=4096).dataset()
    for case, g, b in zip(cases, general, behavior, strict=True):
        start = next(i for i, label in enumerate(g["labels"]) if label != -100)  # where the answer starts
        token = token_ids[list(DEFAULT_BEHAVIOR_TOKENS.as_dict()).index(case["gold_behavior"])]
        assert b["input_ids"][start] == b["labels"][start] == token
        assert b["input_ids"][:start] + b["input_ids"][start + 1:] == g["input_ids"]
        assert b["labels"][:start] + b["labels"][start + 1:] == g["labels"]
        assert set(g["labels"][:start]) == {-100}  # the loss is on the answer only


def test_the_behavior_token_rows_take_their_own_learning_rate(demo, tmp_path):
    from modeling.loading import load_model
    from modeling.train import TokenRateSFTTrainer, TrainConfig, lora_config, sft_config
    from modeling.train.data import training_examples
    from tests.modeling.tiny_cases import tiny_cases

    loaded = load_model("demo", device="cpu")
    token_ids = DEFAULT_BEHAVIOR_TOKENS.add_to_model(loaded.model, loaded.tokenizer)
    config = TrainConfig(steps=1, lr=1e-4, token_lr=5e-3, weight_decay=0.1)
    dataset = training_examples(tiny_cases(), "behavior_sft", loaded.tokenizer, max_length=256).dataset()
    trainer = TokenRateSFTTrainer(model=loaded.model, args=sft_config(config, tmp_path, device="cpu",
                                                                       dtype=loaded.dtype, report_to=[]),
                                  train_dataset=dataset, processing_class=loaded.tokenizer,
                                  peft_config=lora_config(loaded.model, config, token_ids), token_lr=5e-3)
    groups = trainer.create_optimizer().param_groups
    names = {id(p): n for n, p in trainer.model.named_parameters()}
    assert [(g["lr"], g["weight_decay"]) for g in groups] == [(1e-4, 0.1), (5e-3, 0.0)]
    assert {names[id(p)] for p in groups[1]["params"]} == {
        n for n in names.values() if "trainable_tokens_delta" in n}
    assert all("lora_" in names[id(p)] for p in groups[0]["params"])


def test_a_run_stopped_after_a_checkpoint_resumes_to_the_adapter_of_a_run_that_never_stopped(demo, tmp_path):
    from modeling.loading import load_model
    from modeling.progress import Cancelled
    from modeling.train import train_adapter
    from tests.modeling.tiny_cases import TINY, adapter_difference, tiny_cases

    def train(out, **options):
        with one_thread():
            return train_adapter(load_model("demo", device="cpu"), tiny_cases(), "behavior_sft", out, steps=4,
                                 batch_size=1, save_steps=2, report_to="none", **TINY, **options)

    whole = train(tmp_path / "whole")
    checks = []
    with pytest.raises(Cancelled):  # stopped before its third step, after the checkpoint of its second
        train(tmp_path / "stopped", should_stop=lambda: checks.append(1) or len(checks) > 2)
    assert [p.name for p in (tmp_path / "stopped" / "checkpoints").glob("*/checkpoint-*")] == ["checkpoint-2"]
    resumed = train(tmp_path / "stopped")
    assert resumed.manifest["resumed_from_step"] == 2 and resumed.manifest["steps"] == 4
    assert resumed.loss_history == pytest.approx(whole.loss_history, abs=1e-5)
    difference, largest = adapter_difference(whole.adapter_dir, resumed.adapter_dir)
    assert difference <= 1e-5 * largest, (difference, largest)  # measured: 0 (bit for bit on CPU)


def test_a_tracker_whose_package_is_missing_is_refused_saying_what_to_install():
    import importlib.util

    from modeling.train.sft import report_targets

    assert report_targets("tensorboard") == ["tensorboard"] and report_targets("none") == []
    for name in ("mlflow", "wandb"):
        assert importlib.util.find_spec(name) is None  # neither is part of the pinned environment
        with pytest.raises(ValueError, match=f"the {name} package is not installed.*pip install {name}"):
            report_targets(name)
    with pytest.raises(ValueError, match="unknown training tracker 'comet'"):
        report_targets("tensorboard,comet")
