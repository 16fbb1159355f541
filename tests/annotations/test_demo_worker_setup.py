"""A worker set up as the README says (Scale-out: every demo arm ready wherever a worker
runs): a bare `load_demo` database, whose fine-tuned arms have no adapter, a real Celery
worker, `manage.py train_demo_adapters` (one optimizer step each here); then all five
demo arms generate, each writing its responses with why each ended."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from annotations.errors import InvalidRequest
from annotations.models import GenerationJob, JobStatus, ModelArm, Response, Study, TrainingJob
from annotations.services.demo import DEMO_ARMS, demo_load
from annotations.services.generation import generation_job_queue
from tests.annotations.worker_helpers import wait_until

pytestmark = [pytest.mark.worker, pytest.mark.modeling, pytest.mark.slow,
              pytest.mark.django_db(transaction=True)]

NEW_TOKENS = 4


@pytest.fixture
def worker(workers):
    return workers()


@pytest.fixture
def bare_demo():
    """The demo study as `load_demo` leaves a fresh clone: its fine-tuned arms name
    adapters that are not there (the ones trained here are removed afterwards)."""
    demo_load()
    adapters = Path(settings.EVALPORTAL_ADAPTER_DIR)
    for arm in ModelArm.objects.filter(method__in=["general_sft", "behavior_sft"]):
        arm.adapter_path = str(adapters / f"not-trained-{arm.method}")
        arm.save()
    yield Study.objects.get(slug="demo")
    for path in TrainingJob.objects.exclude(adapter_path="").values_list("adapter_path", flat=True):
        shutil.rmtree(path, ignore_errors=True)


def _settled(model, pks) -> bool:
    return all(s in (JobStatus.SUCCEEDED, JobStatus.FAILED)
               for s in model.objects.filter(pk__in=pks).values_list("status", flat=True))


def test_train_demo_adapters_then_every_demo_arm_generates(bare_demo, worker):
    arms = {name: ModelArm.objects.get(name=name) for name, *_ in DEMO_ARMS}
    cases = list(bare_demo.cases.filter(split="test").order_by("external_id")[:2])
    with pytest.raises(InvalidRequest, match="run `manage.py train_demo_adapters`"):
        generation_job_queue(study=bare_demo, arm=arms["BehaviorSFT"], cases=cases)

    out = io.StringIO()
    call_command("train_demo_adapters", "--steps", "1", stdout=out)
    trainings = list(TrainingJob.objects.order_by("pk"))
    assert sorted(j.target_arm.name for j in trainings) == ["BehaviorSFT", "GeneralSFT"]
    assert all(j.hyperparameters["steps"] == 1 for j in trainings)
    assert out.getvalue().count("queued on the gpu queue for a worker to train") == 2
    wait_until(lambda: _settled(TrainingJob, [j.pk for j in trainings]), 600, "the trainings", interval=1)
    for job in TrainingJob.objects.filter(pk__in=[j.pk for j in trainings]):
        assert job.status == JobStatus.SUCCEEDED, job.error + worker.log()

    jobs = [generation_job_queue(study=bare_demo, arm=ModelArm.objects.get(pk=arm.pk), cases=cases,
                                 decoding_params={"max_new_tokens": NEW_TOKENS}) for arm in arms.values()]
    wait_until(lambda: _settled(GenerationJob, [j.pk for j in jobs]), 600, "the generation jobs", interval=1)
    for job in GenerationJob.objects.filter(pk__in=[j.pk for j in jobs]).select_related("arm"):
        assert job.status == JobStatus.SUCCEEDED, f"{job.arm.name}: {job.error}\n{worker.log()}"
        written = Response.objects.filter(job=job)
        assert sorted(r.case_id for r in written) == sorted(c.pk for c in cases), job.arm.name
        for response in written:
            assert response.finish_reason in ("stop", "length")
            assert (response.finish_reason == "length") == (response.completion_tokens == NEW_TOKENS)
    trained = {arm.name: arm.adapter_path for arm in ModelArm.objects.filter(method__in=["general_sft", "behavior_sft"])}
    for name, path in trained.items():  # each fine-tuned arm answered with the adapter its training wrote
        adapter_hash = Response.objects.filter(arm__name=name, job__in=jobs).values_list(
            "provenance__adapter_hash", flat=True).first()
        assert "not-trained" not in path and adapter_hash, name
