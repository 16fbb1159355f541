"""Endpoint arms: an arm served by an OpenAI-compatible server, registered in the API,
its generation jobs sent to the endpoint queue and run chunk by chunk (in this process
here; a real worker in test_jobs_worker.py) against a chat completions server on
127.0.0.1."""

from __future__ import annotations

import json

import pytest
import redis

from annotations.models import AuditEvent, GenerationJob, JobStatus, ModelArm, Response, StudyArm
from annotations.selectors.rating import blind_text
from annotations.services import generation
from annotations.services.jobs import job_retry
from modeling.endpoint_policy import url_origin
from tests.annotations.worker_helpers import TEST_REDIS_URL, run_generation_chunks
from tests.chat_server import FakeChatModel
from tests.factories import CaseFactory, endpoint_arm_study

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_broker")]

ENDPOINT_ARM = {"name": "BehaviorSFT on vLLM", "method": "behavior_sft", "endpoint_url": "http://gpu-7:8000/v1",
                "served_model": "behavior-sft", "api_key_env": "LAB_VLLM_KEY", "max_concurrency": 4,
                "uses_behavior_tokens": True, "decoding_params": {"max_new_tokens": 64}}


@pytest.fixture
def server():
    with FakeChatModel() as chat:
        yield chat


@pytest.fixture
def endpoint_study(server, settings):
    settings.EVALPORTAL_ENDPOINT_MAX_RETRIES = 1
    settings.EVALPORTAL_ENDPOINT_TIMEOUT_S = 5
    return endpoint_arm_study(server.base_url, cases=5, method="behavior_sft", served_model="behavior-sft",
                              uses_behavior_tokens=True, max_concurrency=2)


def test_an_admin_registers_an_endpoint_arm_in_the_api(admin_client_, study, settings):
    study.status = study.Status.DRAFT  # arms join a study while it is a draft
    study.save()
    settings.EVALPORTAL_ENDPOINT_KEYS = {"LAB_VLLM_KEY": ("http://gpu-7:8000",)}
    answer = admin_client_.post("/api/arms/", {**ENDPOINT_ARM, "studies": [study.slug]}, content_type="application/json")
    assert answer.status_code == 201, answer.content
    body = answer.json()
    assert body["endpoint_url"] == "http://gpu-7:8000/v1" and body["served_model"] == "behavior-sft"
    assert body["studies"] == [study.slug] and body["max_concurrency"] == 4
    arm = ModelArm.objects.get(pk=body["id"])
    assert arm.is_endpoint and StudyArm.objects.filter(study=study, arm=arm).exists()
    assert AuditEvent.objects.filter(action="arm.register", object_id=str(arm.pk)).exists()
    assert "sk-" not in json.dumps(body)


@pytest.mark.parametrize("change, field", [
    ({"served_model": ""}, "served_model"),
    ({"adapter_path": "var/adapters/x"}, "adapter_path"),
    ({"endpoint_url": "not a url"}, "endpoint_url"),
    ({"api_key_env": "sk-live key"}, "api_key_env"),
    ({"max_concurrency": 0}, "max_concurrency"),
    ({"decoding_params": {"temperature": 9}}, "temperature"),
    ({"decoding_params": {"beams": 4}}, "beams"),
    ({"method": "magic"}, "method"),
])
def test_a_bad_endpoint_arm_is_refused_and_nothing_is_created(admin_client_, change, field):
    answer = admin_client_.post("/api/arms/", {**ENDPOINT_ARM, **change}, content_type="application/json")
    assert answer.status_code == 400 and field in answer.content.decode()
    assert not ModelArm.objects.exists() and not AuditEvent.objects.filter(action="arm.register").exists()


def test_a_local_arm_still_needs_a_base_model_within_the_roots(admin_client_):
    answer = admin_client_.post("/api/arms/", {"name": "Local", "method": "baseline", "base_model": "../../etc"},
                                content_type="application/json")
    assert answer.status_code == 400 and "base_model" in answer.content.decode()
    ok = admin_client_.post("/api/arms/", {"name": "Local", "method": "baseline", "base_model": "demo"},
                            content_type="application/json")
    assert ok.status_code == 201 and ok.json()["endpoint_url"] == ""


def test_researchers_read_arms_but_only_admins_register_them(researcher_client, clinician_client):
    assert researcher_client.get("/api/arms/").status_code == 200
    assert researcher_client.post("/api/arms/", ENDPOINT_ARM, content_type="application/json").status_code == 403
    assert clinician_client.post("/api/arms/", ENDPOINT_ARM, content_type="application/json").status_code == 403
    assert not ModelArm.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_endpoint_jobs_go_to_the_endpoint_queue_not_the_gpus(endpoint_study):
    study, arm = endpoint_study
    generation.generation_job_queue(study=study, arm=arm)
    broker = redis.Redis.from_url(TEST_REDIS_URL)
    assert broker.llen("endpoint") == 1 and broker.llen("gpu") == 0


def test_a_job_on_an_endpoint_arm_stores_blinded_responses_with_their_provenance(endpoint_study, server):
    study, arm = endpoint_study
    job = generation.generation_job_queue(study=study, arm=arm, seed=7)
    assert run_generation_chunks(job) == ["succeeded"]
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED and (job.progress_done, job.progress_total) == (5, 5)
    responses = list(Response.objects.filter(job=job))
    assert len(responses) == 5
    for response in responses:
        assert response.raw_text.startswith("<|") and "<|" not in response.text
        assert response.predicted_behavior in ("reactive", "proactive")
        assert "<|" not in blind_text(response.text)
        p = response.provenance
        assert p["endpoint"] == server.base_url and p["served_model"] == "behavior-sft"
        assert p["server_model"] == "/models/behavior-sft-merged" and p["seed"] == 7
        assert p["decoding"]["max_new_tokens"] == 160 and p["decoding"]["backend"] == "endpoint"
    assert all(r["skip_special_tokens"] is False and r["seed"] == 7 for r in server.requests)
    assert server.most_in_flight <= 2


def test_a_server_gone_mid_job_fails_the_job_cleanly_and_a_retry_finishes_it(endpoint_study, server, settings):
    study, arm = endpoint_study
    settings.JOB_CHUNK_CASES = 2
    job = generation.generation_job_queue(study=study, arm=arm)
    first, *rest = job.chunks.order_by("index")
    assert generation.generation_chunk_run(chunk_id=first.pk, worker="cpu@host") == "succeeded"
    server.down = True
    assert [generation.generation_chunk_run(chunk_id=c.pk, worker="cpu@host") for c in rest] == ["failed", "failed"]
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and "chunks failed" in job.error and "Connection" in job.error
    assert Response.objects.filter(job=job).count() == 2

    server.down = False
    job_retry(job=job, actor=None)
    job = GenerationJob.objects.get(pk=job.pk)
    assert run_generation_chunks(job) == ["skipped", "succeeded", "succeeded"]
    job.refresh_from_db()
    assert job.status == JobStatus.SUCCEEDED
    assert sorted(Response.objects.filter(job=job).values_list("case__external_id", flat=True)) == [
        f"srv-{n}" for n in range(5)]


def test_the_api_key_comes_from_the_variable_the_arm_names(endpoint_study, server, monkeypatch, settings):
    study, arm = endpoint_study
    settings.EVALPORTAL_ENDPOINT_KEYS = {"LAB_VLLM_KEY": (url_origin(server.base_url),)}
    arm.api_key_env = "LAB_VLLM_KEY"
    arm.save()
    monkeypatch.setenv("LAB_VLLM_KEY", "sk-from-the-worker")
    job = generation.generation_job_queue(study=study, arm=arm, cases=study.cases.all()[:1])
    assert run_generation_chunks(job) == ["succeeded"]
    assert server.headers[-1]["authorization"] == "Bearer sk-from-the-worker"
    assert "sk-from-the-worker" not in json.dumps(Response.objects.get(job=job).provenance)


def test_an_admin_registers_an_endpoint_arm_on_the_admin_page(admin_client_):
    page = admin_client_.get("/admin/annotations/modelarm/add/")
    assert page.status_code == 200 and "Served by an OpenAI-compatible endpoint" in page.content.decode()
    form = {"name": "SGLang arm", "method": "instructed", "base_model": "", "adapter_path": "", "checkpoint_hash": "",
            "endpoint_url": "http://sglang:30000/v1", "served_model": "qwen", "api_key_env": "",
            "max_concurrency": "16", "prompt_template": "", "decoding_params": "{}", "description": ""}
    answer = admin_client_.post("/admin/annotations/modelarm/add/", form)
    assert answer.status_code == 302, answer.content.decode()[:2000]
    arm = ModelArm.objects.get(name="SGLang arm")
    assert arm.is_endpoint and arm.max_concurrency == 16
    refused = admin_client_.post("/admin/annotations/modelarm/add/", {**form, "name": "No model", "served_model": ""})
    assert refused.status_code == 200 and "needs the name of the model" in refused.content.decode()
    assert not ModelArm.objects.filter(name="No model").exists()


def test_a_fewshot_endpoint_arm_sends_three_solved_training_cases_before_each_case(endpoint_study, server):
    study, arm = endpoint_study
    arm.method, arm.uses_behavior_tokens = ModelArm.Method.FEWSHOT, False
    arm.save()
    for n in range(4):
        CaseFactory(study=study, external_id=f"train-{n}", split="train")
    job = generation.generation_job_queue(study=study, arm=arm)
    assert run_generation_chunks(job) == ["succeeded"]
    for request in server.requests:
        roles = [m["role"] for m in request["messages"]]
        assert roles == ["system"] + ["user", "assistant"] * 3 + ["user"]
        assert "skip_special_tokens" not in request
