"""Judge jobs through the generation jobs' machinery: queued on the broker, run by the
task (in-process with ``.apply()`` here; a real worker in test_judge_worker.py),
idempotent per (job, response, dimension), cancellable, retried, analysed."""

from __future__ import annotations

import json

import pytest

from annotations.errors import InvalidRequest, JobStateError, QueueUnavailable
from annotations.models import AuditEvent, GenerationJob, JobStatus, Response
from annotations.models.judge import JudgeComparison, JudgeJob, JudgeScore
from annotations.services import judging
from annotations.services.jobs import job_cancel, job_retry
from tests.chat_server import FakeOpenAI
from tests.factories import CaseFactory, ResponseFactory, StudyArmFactory, StudyFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_broker")]


@pytest.fixture
def small_study(db):
    """Two test cases, two arms, one short response each (plus an older response and a
    training case that a judge job leaves out)."""
    study = StudyFactory(slug="judged")
    arms = [StudyArmFactory(study=study, arm__name=name, position=i).arm for i, name in enumerate(["Baseline",
                                                                                                   "BehaviorSFT"])]
    texts = {"Baseline": "Agree with the plan.", "BehaviorSFT": "Platelets halved on heparin: screen for HIT first."}
    earlier = {arm.pk: GenerationJob.objects.create(study=study, arm=arm) for arm in arms}
    for n in range(2):
        case = CaseFactory(study=study, external_id=f"jc-{n}")
        for arm in arms:
            if n == 0:
                ResponseFactory(case=case, arm=arm, job=earlier[arm.pk], text="An older draft.")
            ResponseFactory(case=case, arm=arm, text=texts[arm.name])
    CaseFactory(study=study, external_id="jc-train", split="train")
    return study


def _job(pk) -> JudgeJob:
    return JudgeJob.objects.get(pk=pk)


def _run(job) -> list[str]:
    """What the workers do with a job's messages: run each of its chunks (here in order,
    in this process)."""
    return [judging.judge_chunk_run(chunk_id=c.pk, worker="test@host") for c in job.chunks.order_by("index")]


def _responses(job):
    return judging.selected_responses(job.study, job.selection)


# The job is sent to the broker when its transaction commits: this test commits.
@pytest.mark.django_db(transaction=True)
def test_queue_picks_the_newest_response_per_case_and_arm(small_study, admin_user):
    job = judging.judge_job_queue(study=small_study, dimensions=["realism", "specificity"], pairwise=True,
                                  actor=admin_user)
    assert job.status == JobStatus.QUEUED and job.celery_task_id and job.kind == "local" and job.model_ref == "demo"
    chosen = list(_responses(job).order_by("pk"))
    assert len(chosen) == 4 and all(r.text != "An older draft." for r in chosen)
    assert [d["key"] for d in job.dimensions] == ["realism", "specificity"]
    assert job.dimensions[1]["out_max"] == 1.0 and job.dimensions[1]["criteria"]
    assert job.progress_total == 4 * 2 + 2 * 2  # scores + both orders of one pair per case
    assert job.params["pairwise_dimensions"] == ["overall"]
    assert AuditEvent.objects.filter(action="job.judge.queue", object_id=str(job.pk)).exists()


@pytest.mark.parametrize("kwargs, message", [
    ({"kind": "magic"}, "Unknown judge kind"),
    ({"dimensions": ["charm"]}, "unknown judge dimension"),
    ({"kind": "openai", "base_url": "ftp://x/v1"}, "Base URL"),
    ({"kind": "local", "base_url": "http://x/v1"}, "only applies to an OpenAI-compatible judge"),
])
def test_queue_refuses_bad_requests(small_study, kwargs, message):
    with pytest.raises(InvalidRequest, match=message):
        judging.judge_job_queue(study=small_study, **kwargs)
    assert not JudgeJob.objects.exists()


def test_queue_refuses_responses_of_another_study(small_study):
    other = ResponseFactory()
    with pytest.raises(InvalidRequest, match="another study"):
        judging.judge_job_queue(study=small_study, responses=[other])


# The job is sent to the broker when its transaction commits: this test commits.
@pytest.mark.django_db(transaction=True)
def test_unreachable_broker_leaves_no_judge_job(small_study):
    from evalportal.celery import app

    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        with pytest.raises(QueueUnavailable, match="Nothing was queued"):
            judging.judge_job_queue(study=small_study)
    finally:
        app.conf.broker_url = original
    assert not JudgeJob.objects.exists()


@pytest.mark.modeling
@pytest.mark.slow
def test_local_judge_job_with_the_demo_model_writes_one_score_per_response_and_dimension(small_study, admin_user):
    one_case = [pk for pk in judging.judge_responses_for(small_study)
                if Response.objects.get(pk=pk).case.external_id == "jc-0"]
    job = judging.judge_job_queue(study=small_study, dimensions=["realism", "implicitness"], pairwise=True,
                                  responses=one_case, actor=admin_user)
    assert _run(job) == ["succeeded"]
    job = _job(job.pk)
    assert job.status == JobStatus.SUCCEEDED, job.traceback
    assert (job.progress_done, job.progress_total) == (6, 6) and job.attempts == 1
    assert job.device_name.startswith("CPU") and job.worker_host
    scores = list(JudgeScore.objects.filter(job=job))
    assert sorted((s.response_id, s.dimension) for s in scores) == sorted(
        (r.pk, d) for r in _responses(job) for d in ("realism", "implicitness"))
    for s in scores:
        assert s.method == "logits" and 0.0 < s.mass <= 1.0
        lo, hi = (1, 5) if s.dimension == "realism" else (0, 1)
        assert lo <= s.score <= hi
        assert s.prompt["messages"][-1]["content"].endswith(":") and s.prompt["prefill"] == "Score:"
        assert Response.objects.get(pk=s.response_id).text in s.prompt["messages"][-1]["content"]
        assert s.raw_output["top_tokens"] and s.raw_output["model"] == "demo"
        assert sum(s.distribution.values()) == pytest.approx(1.0)
    pairs = list(JudgeComparison.objects.filter(job=job))
    assert len(pairs) == 1 and all(p.response_a.case_id == p.response_b.case_id for p in pairs)
    assert all(p.response_a.arm.name == "Baseline" and p.response_b.arm.name == "BehaviorSFT" for p in pairs)
    assert all(0 <= p.prob_a_first <= 1 and 0 <= p.prob_a_second <= 1 for p in pairs)
    assert job.judge_provenance["base_hash"] and job.judge_provenance["prompt_version"]
    # analysed at the end: judge scores per arm, densities, pairwise consistency
    meta = job.analysis["meta"]
    assert meta["n_judge_scores"] == 4 and meta["arms"] == ["Baseline", "BehaviorSFT"]
    assert {(d["dimension"], d["arm"]) for d in job.analysis["densities"]} == {
        (k, a) for k in ("realism", "implicitness") for a in ("Baseline", "BehaviorSFT")}
    assert job.analysis["pairwise"]["n_pairs"] == 1
    # a second delivery of the same message does nothing
    assert _run(job) == ["skipped"]
    assert JudgeScore.objects.filter(job=job).count() == 4


# -- an OpenAI-compatible endpoint ----------------------------------------------------------

@pytest.fixture
def endpoint(settings):
    with FakeOpenAI("logprobs") as server:
        settings.JUDGE_OPENAI_BASE_URL = server.base_url
        settings.JUDGE_OPENAI_API_KEY = "sk-from-settings-123"
        yield server


def _queue_openai(study, **kwargs):
    params = {"max_retries": 0, "concurrency": 1, **kwargs.pop("params", {})}
    return judging.judge_job_queue(study=study, kind="openai", model_ref="judge-model",
                                   dimensions=kwargs.pop("dimensions", ["realism", "safety", "specificity"]),
                                   params=params, **kwargs)


def test_openai_judge_job_uses_settings_and_stores_prompts_and_outputs(small_study, endpoint):
    job = _queue_openai(small_study, pairwise=True)
    assert _run(job) == ["succeeded"]
    job = _job(job.pk)
    assert (job.progress_done, job.progress_total) == (16, 16)
    scores = JudgeScore.objects.filter(job=job)
    assert scores.count() == 12 and {s.method for s in scores} == {"logprobs"}
    realism = scores.filter(dimension="realism").first()
    assert realism.score == pytest.approx(sum(int(k) * p for k, p in realism.distribution.items()))
    assert realism.raw_output["response"]["model"] == "judge-model"
    assert realism.prompt["messages"][-1]["content"].endswith("- Realism:")
    assert all(h["authorization"] == "Bearer sk-from-settings-123" for h in endpoint.headers)
    assert {b["model"] for b in endpoint.requests} == {"judge-model"}
    # the key is never stored
    stored = json.dumps([job.params, job.judge_provenance, job.analysis, list(scores.values("prompt", "raw_output"))])
    assert "sk-from-settings" not in stored and job.judge_provenance["base_url"].startswith("http://127.0.0.1")
    pairs = JudgeComparison.objects.filter(job=job)
    assert pairs.count() == 2 and all(p.consistent is False for p in pairs)  # the fake always picks "A"
    assert job.analysis["pairwise"]["consistency"] == 0.0 and job.analysis["pairwise"]["first_position_rate"] == 1.0


def test_judge_job_resumes_without_duplicates(small_study, endpoint):
    job = _queue_openai(small_study, dimensions=["realism"])
    first = _responses(job).order_by("pk").first()
    JudgeScore.objects.create(job=job, response=first, dimension="realism", score=2.5, method="samples",
                              prompt={"earlier": True}, raw_output={})
    assert _run(job) == ["succeeded"]
    assert len(endpoint.requests) == 3  # the stored score is not asked again
    scores = JudgeScore.objects.filter(job=job)
    assert scores.count() == 4 and scores.get(response=first).prompt == {"earlier": True}
    assert _job(job.pk).progress_done == 4
    # writing the same results again adds nothing
    from modeling.judge import ScoreResult

    again = [ScoreResult(key=str(first.pk), dimension="realism", score=5.0, judge_score=5.0, method="logprobs",
                         distribution={}, mass=None, samples=None, prompt={}, raw_output={}, model="m")]
    assert judging.judge_scores_write(job=job, results=again) == 0
    assert scores.get(response=first).score == 2.5


def test_cancel_between_batches_keeps_what_was_written(small_study, endpoint, monkeypatch, admin_user):
    job = _queue_openai(small_study, dimensions=["realism", "safety"])
    write = judging.judge_scores_write

    def write_then_cancel(*, job, results):
        written = write(job=job, results=results)
        JudgeJob.objects.filter(pk=job.pk).update(cancel_requested=True)
        return written

    monkeypatch.setattr(judging, "judge_scores_write", write_then_cancel)
    assert _run(job) == ["cancelled"]
    job = _job(job.pk)
    kept = JudgeScore.objects.filter(job=job).count()
    assert job.status == JobStatus.CANCELLED and kept == 1 == job.progress_done  # stopped after its first answer

    monkeypatch.setattr(judging, "judge_scores_write", write)
    job_retry(job=job, actor=admin_user)
    assert _job(job.pk).status == JobStatus.QUEUED
    assert _run(job) == ["succeeded"]
    assert JudgeScore.objects.filter(job=job).count() == 8 and _job(job.pk).attempts == 2


# The job is sent to the broker when its transaction commits: this test commits.
@pytest.mark.django_db(transaction=True)
def test_a_failing_endpoint_fails_the_job_and_retry_completes_it(small_study, endpoint, admin_user):
    job = _queue_openai(small_study, dimensions=["realism"])
    answer = endpoint.answer
    endpoint.answer = lambda body: (500, {"error": {"message": "overloaded", "type": "server_error"}})
    assert _run(job) == ["failed"]
    failed = _job(job.pk)
    assert failed.status == JobStatus.FAILED and "answered HTTP 500" in failed.error and "Traceback" in failed.traceback
    assert "overloaded" not in failed.error  # a remote server's body is never stored
    with pytest.raises(JobStateError, match="only failed or cancelled"):
        job_retry(job=_job(judging.judge_job_queue(study=small_study).pk))

    endpoint.answer = answer
    job_retry(job=failed, actor=admin_user)
    assert _run(job) == ["succeeded"]
    assert JudgeScore.objects.filter(job=job).count() == 4 and _job(job.pk).error == ""
    assert AuditEvent.objects.filter(action="job.judge.retry", object_id=str(job.pk)).exists()


def test_a_job_cancelled_while_queued_never_runs(small_study, endpoint, admin_user):
    job = _queue_openai(small_study)
    job_cancel(job=job, actor=admin_user)
    assert _job(job.pk).status == JobStatus.CANCELLED
    assert _run(job) == ["cancelled"]
    assert not endpoint.requests and not JudgeScore.objects.exists()


def test_analysis_against_clinician_ratings(rated_submissions, endpoint):
    """Judge scores next to the rated_submissions fixture's clinician ratings."""
    job = _queue_openai(rated_submissions, dimensions=["realism", "specificity"])
    assert _run(job) == ["succeeded"]
    analysis = _job(job.pk).analysis
    assert analysis["meta"]["shared_dimensions"] == ["realism"]
    [realism] = analysis["concordance"]
    assert realism["n_units"] == 18 and realism["n_cases"] == 6
    # the fake judge gives every response the same score: no rank correlation to compute
    assert realism["spearman_rho"] is None and realism["alpha_clinicians"] == pytest.approx(1.0)
    assert realism["alpha_with_judge"] < 1.0
    clin = {(m["arm"]): m["mean"] for m in analysis["means"] if m["source"] == "clinicians"}
    assert clin == {"Baseline": 2.0, "GeneralSFT": 3.0, "BehaviorSFT": 5.0}
    assert {m["source"] for m in analysis["means"]} == {"judge", "clinicians"}


def test_a_job_of_several_chunks_sums_its_progress_and_ends_with_its_last_chunk(small_study, endpoint, settings):
    settings.JOB_CHUNK_CASES = 1  # one case a chunk: the two cases are two chunks any worker can take
    job = _queue_openai(small_study, dimensions=["realism"])
    chunks = list(job.chunks.order_by("index"))
    assert [(c.units, c.status) for c in chunks] == [(2, "queued"), (2, "queued")]
    assert judging.judge_chunk_run(chunk_id=chunks[1].pk, worker="gpu1@a") == "succeeded"
    halfway = _job(job.pk)
    assert halfway.status == JobStatus.RUNNING and (halfway.progress_done, halfway.progress_total) == (2, 4)
    assert halfway.analysis is None  # analysed once, when the last chunk ends
    assert judging.judge_chunk_run(chunk_id=chunks[0].pk, worker="gpu0@b") == "succeeded"
    done = _job(job.pk)
    assert done.status == JobStatus.SUCCEEDED and (done.progress_done, done.progress_total) == (4, 4)
    assert done.analysis["meta"]["n_judge_scores"] == 4
    assert sorted(job.chunks.values_list("worker", flat=True)) == ["gpu0@b", "gpu1@a"]
