"""Endpoints get no secret that is not theirs: an arm may name only a variable the
deployment lists in EVALPORTAL_ENDPOINT_KEYS, and its key goes only to the servers listed
for it; nothing falls back to the worker's OPENAI_API_KEY; the judge's key goes only to
the judge's server. Endpoints on internal addresses are refused unless the deployment
allows them, when named and again by the worker; and a server's error reaches the job
without the body it answered with. Against chat servers on 127.0.0.1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from annotations.errors import InvalidRequest
from annotations.models import AuditEvent, GenerationJob, JobStatus, ModelArm, Response
from annotations.models.judge import JudgeJob
from annotations.services import generation, judging
from annotations.services.arms import arm_register
from modeling.endpoint_policy import url_origin
from tests.annotations.worker_helpers import run_generation_chunks
from tests.chat_server import FakeChatModel, FakeOpenAI
from tests.factories import CaseFactory, ResponseFactory, StudyArmFactory, StudyFactory, endpoint_arm_study

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_broker")]

ROOT = Path(__file__).resolve().parents[2]
ARM = {"name": "Served", "method": "baseline", "endpoint_url": "http://gpu-7:8000/v1", "served_model": "m"}
SECRET = "secret-value-of-the-worker"


@pytest.fixture
def server():
    with FakeChatModel() as chat:
        yield chat


@pytest.fixture
def served(server, settings):
    """A study with an endpoint arm on ``server`` (registered while internal addresses
    are allowed, as the test settings do)."""
    settings.EVALPORTAL_ENDPOINT_MAX_RETRIES = 0
    settings.EVALPORTAL_ENDPOINT_TIMEOUT_S = 5
    return endpoint_arm_study(server.base_url, cases=1, case_prefix="c", max_concurrency=1)


def _generate(study, arm) -> GenerationJob:
    job = generation.generation_job_queue(study=study, arm=arm)
    run_generation_chunks(job)
    return GenerationJob.objects.get(pk=job.pk)


def _register_by_admin_page(client, **fields) -> tuple[bool, str]:
    form = {"name": "", "method": "baseline", "base_model": "", "adapter_path": "", "checkpoint_hash": "",
            "endpoint_url": "", "served_model": "", "api_key_env": "", "max_concurrency": "8", "prompt_template": "",
            "decoding_params": "{}", "description": "", **fields}
    answer = client.post("/admin/annotations/modelarm/add/", form)
    return answer.status_code == 302, answer.content.decode()


def _register_by_api(client, **fields) -> tuple[bool, str]:
    answer = client.post("/api/arms/", fields, content_type="application/json")
    assert answer.status_code in (201, 400), answer.content
    return answer.status_code == 201, answer.content.decode()


def _register_by_service(_client, **fields) -> tuple[bool, str]:
    try:
        arm_register(actor=None, **fields)
    except InvalidRequest as exc:
        return False, str(exc)
    return True, ""


REGISTRATIONS = [_register_by_api, _register_by_admin_page, _register_by_service]


# -- which variables an arm may name, and where their keys may go ---------------------------------

@pytest.mark.parametrize("register", REGISTRATIONS)
@pytest.mark.parametrize("variable", ["DATABASE_URL", "DJANGO_SECRET_KEY", "OPENAI_API_KEY", "REDIS_URL"])
def test_an_arm_naming_a_variable_off_the_allow_list_is_refused_everywhere(admin_client_, settings, register,
                                                                            variable):
    settings.EVALPORTAL_ENDPOINT_KEYS = {"LAB_VLLM_KEY": ("http://gpu-7:8000",)}
    ok, page = register(admin_client_, **ARM, api_key_env=variable)
    assert not ok and "EVALPORTAL_ENDPOINT_KEYS" in page and variable in page
    assert not ModelArm.objects.exists() and not AuditEvent.objects.filter(action="arm.register").exists()


@pytest.mark.parametrize("register", REGISTRATIONS)
def test_a_listed_variable_is_refused_for_a_server_it_does_not_belong_to(admin_client_, settings, register):
    settings.EVALPORTAL_ENDPOINT_KEYS = {"LAB_VLLM_KEY": ("http://gpu-7:8000",)}
    ok, page = register(admin_client_, **{**ARM, "endpoint_url": "http://gpu-7:8001/v1"}, api_key_env="LAB_VLLM_KEY")
    assert not ok and "may only be sent to http://gpu-7:8000" in page
    assert not ModelArm.objects.exists()


@pytest.mark.parametrize("url", ["http://gpu-7:8000/v1", "http://GPU-7:8000/other/v1", "http://gpu-7:8000"])
def test_a_listed_variable_is_accepted_for_its_own_server_whatever_the_path(admin_client_, settings, url):
    settings.EVALPORTAL_ENDPOINT_KEYS = {"LAB_VLLM_KEY": ("http://gpu-7:8000",)}
    ok, page = _register_by_api(admin_client_, **{**ARM, "endpoint_url": url}, api_key_env="LAB_VLLM_KEY")
    assert ok, page
    assert SECRET not in page


@pytest.mark.parametrize("register", REGISTRATIONS)
def test_a_url_carrying_credentials_is_refused(admin_client_, register):
    ok, page = register(admin_client_, **{**ARM, "endpoint_url": "http://user:sk-live@gpu-7:8000/v1"})
    assert not ok and "no user or password" in page and not ModelArm.objects.exists()


def test_the_worker_sends_a_listed_key_to_its_own_server(served, server, settings, monkeypatch):
    study, arm = served
    settings.EVALPORTAL_ENDPOINT_KEYS = {"LAB_VLLM_KEY": (url_origin(server.base_url),)}
    monkeypatch.setenv("LAB_VLLM_KEY", SECRET)
    arm.api_key_env = "LAB_VLLM_KEY"
    arm.full_clean()
    arm.save()
    job = _generate(study, arm)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert server.headers[-1]["authorization"] == f"Bearer {SECRET}"
    assert SECRET not in json.dumps(Response.objects.get(job=job).provenance)


def test_an_arm_that_names_no_variable_gets_no_key_from_the_worker_environment(served, server, monkeypatch):
    study, arm = served
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    job = _generate(study, arm)
    assert job.status == JobStatus.SUCCEEDED, job.error
    assert server.headers and all(SECRET not in json.dumps(h) for h in server.headers)


@pytest.mark.parametrize("allowed", [{}, {"LAB_VLLM_KEY": ("http://gpu-7:8000",)}])
def test_the_worker_refuses_a_key_the_deployment_no_longer_lets_go_there(served, server, settings, monkeypatch,
                                                                        allowed):
    """An arm registered under an allow-list that changed since (or written around the
    checks): its job fails saying why, and the server is never asked."""
    study, arm = served
    ModelArm.objects.filter(pk=arm.pk).update(api_key_env="LAB_VLLM_KEY")
    arm.refresh_from_db()
    settings.EVALPORTAL_ENDPOINT_KEYS = allowed
    monkeypatch.setenv("LAB_VLLM_KEY", SECRET)
    job = _generate(study, arm)
    assert job.status == JobStatus.FAILED and "LAB_VLLM_KEY" in job.error and "EVALPORTAL_ENDPOINT_KEYS" in job.error
    assert server.requests == []


def test_a_listed_variable_unset_on_the_worker_fails_the_job_clearly(served, server, settings, monkeypatch):
    study, arm = served
    settings.EVALPORTAL_ENDPOINT_KEYS = {"LAB_VLLM_KEY": (url_origin(server.base_url),)}
    monkeypatch.delenv("LAB_VLLM_KEY", raising=False)
    ModelArm.objects.filter(pk=arm.pk).update(api_key_env="LAB_VLLM_KEY")
    job = _generate(study, ModelArm.objects.get(pk=arm.pk))
    assert job.status == JobStatus.FAILED and "LAB_VLLM_KEY is not set on this worker" in job.error
    assert server.requests == []


# -- the judge's key ---------------------------------------------------------------------------------

@pytest.fixture
def judged(db):
    study = StudyFactory(slug="judged")
    arm = StudyArmFactory(study=study, arm__name="Baseline").arm
    ResponseFactory(case=CaseFactory(study=study, external_id="j-0"), arm=arm, text="Agree with the plan.")
    return study


def _judge(study, **kwargs) -> JudgeJob:
    job = judging.judge_job_queue(study=study, kind="openai", model_ref="judge-model", dimensions=["realism"],
                                  params={"max_retries": 0, "concurrency": 1}, **kwargs)
    for chunk in job.chunks.order_by("index"):
        judging.judge_chunk_run(chunk_id=chunk.pk, worker="test@host")
    return JudgeJob.objects.get(pk=job.pk)


def test_the_judge_key_goes_to_the_judge_server_and_no_other(judged, settings):
    with FakeOpenAI() as judge_server, FakeOpenAI() as other:
        settings.JUDGE_OPENAI_BASE_URL = judge_server.base_url
        settings.JUDGE_OPENAI_API_KEY = SECRET
        assert _judge(judged).status == JobStatus.SUCCEEDED
        assert judge_server.headers and all(h["authorization"] == f"Bearer {SECRET}" for h in judge_server.headers)
        job = _judge(judged, base_url=other.base_url)
        assert job.status == JobStatus.SUCCEEDED, job.error
        assert other.headers and all(SECRET not in json.dumps(h) for h in other.headers)
        settings.EVALPORTAL_ENDPOINT_KEYS = {"JUDGE_OPENAI_API_KEY": (url_origin(other.base_url),)}
        before = len(other.headers)
        assert _judge(judged, base_url=other.base_url).status == JobStatus.SUCCEEDED
        assert other.headers[before:] and all(h["authorization"] == f"Bearer {SECRET}"
                                              for h in other.headers[before:])


def test_a_judge_without_a_key_gets_none_from_the_worker_environment(judged, settings, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", SECRET)
    with FakeOpenAI() as judge_server:
        settings.JUDGE_OPENAI_BASE_URL = judge_server.base_url
        settings.JUDGE_OPENAI_API_KEY = ""
        assert _judge(judged).status == JobStatus.SUCCEEDED
        assert judge_server.headers and all(SECRET not in json.dumps(h) for h in judge_server.headers)


# -- internal addresses ----------------------------------------------------------------------------

INTERNAL_URLS = ["http://127.0.0.1:6379/v1", "http://localhost:5432", "http://10.1.2.3:8000/v1",
                 "http://192.168.0.10/v1", "http://172.16.5.4:8000", "http://169.254.169.254/latest",
                 "http://[::1]:8000/v1", "http://[::ffff:127.0.0.1]:6379", "http://0.0.0.0:8000",
                 "http://100.64.0.1:8000", "http://2130706433:6379"]


@pytest.mark.parametrize("register", REGISTRATIONS)
@pytest.mark.parametrize("url", INTERNAL_URLS)
def test_an_arm_on_an_internal_address_is_refused_unless_the_deployment_allows_it(admin_client_, settings, register,
                                                                                  url):
    settings.EVALPORTAL_ENDPOINT_ALLOW_PRIVATE = ()
    ok, page = register(admin_client_, **{**ARM, "endpoint_url": url})
    assert not ok and "internal address" in page and "EVALPORTAL_ENDPOINT_ALLOW_PRIVATE" in page
    assert not ModelArm.objects.exists()


def test_the_allowed_networks_are_allowed_and_no_others(admin_client_, settings):
    settings.EVALPORTAL_ENDPOINT_ALLOW_PRIVATE = "10.0.5.0/24"
    ok, page = _register_by_api(admin_client_, **{**ARM, "endpoint_url": "http://10.0.5.7:8000/v1"})
    assert ok, page
    ok, page = _register_by_api(admin_client_, **{**ARM, "name": "Other", "endpoint_url": "http://10.0.6.7:8000/v1"})
    assert not ok and "internal address" in page


@pytest.mark.parametrize("url", ["http://127.0.0.1:6379/v1", "http://localhost:5432/v1", "http://[::1]:8000/v1"])
def test_a_judge_job_on_an_internal_address_is_refused_unless_the_deployment_allows_it(judged, settings,
                                                                                       admin_client_, url):
    settings.EVALPORTAL_ENDPOINT_ALLOW_PRIVATE = ()
    answer = admin_client_.post("/api/judge-jobs/", {"study": judged.slug, "kind": "openai", "model_ref": "judge-model",
                                                     "base_url": url, "dimensions": ["realism"]},
                                content_type="application/json")
    assert answer.status_code == 400 and "internal address" in answer.json()["detail"]
    settings.JUDGE_OPENAI_BASE_URL = url
    with pytest.raises(InvalidRequest, match=r"JUDGE_OPENAI_BASE_URL.*internal address"):
        judging.judge_job_queue(study=judged, kind="openai", model_ref="judge-model", dimensions=["realism"])
    assert not JudgeJob.objects.exists()


def test_the_worker_checks_the_address_again_before_it_connects(served, server, settings):
    """An arm registered while internal addresses were allowed: once they are not, its
    job fails on the worker, saying why, and nothing reaches the server."""
    study, arm = served
    settings.EVALPORTAL_ENDPOINT_ALLOW_PRIVATE = ()
    job = _generate(study, arm)
    assert job.status == JobStatus.FAILED and "internal address" in job.error
    assert server.requests == []


def test_the_judge_worker_checks_the_address_again_before_it_connects(judged, settings):
    with FakeOpenAI() as judge_server:
        settings.JUDGE_OPENAI_BASE_URL = judge_server.base_url
        job = judging.judge_job_queue(study=judged, kind="openai", model_ref="judge-model", dimensions=["realism"])
        settings.EVALPORTAL_ENDPOINT_ALLOW_PRIVATE = ()
        for chunk in job.chunks.all():
            judging.judge_chunk_run(chunk_id=chunk.pk, worker="test@host")
        job = JudgeJob.objects.get(pk=job.pk)
        assert job.status == JobStatus.FAILED and "internal address" in job.error
        assert judge_server.requests == []


# -- what a failing server's answer leaves in the job ---------------------------------------------------

BODY = "ERR wrong password for redis; AUTH default hunter2"


def test_a_server_error_reaches_the_job_without_its_body(served, server):
    study, arm = served
    server.answer = lambda body: (500, {"error": {"message": BODY, "type": "server_error"}})
    job = _generate(study, arm)
    assert job.status == JobStatus.FAILED and "answered HTTP 500" in job.error
    assert "hunter2" not in job.error and "hunter2" not in job.traceback
    chunk = job.chunks.get()
    assert "hunter2" not in chunk.error


def test_a_judge_server_error_reaches_the_job_without_its_body(judged, settings):
    with FakeOpenAI() as judge_server:
        settings.JUDGE_OPENAI_BASE_URL = judge_server.base_url
        judge_server.answer = lambda body: (503, {"error": {"message": BODY, "type": "server_error"}})
        job = _judge(judged)
        assert job.status == JobStatus.FAILED and "answered HTTP 503" in job.error
        assert "hunter2" not in job.error and "hunter2" not in job.traceback


def test_a_server_that_cannot_be_reached_is_named_without_more(served, server):
    study, arm = served
    server.down = True
    job = _generate(study, arm)
    assert job.status == JobStatus.FAILED and f"{url_origin(server.base_url)}: Connection error" in job.error


# -- the settings ------------------------------------------------------------------------------------

def _settings_of(module: str, expression: str, **env) -> subprocess.CompletedProcess:
    """``expression`` under the settings ``module``, in a process whose environment has
    only ``env`` of the portal's variables."""
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("DJANGO_", "EVALPORTAL_")) and k not in ("DATABASE_URL", "REDIS_URL")}
    code = f"import django; django.setup(); from django.conf import settings; print({expression})"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={**clean, "DJANGO_SETTINGS_MODULE": module, "DJANGO_SECRET_KEY": "x", **env})


def test_production_allows_no_internal_address_and_development_all_unless_told():
    shown = "settings.EVALPORTAL_ENDPOINT_ALLOW_PRIVATE"
    assert _settings_of("evalportal.settings.production", shown).stdout.strip() == "()"
    assert "0.0.0.0/0" in _settings_of("evalportal.settings.local", shown).stdout
    told = _settings_of("evalportal.settings.local", shown, EVALPORTAL_ENDPOINT_ALLOW_PRIVATE="10.0.5.0/24")
    assert "10.0.5.0/24" in told.stdout and "0.0.0.0/0" not in told.stdout, told.stderr


def test_the_key_allow_list_is_read_from_the_environment():
    result = _settings_of("evalportal.settings.production", "dict(settings.EVALPORTAL_ENDPOINT_KEYS)",
                          EVALPORTAL_ENDPOINT_KEYS='{"LAB_VLLM_KEY": "http://gpu-7:8000/v1"}')
    assert result.stdout.strip() == "{'LAB_VLLM_KEY': ('http://gpu-7:8000',)}", result.stderr


@pytest.mark.parametrize("env, message", [
    ({"EVALPORTAL_ENDPOINT_KEYS": '{"LAB_VLLM_KEY": "gpu-7:8000"}'}, "EVALPORTAL_ENDPOINT_KEYS: LAB_VLLM_KEY"),
    ({"EVALPORTAL_ENDPOINT_ALLOW_PRIVATE": "sometimes"}, "EVALPORTAL_ENDPOINT_ALLOW_PRIVATE: not 1, 0"),
    ({"EVALPORTAL_ENDPOINT_API_KEYS": '{"http://gpu-7:8000/v1": "sk-x"}'}, "no longer read"),
])
def test_a_setting_that_cannot_be_honoured_stops_the_start_saying_why(env, message):
    result = _settings_of("evalportal.settings.production", "1", **env)
    assert result.returncode != 0 and "ImproperlyConfigured" in result.stderr and message in result.stderr
