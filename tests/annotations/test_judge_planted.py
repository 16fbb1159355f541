"""The judge-job option "Read whether each response names its case's planted problem":
queued from the judge page, the API or the service, run against an OpenAI-compatible
endpoint, stored per response (idempotent), summarised on the judge page, and offered
to the dashboard as the automatic metrics' reading."""

from __future__ import annotations

import pytest

from annotations.errors import InvalidRequest
from annotations.models import JobStatus
from annotations.models.judge import JudgeJob, JudgePlantedReading, JudgeScore
from annotations.services import judging
from tests.chat_server import FakeOpenAI
from tests.factories import CaseFactory, ResponseFactory, StudyArmFactory, StudyFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_broker")]

PLANTED = {"summary": "Platelets halved on heparin: send a PF4 test for HIT", "terms": ["PF4", "HIT"],
           "asserts": ["PF4"]}


@pytest.fixture
def planted_cases(db):
    """Two arms; cases p-0 and p-1 plant a problem, s-0 is sound. Baseline says nothing
    useful, BehaviorSFT names the problem."""
    study = StudyFactory(slug="planted")
    arms = [StudyArmFactory(study=study, arm__name=name, position=i).arm
            for i, name in enumerate(["Baseline", "BehaviorSFT"])]
    texts = {"Baseline": "Agreed with the plan.", "BehaviorSFT": "Hold the heparin and send a PF4 test."}
    for external_id, planted in (("p-0", PLANTED), ("p-1", PLANTED), ("s-0", {})):
        case = CaseFactory(study=study, external_id=external_id, planted_problem=planted,
                           gold_label="flag" if planted else "no_flag")
        for arm in arms:
            ResponseFactory(case=case, arm=arm, text=texts[arm.name])
    return study


@pytest.fixture
def endpoint(settings):
    with FakeOpenAI("logprobs") as server:
        server.named_words = ["PF4"]
        settings.JUDGE_OPENAI_BASE_URL = server.base_url
        settings.JUDGE_OPENAI_API_KEY = "sk-test"
        yield server


def _queue(study, **kwargs):
    return judging.judge_job_queue(study=study, kind="openai", model_ref="judge-model",
                                   params={"max_retries": 0, "concurrency": 1}, **kwargs)


def _run(job) -> list[str]:
    return [judging.judge_chunk_run(chunk_id=c.pk, worker="test@host") for c in job.chunks.order_by("index")]


def test_queue_counts_a_prompt_per_response_to_a_planted_case(planted_cases):
    both = _queue(planted_cases, dimensions=["realism"], planted=True)
    assert both.planted and both.progress_total == 6 + 4  # a realism score per response, a reading per planted one
    only = _queue(planted_cases, dimensions=[], planted=True)
    assert only.dimensions == [] and only.progress_total == 4
    assert sorted(only.chunks.values_list("first_case_id", flat=True))[0] == planted_cases.cases.get(
        external_id="p-0").pk
    assert "planted-problem reading" in only.summary


def test_queue_refuses_a_planted_only_job_without_planted_cases_or_with_pairs(planted_cases):
    from annotations.models import Case

    with pytest.raises(InvalidRequest, match="need a dimension"):
        _queue(planted_cases, dimensions=[], planted=True, pairwise=True)
    with pytest.raises(InvalidRequest, match="no judge dimensions"):
        _queue(planted_cases, dimensions=[])  # no dimension and no planted reading: nothing to ask
    Case.objects.filter(study=planted_cases).update(planted_problem={})
    with pytest.raises(InvalidRequest, match="nothing for the judge to read"):
        _queue(planted_cases, dimensions=[], planted=True)
    assert not JudgeJob.objects.exists()


def test_a_planted_job_stores_one_reading_per_response_and_resumes_without_duplicates(planted_cases, endpoint):
    job = _queue(planted_cases, dimensions=["realism"], planted=True)
    assert _run(job) == ["succeeded"]
    job = JudgeJob.objects.get(pk=job.pk)
    assert job.status == JobStatus.SUCCEEDED and (job.progress_done, job.progress_total) == (10, 10)
    readings = {(r.response.arm.name, r.response.case.external_id): r
                for r in JudgePlantedReading.objects.filter(job=job).select_related("response__arm", "response__case")}
    assert set(readings) == {(arm, case) for arm in ("Baseline", "BehaviorSFT") for case in ("p-0", "p-1")}
    assert {k: r.named for k, r in readings.items()} == {
        ("Baseline", "p-0"): False, ("Baseline", "p-1"): False, ("BehaviorSFT", "p-0"): True,
        ("BehaviorSFT", "p-1"): True}
    named = readings[("BehaviorSFT", "p-0")]
    assert named.prob_named == pytest.approx(0.9) and named.method == "logprobs"
    assert "PF4 test for HIT" in named.prompt["messages"][-1]["content"]  # the judge is told the problem
    assert named.raw_output["model"] == "judge-model"
    assert JudgeScore.objects.filter(job=job).count() == 6
    # the judge page's summary: per arm, and against the terms
    planted = job.analysis["planted"]
    assert planted["counts"] == [{"arm": "Baseline", "read": 2, "named": 0, "not_named": 2, "undecided": 0},
                                 {"arm": "BehaviorSFT", "read": 2, "named": 2, "not_named": 0, "undecided": 0}]
    # the terms agree on BehaviorSFT's flags (Baseline's restraint is not a flag: the reading decides nothing)
    assert planted["agreement_with_terms"]["all"]["agreement"] == 1.0
    # a second delivery asks nothing again; writing the same results adds nothing
    requests = len(endpoint.requests)
    assert _run(job) == ["skipped"]
    JudgePlantedReading.objects.filter(pk=named.pk).delete()
    job.chunks.update(status=JobStatus.QUEUED)
    JudgeJob.objects.filter(pk=job.pk).update(status=JobStatus.QUEUED)
    assert _run(job) == ["succeeded"]
    assert len(endpoint.requests) == requests + 1  # only the missing reading
    assert JudgePlantedReading.objects.filter(job=job).count() == 4


def test_the_judge_page_queues_a_planted_only_job_and_shows_its_readings(planted_cases, endpoint, admin_client_):
    slug = planted_cases.slug
    form = admin_client_.get(f"/studies/{slug}/judge/").content.decode()
    assert "Read whether each response names its case&#x27;s planted problem" in form
    response = admin_client_.post(f"/studies/{slug}/judge/queue/", {
        "kind": "openai", "model_ref": "judge-model", "planted": "on", "logprobs": "auto", "n_samples": 3})
    job = JudgeJob.objects.get()
    assert response.status_code == 302 and job.planted and job.dimensions == [] and job.progress_total == 4
    assert _run(job) == ["succeeded"]
    html = admin_client_.get(f"/studies/{slug}/judge/?job={job.pk}").content.decode()
    assert 'id="planted-readings"' in html and "+ planted-problem reading" in html
    assert "<td>BehaviorSFT</td><td>2</td><td>2</td><td>0</td><td>0</td>" in html
    # nothing ticked: refused
    admin_client_.post(f"/studies/{slug}/judge/queue/", {"kind": "openai", "logprobs": "auto", "n_samples": 3})
    assert JudgeJob.objects.count() == 1
    # the finished job is what the dashboard may choose for the automatic metrics
    from annotations.selectors.readings import planted_jobs

    assert planted_jobs(planted_cases) == [job]


def test_the_api_queues_a_planted_job(planted_cases, admin_user):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(admin_user)
    answer = client.post("/api/judge-jobs/", {"study": planted_cases.slug, "kind": "openai",
                                              "model_ref": "judge-model", "dimensions": [], "planted": True},
                         format="json")
    assert answer.status_code == 201, answer.content
    assert answer.json()["planted"] is True and answer.json()["dimensions"] == []
    refused = client.post("/api/judge-jobs/", {"study": planted_cases.slug, "kind": "openai",
                                               "model_ref": "judge-model", "dimensions": []}, format="json")
    assert refused.status_code == 400 and "dimensions" in refused.json()
