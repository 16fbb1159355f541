"""The judge page: researchers and admins read it, admins queue; clinicians get 403 on
every judge URL, and no judge output ever reaches a clinician page."""

from __future__ import annotations

import html
import json

import pytest

from annotations.models import JobStatus
from annotations.models.judge import JudgeComparison, JudgeJob, JudgeScore
from annotations.services.judge_analysis import judge_analyse
from tests.factories import StudyArmFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_broker")]

SECRET_RAW = "JUDGE-RAW-OUTPUT-MARKER-7731"
SECRET_PROMPT = "JUDGE-PROMPT-MARKER-4412"


@pytest.fixture
def judged(rated_submissions):
    """A finished judge job over the rated study, with its analysis stored."""
    study = rated_submissions
    job = JudgeJob.objects.create(study=study, kind="openai", model_ref="judge-model-xyz",
                                  dimensions=[d.as_dict() for d in _dims()], pairwise=True,
                                  status=JobStatus.SUCCEEDED, progress_done=1, progress_total=1,
                                  params={"pairwise_dimensions": ["overall"]})
    responses = list(study.cases.filter(split="test").first().responses.none())
    scores = {"Baseline": (2.2, 0.3), "GeneralSFT": (3.1, 0.9), "BehaviorSFT": (4.6, 0.8)}
    for case in study.cases.filter(split="test"):
        rows = list(case.responses.select_related("arm"))
        responses += rows
        for r in rows:
            realism, specificity = scores[r.arm.name]
            JudgeScore.objects.create(job=job, response=r, dimension="realism", score=realism + case.pk % 3 * 0.1,
                                      method="logprobs", prompt={"messages": [{"content": SECRET_PROMPT}]},
                                      raw_output={"text": SECRET_RAW})
            JudgeScore.objects.create(job=job, response=r, dimension="specificity", score=specificity,
                                      method="logprobs", prompt={}, raw_output={"text": SECRET_RAW})
        rows.sort(key=lambda r: r.arm.name)
        JudgeComparison.objects.create(job=job, response_a=rows[0], response_b=rows[1], prob_a_first=0.8,
                                       prob_a_second=0.3, method="logprobs", prompt={}, raw_output={})
    JudgeJob.objects.filter(pk=job.pk).update(selection={"response_ids": sorted(r.pk for r in responses)})
    judge_analyse(job=job, n_boot=100)
    return job


def _dims():
    from modeling.judge import resolve_dimensions

    return resolve_dimensions(["realism", "specificity"])


def test_researcher_reads_scores_figures_and_concordance(judged, researcher_client):
    study = judged.study
    response = researcher_client.get(f"/studies/{study.slug}/judge/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "judge-model-xyz" in body and "Judge-clinician concordance" in body
    for key in ("means", "density", "concordance", "scatter"):
        assert f'data-figure="{key}"' in body
    figures = json.loads(html.unescape(body.split('id="figure-data" type="application/json">')[1].split("</script>")[0]))
    assert set(figures) == {"means", "density", "concordance", "scatter"}
    density = figures["density"]
    assert density["layout"]["title"]["text"] == "Judge specificity per arm (density)"  # the paper's Fig. 2 first
    assert {t["name"].split(" (")[0] for t in density["data"]} == {"Baseline", "GeneralSFT", "BehaviorSFT"}
    means = figures["means"]
    assert {t["name"] for t in means["data"]} >= {"BehaviorSFT (judge)", "BehaviorSFT (clinicians)"}
    assert "Position-swap consistency" in body
    assert "Queue a judge job" not in body  # researchers do not queue
    [row] = judged.analysis["concordance"]
    assert row["dimension"] == "realism" and row["n_units"] == 18


def test_figure_csv_export_and_score_detail(judged, researcher_client):
    slug = judged.study.slug
    csv_body = researcher_client.get(f"/studies/{slug}/judge/{judged.pk}/concordance.csv").content.decode()
    assert csv_body.splitlines()[0].startswith("dimension,n_units,n_cases") and "realism" in csv_body
    assert researcher_client.get(f"/studies/{slug}/judge/{judged.pk}/nope.csv").status_code == 404
    export = researcher_client.get(f"/studies/{slug}/judge/{judged.pk}/scores.jsonl")
    lines = [json.loads(line) for line in b"".join(export.streaming_content).decode().splitlines()]
    assert lines[0]["model"] == "judge-model-xyz" and len(lines) == 1 + 36
    assert lines[1]["raw_output"]["text"] == SECRET_RAW and {"case", "arm", "prompt", "score"} <= set(lines[1])
    score = JudgeScore.objects.filter(job=judged).first()
    detail = researcher_client.get(f"/studies/{slug}/judge/scores/{score.pk}/").json()
    assert detail["raw_output"]["text"] == SECRET_RAW and detail["dimension"] == score.dimension


def test_clinicians_get_403_on_every_judge_url(judged, clinician_client, rated_submissions):
    slug = judged.study.slug
    score = JudgeScore.objects.filter(job=judged).first()
    gets = [f"/studies/{slug}/judge/", f"/studies/{slug}/judge/{judged.pk}/means.csv",
            f"/studies/{slug}/judge/{judged.pk}/scores.jsonl", f"/studies/{slug}/judge/scores/{score.pk}/"]
    posts = [f"/studies/{slug}/judge/queue/", f"/studies/{slug}/judge/{judged.pk}/analyse/",
             f"/studies/{slug}/judge/{judged.pk}/cancel/"]
    for url in gets:
        response = clinician_client.get(url)
        assert response.status_code == 403, url
        assert SECRET_RAW not in response.content.decode()
    for url in posts:
        assert clinician_client.post(url, {"kind": "local"}).status_code == 403, url
    assert JudgeJob.objects.count() == 1


def test_no_judge_output_reaches_a_clinician_page(judged, db):
    from django.test import Client

    from annotations.models import Assignment

    assignment = Assignment.objects.filter(study=judged.study).select_related("rater").first()
    client = Client()
    client.force_login(assignment.rater)
    pages = [client.get("/"), client.get("/rate/"), client.get(f"/rate/{assignment.pk}/"),
             client.get("/rate/next/", follow=True), client.get("/api/", follow=True)]
    for page in pages:
        body = html.unescape(page.content.decode())
        for forbidden in (SECRET_RAW, SECRET_PROMPT, "judge-model-xyz", "/judge/", "Automatic judging"):
            assert forbidden not in body, forbidden


def test_anonymous_users_are_sent_to_login(judged, client):
    response = client.get(f"/studies/{judged.study.slug}/judge/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# The job is sent to the broker when its transaction commits: this test commits.
@pytest.mark.django_db(transaction=True)
def test_admin_queues_cancels_and_retries(rated_study, admin_client_):
    slug = rated_study.slug
    page = admin_client_.get(f"/studies/{slug}/judge/").content.decode()
    assert "Queue a judge job" in page and "No judge jobs yet." in page
    response = admin_client_.post(f"/studies/{slug}/judge/queue/",
                                  {"kind": "local", "model_ref": "", "dimensions": ["realism", "specificity"],
                                   "pairwise": "on", "logprobs": "auto", "n_samples": 5}, follow=True)
    job = JudgeJob.objects.get()
    body = response.content.decode()
    # 18 responses x 2 dimensions, and 3 pairs in each of 6 cases asked in both orders
    assert f"Queued judge job #{job.pk} (72 prompts: 18 responses × 2 dimensions)." in body
    assert "18 responses × 2 dimensions, pairwise on overall." in body  # the job's own section
    assert job.status == JobStatus.QUEUED and job.celery_task_id and job.model_ref == "demo" and job.pairwise
    assert job.params["n_samples"] == 5 and job.params["logprobs"] == "auto"
    assert 'hx-trigger="every 3s"' in body  # the jobs table refreshes while a job is active

    admin_client_.post(f"/studies/{slug}/judge/{job.pk}/cancel/")
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.cancel_requested
    admin_client_.post(f"/studies/{slug}/judge/{job.pk}/retry/")
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and not job.cancel_requested
    again = admin_client_.post(f"/studies/{slug}/judge/{job.pk}/retry/", follow=True).content.decode()
    assert "only failed or cancelled jobs can be retried" in again


def test_queue_form_errors_are_shown(rated_study, admin_client_):
    response = admin_client_.post(f"/studies/{rated_study.slug}/judge/queue/",
                                  {"kind": "openai", "model_ref": "m", "base_url": "ftp://x", "dimensions": ["realism"],
                                   "logprobs": "auto", "n_samples": 3}, follow=True)
    assert "Give an http(s) URL." in html.unescape(response.content.decode())
    response = admin_client_.post(f"/studies/{rated_study.slug}/judge/queue/",
                                  {"kind": "openai", "model_ref": "m", "dimensions": ["realism"], "logprobs": "auto",
                                   "n_samples": 3, "responses": "12 x7 3.5"}, follow=True)
    assert "Response ids: Not response ids: x7, 3.5" in html.unescape(response.content.decode())
    other = StudyArmFactory().arm  # an arm of another study
    response = admin_client_.post(f"/studies/{rated_study.slug}/judge/queue/",
                                  {"kind": "openai", "model_ref": "m", "dimensions": ["realism"], "logprobs": "auto",
                                   "n_samples": 3, "arms": [other.pk]}, follow=True)
    assert "Arms: Select a valid choice." in html.unescape(response.content.decode())
    assert not JudgeJob.objects.exists()


def test_a_model_outside_the_model_roots_is_a_message_on_the_judge_page(rated_study, admin_client_):
    """The service's validation (model_ref_check) reaches the admin as a message on the
    page they were on, not as an error page."""
    response = admin_client_.post(f"/studies/{rated_study.slug}/judge/queue/",
                                  {"kind": "local", "model_ref": "/nowhere/judge", "dimensions": ["realism"],
                                   "logprobs": "auto", "n_samples": 3})
    assert response.status_code == 302 and response["Location"] == f"/studies/{rated_study.slug}/judge/"
    page = html.unescape(admin_client_.get(response["Location"]).content.decode())
    assert "outside the model roots" in page and "Queue a judge job" in page
    assert not JudgeJob.objects.exists()


def test_researcher_cannot_cancel_but_can_recompute(judged, researcher_client):
    slug = judged.study.slug
    assert researcher_client.post(f"/studies/{slug}/judge/{judged.pk}/cancel/").status_code == 403
    JudgeJob.objects.filter(pk=judged.pk).update(analysis=None)
    response = researcher_client.post(f"/studies/{slug}/judge/{judged.pk}/analyse/", follow=True)
    assert "Analysis recomputed" in response.content.decode()
    assert JudgeJob.objects.get(pk=judged.pk).analysis["meta"]["n_judge_scores"] == 36
