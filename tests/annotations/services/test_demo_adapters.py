"""A fresh clone ships no demo adapters: `make run` queues their training, each job's
adapter becomes its demo arm's, and until then the arm says why it cannot generate."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from annotations.errors import StateConflict
from annotations.models import ModelArm, Study, TrainingJob
from annotations.services.demo import DEMO_TRAINING, demo_adapters_train, demo_load
from annotations.services.generation import generation_job_queue
from annotations.services.training import training_arm_register

pytestmark = pytest.mark.django_db


@pytest.fixture
def demo(tmp_path, settings):
    settings.EVALPORTAL_MODEL_ROOTS = [tmp_path]
    settings.EVALPORTAL_ADAPTER_DIR = tmp_path
    demo_load()
    for arm in ModelArm.objects.filter(method__in=["general_sft", "behavior_sft"]):
        arm.adapter_path = str(tmp_path / f"missing-{arm.method}")  # what a fresh clone has: nothing there
        arm.save()
    return Study.objects.get(slug="demo")


def test_each_fine_tuned_demo_arm_without_its_adapter_gets_one_training_job(demo):
    out = io.StringIO()
    call_command("train_demo_adapters", stdout=out)
    jobs = list(TrainingJob.objects.order_by("pk"))
    assert sorted(j.target_arm.name for j in jobs) == ["BehaviorSFT", "GeneralSFT"]
    assert all(j.method == j.target_arm.method and DEMO_TRAINING.items() <= j.hyperparameters.items() and j.study == demo
               for j in jobs)
    assert "queued on the gpu queue for a worker to train" in out.getvalue() and "/studies/demo/jobs/" in out.getvalue()
    assert demo_adapters_train() == []  # already under way: nothing twice


def test_an_arm_in_training_refuses_generation_with_the_reason(demo):
    job = demo_adapters_train()[0]
    with pytest.raises(StateConflict, match=rf"still being trained \(training job #{job.pk}"):
        generation_job_queue(study=demo, arm=job.target_arm)


def test_the_trained_adapter_becomes_the_arm_s_own_and_no_new_arm_is_made(demo, tmp_path):
    arms_before = ModelArm.objects.count()
    job = next(j for j in demo_adapters_train() if j.method == "behavior_sft")
    adapter = tmp_path / "trained"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    arm = training_arm_register(job=job, adapter_dir=str(adapter), checkpoint_hash="ab" * 32)
    assert arm.pk == job.target_arm_id and arm.name == "BehaviorSFT"
    assert arm.adapter_path == str(adapter) and arm.checkpoint_hash == "ab" * 32
    assert ModelArm.objects.count() == arms_before
    job.refresh_from_db()
    assert job.result_arm_id == arm.pk
    TrainingJob.objects.filter(pk=job.pk).update(status="succeeded")
    assert [j.method for j in demo_adapters_train()] == []  # BehaviorSFT has it; GeneralSFT is still queued


def test_without_a_demo_study_the_command_says_to_load_it_first():
    with pytest.raises(CommandError, match="no demo study to train adapters for: run `manage.py load_demo` first"):
        call_command("train_demo_adapters", "--steps", "1")
    assert not TrainingJob.objects.exists()
