"""An endpoint judge job against servers that behave as real ones do (llama.cpp's server
answering one request at a time, a 400 for a prompt longer than the context): a failed
request is that prompt's error, the other answers are kept as they come, a retry asks
only what is missing; the job goes to the endpoint queue; its model is the worker's; it
covers chosen arms or listed responses; the page and the API count it right."""

from __future__ import annotations

import pytest
import redis

from annotations.errors import InvalidRequest
from annotations.models import GenerationJob, JobStatus
from annotations.models.judge import JudgeJob, JudgeScore
from annotations.services import judging
from annotations.services.jobs import job_retry
from tests.annotations.test_judge_jobs import _job, _run
from tests.annotations.test_judge_jobs import small_study as small_study_fixture
from tests.chat_server import FakeOpenAI
from tests.factories import ResponseFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_broker")]
small_study = small_study_fixture


@pytest.fixture
def endpoint(settings):
    with FakeOpenAI("logprobs") as server:
        settings.JUDGE_OPENAI_BASE_URL = server.base_url
        settings.JUDGE_OPENAI_API_KEY = ""
        settings.JUDGE_OPENAI_MODEL = ""
        yield server


def _queue(study, **kwargs):
    params = {"max_retries": 0, "concurrency": 1, **kwargs.pop("params", {})}
    return judging.judge_job_queue(study=study, kind="openai", model_ref=kwargs.pop("model_ref", "judge-model"),
                                   dimensions=kwargs.pop("dimensions", ["realism"]), params=params, **kwargs)


def test_a_slow_one_at_a_time_endpoint_keeps_what_it_answered_and_a_retry_asks_only_the_rest(
        small_study, endpoint, admin_user, client):
    """Four requests in flight to a server that answers one at a time: the last ones wait
    past the timeout. The chunk ends failed, naming them; the answers are stored; Retry
    asks only the prompts that got none."""
    endpoint.serial, endpoint.answer_s = True, 0.6
    job = _queue(small_study, params={"concurrency": 4, "timeout_s": 1.5})
    assert _run(job) == ["failed"]
    failed = _job(job.pk)
    kept = JudgeScore.objects.filter(job=job)
    assert failed.status == JobStatus.FAILED and 0 < kept.count() < 4
    assert f"{4 - kept.count()} of 4 prompts got no answer (response " in failed.error
    assert "the request timed out" in failed.error and "Retry asks them again" in failed.error
    assert failed.progress_done == kept.count() and failed.tokens_per_s > 0
    assert all(s.method == "logprobs" and s.score is not None for s in kept)
    asked_before = len(endpoint.requests)

    endpoint.serial, endpoint.answer_s = False, 0.0
    job_retry(job=failed, actor=admin_user)
    assert _run(job) == ["succeeded"]
    done = _job(job.pk)
    assert JudgeScore.objects.filter(job=job).count() == 4 and (done.progress_done, done.progress_total) == (4, 4)
    assert len(endpoint.requests) - asked_before == 4 - kept.count()  # only the missing ones asked again
    assert done.error == "" and done.tokens_per_s > 0


def test_a_prompt_longer_than_the_context_is_that_responses_error_and_the_rest_keep_logprobs(
        small_study, endpoint, admin_client_):
    arm = small_study.study_arms.get(position=0).arm
    long = ResponseFactory(case=small_study.cases.get(external_id="jc-1"), arm=arm, text="Looks stable. " * 400,
                           job=GenerationJob.objects.create(study=small_study, arm=arm))  # the newest of its arm
    endpoint.context_tokens, endpoint.context_wording = 700, "llama.cpp"
    job = _queue(small_study, dimensions=["realism", "safety"])
    assert _run(job) == ["succeeded"]
    job = _job(job.pk)
    errors = JudgeScore.objects.filter(job=job, method="error")
    assert sorted(errors.values_list("response_id", "dimension")) == [(long.pk, "realism"), (long.pk, "safety")]
    assert all(e.score is None and "the prompt is longer than the model's context (HTTP 400" in e.raw_output["error"]
               for e in errors)
    others = JudgeScore.objects.filter(job=job).exclude(method="error")
    assert others.count() == 6 and {s.method for s in others} == {"logprobs"}
    assert all(b.get("logprobs") for b in endpoint.requests)  # never switched to sampling
    assert (job.progress_done, job.progress_total) == (8, 8)
    page = admin_client_.get(f"/studies/{small_study.slug}/judge/?job={job.pk}").content.decode()
    assert "4 responses × 2 dimensions" in page
    assert "2 prompts failed for good and have no score" in page and "longer than the model&#x27;s context" in page
    # a retry of the job (nothing missing) asks nothing again
    assert _run(job) == ["skipped"]


# The job is sent to the broker when its transaction commits: these tests commit.
@pytest.mark.django_db(transaction=True)
def test_endpoint_judge_jobs_go_to_the_endpoint_queue_and_local_ones_to_the_gpus(small_study, endpoint):
    from tests.annotations.worker_helpers import TEST_REDIS_URL

    broker = redis.Redis.from_url(TEST_REDIS_URL)
    _queue(small_study)
    assert broker.llen("endpoint") == 1 and broker.llen("gpu") == 0
    judging.judge_job_queue(study=small_study, kind="local", dimensions=["realism"])
    assert broker.llen("endpoint") == 1 and broker.llen("gpu") == 1


def test_the_endpoint_model_is_the_workers_when_the_job_names_none(small_study, endpoint, settings):
    job = _queue(small_study, model_ref="")  # the web process has no JUDGE_OPENAI_MODEL
    assert job.model_ref == "" and job.model_shown == "JUDGE_OPENAI_MODEL"
    assert _run(job) == ["failed"]
    assert "no JUDGE_OPENAI_MODEL" in _job(job.pk).error and not endpoint.requests

    settings.JUDGE_OPENAI_MODEL = "worker-model"  # the worker's environment
    job = _queue(small_study, model_ref="")
    assert _run(job) == ["succeeded"]
    assert {b["model"] for b in endpoint.requests} == {"worker-model"}
    assert _job(job.pk).judge_provenance["model"] == "worker-model" and _job(job.pk).model_shown == "worker-model"


def test_a_job_over_chosen_arms_or_listed_responses(small_study, endpoint):
    baseline, sft = (sa.arm for sa in small_study.study_arms.order_by("position"))
    job = _queue(small_study, arms=[sft])
    assert job.selection == {"arm_ids": [sft.pk]} and job.response_count == 2 and job.progress_total == 2
    assert _run(job) == ["succeeded"]
    assert {s.response.arm_id for s in JudgeScore.objects.filter(job=job)} == {sft.pk}

    newest = judging.selected_responses(small_study, {"arm_ids": [baseline.pk, sft.pk]}).order_by("pk")
    one = newest.filter(arm=baseline).first()
    job = _queue(small_study, responses=[one.pk])
    assert job.selection["response_ids"] == [one.pk] and job.response_count == 1
    assert _run(job) == ["succeeded"]
    assert list(JudgeScore.objects.filter(job=job).values_list("response_id", flat=True)) == [one.pk]

    with pytest.raises(InvalidRequest, match="Responses of arms not chosen"):
        _queue(small_study, arms=[sft], responses=[one.pk])
    with pytest.raises(InvalidRequest, match="not in study"):
        _queue(small_study, arms=[ResponseFactory().arm])
    with pytest.raises(InvalidRequest, match="another study or do not exist"):
        _queue(small_study, responses=[ResponseFactory().pk])
    assert JudgeJob.objects.count() == 2


def test_the_page_and_the_api_queue_over_chosen_arms_and_responses_and_show_counts_and_tokens(
        small_study, endpoint, admin_client_, admin_user):
    from rest_framework.test import APIClient

    baseline, sft = (sa.arm for sa in small_study.study_arms.order_by("position"))
    answer = admin_client_.post(f"/studies/{small_study.slug}/judge/queue/",
                                {"kind": "openai", "model_ref": "judge-model", "dimensions": ["realism", "safety"],
                                 "arms": [baseline.pk], "logprobs": "auto", "n_samples": 3, "max_retries": 0},
                                follow=True).content.decode()
    job = JudgeJob.objects.get()
    assert f"Queued judge job #{job.pk} (4 prompts: 2 responses × 2 dimensions)." in answer
    assert job.selection == {"arm_ids": [baseline.pk]}

    api = APIClient()
    api.force_login(admin_user)
    listed = list(judging.selected_responses(small_study, {"arm_ids": [sft.pk]}).values_list("pk", flat=True))
    posted = api.post("/api/judge-jobs/", {"study": small_study.slug, "kind": "openai", "model_ref": "judge-model",
                                           "dimensions": ["realism"], "arms": [sft.pk], "responses": listed[:1],
                                           "params": {"max_retries": 0, "concurrency": 1}}, format="json")
    assert posted.status_code == 201, posted.content
    body = posted.json()
    assert body["selection"] == {"arm_ids": [sft.pk], "response_ids": listed[:1]} and body["response_count"] == 1
    refused = api.post("/api/judge-jobs/", {"study": small_study.slug, "kind": "openai", "model_ref": "judge-model",
                                            "responses": ["12", 1.5]}, format="json")
    assert refused.status_code == 400 and "responses" in refused.json()

    api_job = JudgeJob.objects.get(pk=body["id"])
    assert _run(api_job) == ["succeeded"]
    read = api.get(f"/api/judge-jobs/{api_job.pk}/").json()
    assert read["tokens_per_s"] > 0 and read["progress_done"] == 1
