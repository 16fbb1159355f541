"""Why each response ended (``finish_reason``): stored as written, shown on the responses
page (a badge on a response cut at the token limit, a count per arm and per generation
job), served by the API and carried into the exports."""

from __future__ import annotations

import csv
import io

import pytest

from annotations.models import GenerationJob, Response
from annotations.services.responses import responses_write

pytestmark = [pytest.mark.django_db]

BADGE = "cut at the token limit</span>"


@pytest.fixture
def capped(rated_study):
    """The Baseline arm answered the 6 test cases again in job 1 (max_new_tokens 48): 4 cut
    at the limit, 2 ended by the model; GeneralSFT's older answers record nothing."""
    baseline = rated_study.study_arms.get(arm__name="Baseline").arm
    job = GenerationJob.objects.create(study=rated_study, arm=baseline, selection={"split": "test"},
                                       decoding_params={"max_new_tokens": 48})
    cases = list(rated_study.cases.filter(split="test").order_by("external_id"))
    written = responses_write(rows=[
        {"case_id": case.pk, "arm_id": baseline.pk, "job_id": job.pk, "text": f"Answer {n}", "completion_tokens": 48,
         "finish_reason": "length" if n < 4 else "stop"} for n, case in enumerate(cases)])
    assert written == 6
    return job


def test_the_responses_page_marks_and_counts_the_responses_cut_at_the_limit(rated_study, capped, researcher_client):
    html = researcher_client.get(f"/studies/{rated_study.slug}/responses/").content.decode()
    assert html.count(BADGE) == 4  # on the newest Baseline answers of rc-0..rc-3, nowhere else
    rc_4 = html[html.index("<strong>rc-4</strong>"):html.index("<strong>rc-5</strong>")]
    assert BADGE not in rc_4 and "Answer 4" in rc_4
    assert "<strong>Baseline</strong>: 4 of 6 hit the cap" in html
    assert "<strong>GeneralSFT</strong>: <span class=\"muted\">no finish reason recorded (6 responses)" in html
    job_row = html[html.index(f"<td>job {capped.pk}</td>"):]
    assert job_row.startswith(f"<td>job {capped.pk}</td><td>Baseline</td><td>48</td><td>4 of 6 hit the cap</td>")

    # Filtered on one arm, the counts follow the arms shown.
    general = rated_study.study_arms.get(arm__name="GeneralSFT").arm
    only = researcher_client.get(f"/studies/{rated_study.slug}/responses/", {"arm": general.pk}).content.decode()
    assert "<strong>Baseline</strong>:" not in only and BADGE not in only


def test_a_page_without_any_job_shows_no_count(rated_study, researcher_client):
    rated_study.study_arms.exclude(arm__name="Baseline").delete()
    Response.objects.filter(case__study=rated_study).update(finish_reason="stop")
    html = researcher_client.get(f"/studies/{rated_study.slug}/responses/").content.decode()
    assert "<strong>Baseline</strong>: 0 of 6 hit the cap" in html and BADGE not in html
    assert "token-limit-jobs" not in html  # no generation job wrote them


def test_what_a_server_says_is_kept_within_the_column(rated_study):
    """An inference server may say anything; a long word must not fail the chunk."""
    arm = rated_study.study_arms.get(arm__name="Baseline").arm
    job = GenerationJob.objects.create(study=rated_study, arm=arm, selection={"split": "test"})
    case = rated_study.cases.get(external_id="rc-0")
    responses_write(rows=[{"case_id": case.pk, "arm_id": arm.pk, "job_id": job.pk, "text": "x",
                           "finish_reason": "content_filter_" + "x" * 40}])
    stored = Response.objects.get(job=job).finish_reason
    assert stored == ("content_filter_" + "x" * 40)[:20]


def test_the_api_and_the_ratings_export_carry_the_finish_reason(rated_submissions, researcher_client):
    Response.objects.filter(arm__name="BehaviorSFT").update(finish_reason="length")
    Response.objects.exclude(arm__name="BehaviorSFT").update(finish_reason="stop")
    listed = researcher_client.get("/api/responses/", {"page_size": 100}).json()["results"]
    assert {(r["arm_name"], r["finish_reason"]) for r in listed} == {
        ("BehaviorSFT", "length"), ("GeneralSFT", "stop"), ("Baseline", "stop")}
    export = researcher_client.get(f"/studies/{rated_submissions.slug}/export/ratings.csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode())))
    assert rows and {(r["arm"], r["finish_reason"]) for r in rows} == {
        ("BehaviorSFT", "length"), ("GeneralSFT", "stop"), ("Baseline", "stop")}
