"""Each job kind's parameters are defined once (modeling.params): the jobs page and the
API offer the same ones with the same bounds and defaults, the services refuse what is
out of bounds, and the command lines and TrainConfig default from the same numbers."""

from __future__ import annotations

from dataclasses import fields

import pytest

from annotations.api.serializers.jobs import (
    QueueGenerationSerializer,
    QueueJudgeSerializer,
    QueueTrainingSerializer,
)
from annotations.errors import InvalidRequest
from annotations.forms import GenerationJobForm, JudgeJobForm, TrainingJobForm
from annotations.models import GenerationJob, JudgeJob, TrainingJob
from modeling.params import DecodingParams, GenerationParams, JudgeParams, TrainParams, param_specs

# The page's forms live under /studies/<slug>/: the study is the URL's, not a field.
KINDS = {
    "generation": (lambda study: GenerationJobForm(study=study), QueueGenerationSerializer, None),
    "training": (lambda study: TrainingJobForm(), QueueTrainingSerializer, "hyperparameters"),
    "judge": (lambda study: JudgeJobForm(study=study), QueueJudgeSerializer, "params"),
}


def _api_fields(serializer_class, nested: str | None) -> dict:
    """The API's fields, a nested parameters object's spread out (the page's are flat)."""
    found = dict(serializer_class().fields)
    found.pop("study")
    if nested is not None:
        found.update(found.pop(nested).fields)
    return found


@pytest.mark.django_db
@pytest.mark.parametrize("kind", KINDS)
def test_the_page_and_the_api_offer_the_same_options(kind, rated_study):
    make_form, serializer_class, nested = KINDS[kind]
    page, api = make_form(rated_study).fields, _api_fields(serializer_class, nested)
    assert sorted(page) == sorted(api)
    for name, field in api.items():
        for limit in ("min_value", "max_value"):
            assert getattr(page[name], limit, None) == getattr(field, limit, None), (kind, name, limit)


def test_every_parameter_of_a_kind_is_offered():
    offered = {"generation": _api_fields(QueueGenerationSerializer, None),
               "training": _api_fields(QueueTrainingSerializer, "hyperparameters"),
               "judge": _api_fields(QueueJudgeSerializer, "params")}
    for kind, params in (("generation", GenerationParams), ("training", TrainParams), ("judge", JudgeParams)):
        assert {f.name for f in fields(params)} <= set(offered[kind]), kind


def test_train_config_and_the_services_default_from_the_same_numbers():
    from modeling.train import TrainConfig

    config, params = TrainConfig(), TrainParams()
    assert (config.lr, config.lora_r, config.lora_dropout, config.batch_size, config.max_length, config.seed) == (
        params.learning_rate, params.lora_r, params.lora_dropout, params.batch_size, params.max_length, params.seed)
    assert {s.name for s in param_specs(DecodingParams)} < {s.name for s in param_specs(GenerationParams)}


@pytest.mark.django_db
@pytest.mark.parametrize(("queue", "message"), [
    ("generation", "max_new_tokens must be from 1 to 4096"),
    ("generation-unknown", "unknown parameter 'beam_width'"),
    ("training", "lora_r must be from 1 to 256"),
    ("training-type", "epochs must be a number"),
    ("judge", "n_samples must be from 1 to 50"),
    ("judge-choice", "logprobs must be one of auto, on, off"),
])
def test_services_refuse_parameters_out_of_bounds_and_create_nothing(rated_study, queue, message):
    from annotations.services.generation import generation_job_queue
    from annotations.services.judging import judge_job_queue
    from annotations.services.training import training_job_queue

    arm = rated_study.study_arms.first().arm
    calls = {
        "generation": lambda: generation_job_queue(study=rated_study, arm=arm, decoding_params={"max_new_tokens": 0}),
        "generation-unknown": lambda: generation_job_queue(study=rated_study, arm=arm,
                                                           decoding_params={"beam_width": 4}),
        "training": lambda: training_job_queue(study=rated_study, method="general_sft",
                                               hyperparameters={"lora_r": 1000}),
        "training-type": lambda: training_job_queue(study=rated_study, method="general_sft",
                                                    hyperparameters={"epochs": "many"}),
        "judge": lambda: judge_job_queue(study=rated_study, params={"n_samples": 51}),
        "judge-choice": lambda: judge_job_queue(study=rated_study, params={"logprobs": "maybe"}),
    }
    with pytest.raises(InvalidRequest, match=message):
        calls[queue]()
    assert not GenerationJob.objects.exists() and not TrainingJob.objects.exists() and not JudgeJob.objects.exists()


@pytest.mark.django_db
def test_a_job_takes_the_arms_decoding_then_its_own(rated_study):
    from annotations.services.generation import job_decoding

    arm = rated_study.study_arms.first().arm
    arm.decoding_params = {"max_new_tokens": 64, "temperature": 0.5}
    decoding = job_decoding(arm, {"temperature": 0.9}, seed=None)
    assert decoding == GenerationParams(max_new_tokens=64, temperature=0.9)


def test_a_judge_job_stored_with_logprobs_true_reads_as_required():
    from annotations.services.judging import judge_params

    assert judge_params(JudgeJob(params={"logprobs": True, "n_samples": 3})).logprobs_mode is True
    assert judge_params(JudgeJob(params={})) == JudgeParams()


def test_the_command_lines_default_from_the_same_dataclasses(capsys):
    from modeling.generate.cli import main as generate_main
    from modeling.params import param_spec
    from modeling.train.cli import main as train_main

    for main in (generate_main, train_main):
        with pytest.raises(SystemExit):
            main(["--help"])
    shown = " ".join(capsys.readouterr().out.split())
    assert f"Most tokens a response may have. Default: {DecodingParams.max_new_tokens}." in shown
    assert "Sampling temperature (when sampling). Default: 1." in shown and "Default: on." not in shown
    assert f"LoRA rank. Default: {TrainParams.lora_r}." in shown
    assert param_spec(DecodingParams, "do_sample").help_text.endswith("Default: off.")
