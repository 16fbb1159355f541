"""An arm that cannot answer is refused before anything is queued, with what to do: its
adapter not trained (400), or being trained (409); on the page, through the API, the
service and the generation command line alike."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from annotations.errors import InvalidRequest
from annotations.models import GenerationJob, ModelArm, TrainingJob
from annotations.services.generation import generation_job_queue
from annotations.services.training import training_job_queue
from tests.factories import StudyArmFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_broker")]

TRAIN_FIRST = "train it first: queue its training on the Jobs page, or run `manage.py train_demo_adapters`"


@pytest.fixture
def adapter_root(tmp_path, settings):
    settings.EVALPORTAL_MODEL_ROOTS = [tmp_path]
    settings.EVALPORTAL_ADAPTER_DIR = tmp_path
    return tmp_path


@pytest.fixture
def untrained(rated_study, adapter_root):
    """A BehaviorSFT arm of the study whose adapter folder was never written."""
    arm = rated_study.study_arms.get(arm__name="BehaviorSFT").arm
    arm.method, arm.adapter_path = ModelArm.Method.BEHAVIOR_SFT, str(adapter_root / "never-trained")
    arm.save()
    return arm


def test_an_arm_without_its_adapter_is_refused_by_the_service_with_what_to_do(rated_study, untrained):
    with pytest.raises(InvalidRequest) as refused:
        generation_job_queue(study=rated_study, arm=untrained)
    assert str(refused.value).startswith("BehaviorSFT has no trained adapter (nothing at ")
    assert "never-trained" in str(refused.value) and TRAIN_FIRST in str(refused.value)
    # A fine-tuned arm that names no adapter at all is no better.
    untrained.adapter_path = ""
    untrained.save()
    with pytest.raises(InvalidRequest, match="BehaviorSFT has no trained adapter, so it cannot generate: "):
        generation_job_queue(study=rated_study, arm=untrained)
    assert not GenerationJob.objects.exists()


def test_the_page_and_the_api_answer_400_with_the_message_and_queue_nothing(rated_study, untrained, admin_client_,
                                                                             admin_user):
    page = admin_client_.post(f"/studies/{rated_study.slug}/jobs/generation/",
                              {"arm": untrained.pk, "cases": "rc-1", "max_new_tokens": 64})
    html = page.content.decode()
    assert page.status_code == 400 and "Not queued: BehaviorSFT has no trained adapter" in html and TRAIN_FIRST in html
    api = APIClient()
    api.force_login(admin_user)
    answer = api.post("/api/generation-jobs/", {"study": rated_study.slug, "arm": untrained.pk}, format="json")
    assert answer.status_code == 400
    assert "BehaviorSFT has no trained adapter" in answer.json()["detail"] and TRAIN_FIRST in answer.json()["detail"]
    assert not GenerationJob.objects.exists()


def test_an_arm_whose_adapter_is_being_trained_is_refused_naming_the_job(rated_study, untrained, admin_user):
    training = training_job_queue(study=rated_study, method=untrained.method, target_arm=untrained,
                                  hyperparameters={"steps": 1})
    api = APIClient()
    api.force_login(admin_user)
    answer = api.post("/api/generation-jobs/", {"study": rated_study.slug, "arm": untrained.pk}, format="json")
    assert answer.status_code == 409
    assert f"still being trained (training job #{training.pk}" in answer.json()["detail"]
    TrainingJob.objects.filter(pk=training.pk).update(status="failed")
    with pytest.raises(InvalidRequest, match="has no trained adapter"):  # failed: the adapter is still missing
        generation_job_queue(study=rated_study, arm=untrained)
    assert not GenerationJob.objects.exists()


def test_an_arm_whose_adapter_is_there_is_queued(rated_study, untrained, adapter_root):
    (adapter_root / "never-trained").mkdir()
    (adapter_root / "never-trained" / "adapter_config.json").write_text("{}")
    job = generation_job_queue(study=rated_study, arm=untrained, cases=list(rated_study.cases.filter(split="test")))
    assert job.arm == untrained and job.progress_total == 6
    # Arms without an adapter and without training (baseline, endpoints) never needed one.
    baseline = StudyArmFactory(study=rated_study, arm__name="Plain").arm
    assert generation_job_queue(study=rated_study, arm=baseline).arm == baseline


def test_the_generation_command_line_refuses_a_fine_tuned_arm_without_its_adapter(tmp_path, capsys):
    from modeling.generate import cli

    cases = tmp_path / "cases.jsonl"
    cases.write_text("")
    with pytest.raises(SystemExit) as stopped:
        cli.main(["--base", "demo", "--arm", "general_sft", "--data", str(cases), "--out", str(tmp_path / "r.jsonl")])
    assert stopped.value.code == 2
    assert "arm general_sft answers with its LoRA adapter: name it with --adapter" in capsys.readouterr().err
