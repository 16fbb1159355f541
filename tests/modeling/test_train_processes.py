"""Training in processes of its own (what a training job's worker runs): two processes
(``torch.distributed.run``, gloo on the CPU, as ``accelerate launch`` runs one per GPU)
train the adapter one process trains with the same global batch, and their progress
reaches the caller through the first process's progress file."""

from __future__ import annotations

import pytest

from modeling.params import TrainParams
from tests.modeling.tiny_cases import TINY, adapter_difference, one_thread, tiny_cases

pytestmark = [pytest.mark.modeling, pytest.mark.slow]


def test_two_processes_train_the_adapter_one_process_trains_with_the_same_global_batch(demo, tmp_path):
    from modeling.loading import load_model
    from modeling.train import train_adapter
    from modeling.train.launch import train_in_processes

    params = TrainParams(steps=2, batch_size=1, learning_rate=TINY["lr"], token_lr=TINY["token_lr"],
                         lora_r=TINY["lora_r"], lora_dropout=0.0, warmup_ratio=0.0, max_length=TINY["max_length"])
    seen, runs = [], []
    two = train_in_processes("demo", tiny_cases(), "behavior_sft", tmp_path / "two", params, processes=2,
                             progress=seen.append, on_run=runs.append, report_to="none",
                             env={"OMP_NUM_THREADS": "1"})
    with one_thread():
        one = train_adapter(load_model("demo", device="cpu"), tiny_cases(), "behavior_sft", tmp_path / "one",
                            steps=2, batch_size=2, report_to="none", **TINY)
    assert (two.manifest["processes"], two.manifest["global_batch_size"]) == (2, 2)
    assert one.manifest["global_batch_size"] == 2 and two.manifest["tokens"] == one.manifest["tokens"]
    assert [p.done for p in seen] == [1, 2] and [p.loss for p in seen] == pytest.approx(two.loss_history)
    assert runs == [{"resumed_from_step": None, "loss_history": []}]
    assert two.loss_history == pytest.approx(one.loss_history, abs=1e-4)
    difference, largest = adapter_difference(one.adapter_dir, two.adapter_dir)
    assert difference <= 1e-4, (difference, largest)  # measured: 7.9e-06 of weights up to 0.68


def test_failed_training_processes_fail_with_what_they_wrote_last(demo, tmp_path):
    from modeling.train.launch import TrainingFailed, train_in_processes

    no_reference = [{**case, "reference_response": None} for case in tiny_cases(2)]
    with pytest.raises(TrainingFailed, match="none of the 2 case.s. can be trained on"):
        train_in_processes("demo", no_reference, "general_sft", tmp_path / "adapter", TrainParams(steps=1),
                           processes=1, report_to="none", env={"OMP_NUM_THREADS": "1"})
    assert not (tmp_path / "adapter" / "manifest.json").exists()
