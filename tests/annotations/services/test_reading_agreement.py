"""The automatic reading against the clinicians, computed with the study's analysis:
stored, shown on the dashboard (with which reading the automatic metrics use), in the
ratings exports, the dashboard's CSV and the API; and the study-level choice of the
judge's planted reading for the automatic metrics."""

from __future__ import annotations

import csv
import io
import json
import re

import pyarrow.parquet as pq
import pytest

from annotations.errors import InvalidRequest, JobStateError
from annotations.models import AuditEvent, JobStatus, Study
from annotations.models.judge import JudgeJob
from annotations.services.aggregation import study_aggregate
from annotations.services.planted_reading import study_planted_reading_set

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_broker")]


def _by_arm(part: dict) -> dict:
    return {a["arm"]: a for a in part["arms"]}


def test_the_analysis_stores_the_terms_reading_against_the_clinicians(planted_study):
    result = study_aggregate(study=planted_study, n_boot=200).result
    agreement = result["reading_agreement"]
    assert agreement["meta"]["intervention_dimension"] == "intervention" and agreement["meta"]["judge"] is None
    terms = agreement["readings"]["automatic"]
    arms = _by_arm(terms)
    assert {a: (s["agreed"], s["n"], s["n_responses"], s["n_cases"]) for a, s in arms.items()} == {
        "Baseline": (8, 12, 6, 6), "GeneralSFT": (4, 12, 6, 6), "BehaviorSFT": (8, 12, 6, 6)}
    assert (terms["overall"]["agreed"], terms["overall"]["n"]) == (20, 36)
    # Baseline: the clinicians say under everywhere, the reading under on planted cases and
    # appropriate on sound ones (rows: clinicians, columns: the reading)
    assert arms["Baseline"]["confusion"] == [[8, 4, 0], [0, 0, 0], [0, 0, 0]]
    lo, hi = terms["overall"]["kappa_ci"]
    assert lo <= terms["overall"]["kappa"] <= hi
    harms = terms["overall"]["harms"]
    assert harms["credited"] == {"responses": 6, "flagged": 1, "share": pytest.approx(1 / 6)}
    assert harms["not_credited"]["responses"] == 12 and harms["not_credited"]["flagged"] == 1
    assert arms["GeneralSFT"]["harms"]["not_credited"]["flagged"] == 1
    assert "judge" not in agreement["readings"]
    assert result["automatic_reading"] == {"source": "terms", "job": None, "label": "the terms' reading (ConText)"}


def test_a_judge_jobs_planted_reading_is_set_beside_the_terms(planted_judge):
    result = study_aggregate(study=planted_judge.study, n_boot=200).result
    agreement = result["reading_agreement"]
    assert agreement["meta"]["judge"]["job"] == planted_judge.pk
    judge = agreement["readings"]["judge"]
    assert (judge["overall"]["agreed"], judge["overall"]["n"]) == (14, 24)
    assert (judge["terms_same_units"]["overall"]["agreed"], judge["terms_same_units"]["overall"]["n"]) == (16, 24)
    assert _by_arm(judge)["GeneralSFT"]["agreed"] == 0  # the judge credits the potassium flag; clinicians say over
    # the terms still read every rated response; the metrics read the terms until the study chooses the judge
    assert agreement["readings"]["automatic"]["overall"]["n"] == 36
    assert result["automatic_reading"]["source"] == "terms"


def test_choosing_the_judges_reading_rescores_the_automatic_metrics(planted_judge, researcher):
    study = planted_judge.study
    before = study_aggregate(study=study, n_boot=50).result["automatic"]
    assert study_planted_reading_set(study=study, job_id=planted_judge.pk, actor=researcher) is True
    assert Study.objects.get(pk=study.pk).planted_reading_job_id == planted_judge.pk
    assert AuditEvent.objects.filter(action="study.planted_reading", object_id=str(study.pk)).exists()
    after = study_aggregate(study=study, n_boot=50).result
    assert after["automatic_reading"] == {"source": "judge", "job": planted_judge.pk, "model": "planted-judge",
                                          "label": f"the LLM judge's planted reading, job #{planted_judge.pk}"}
    found = {arm: (before[arm]["proactive"]["issue_found_rate"], after["automatic"][arm]["proactive"]["issue_found_rate"])
             for arm in before}
    assert found == {"Baseline": (0.0, 0.0), "GeneralSFT": (0.0, 1.0), "BehaviorSFT": (1.0, 0.75)}
    # back to the terms
    study_planted_reading_set(study=study, job_id=None, actor=researcher)
    assert study_aggregate(study=study, n_boot=50).result["automatic_reading"]["source"] == "terms"


def test_only_a_finished_planted_job_of_the_study_can_be_chosen(planted_judge, rated_study):
    study = planted_judge.study
    scores_only = JudgeJob.objects.create(study=study, model_ref="m", dimensions=[], status=JobStatus.SUCCEEDED)
    with pytest.raises(InvalidRequest, match="did not read planted problems"):
        study_planted_reading_set(study=study, job_id=scores_only.pk)
    JudgeJob.objects.filter(pk=planted_judge.pk).update(status=JobStatus.RUNNING)
    with pytest.raises(JobStateError, match="has not finished"):
        study_planted_reading_set(study=study, job_id=planted_judge.pk)
    with pytest.raises(InvalidRequest):
        study_planted_reading_set(study=study, job_id=10**9)
    assert Study.objects.get(pk=study.pk).planted_reading_job_id is None


# -- where researchers see it ----------------------------------------------------------------

def test_dashboard_shows_the_agreement_table_and_which_reading_the_metrics_use(planted_judge, researcher_client):
    study = planted_judge.study
    study_aggregate(study=study, n_boot=100)
    html = researcher_client.get(f"/studies/{study.slug}/dashboard/").content.decode()
    assert 'id="reading-agreement"' in html and "The automatic reading against the clinicians" in html
    assert 'data-reading="automatic"' in html and 'data-reading="judge"' in html
    assert ("Whether a response names its case's planted problem is read by <strong>the terms&#x27; reading "
            "(ConText)</strong>") in html
    assert re.search(r"<td>all arms</td><td>36 \(18, 6\)</td>\s*<td>0.56 \[", html)  # 20 of 36 answers
    assert f'<option value="{planted_judge.pk}">the LLM judge\'s planted reading, job #{planted_judge.pk}' in html

    response = researcher_client.post(f"/studies/{study.slug}/dashboard/planted-reading/", {"job": planted_judge.pk})
    assert response.status_code == 302
    study_aggregate(study=study, n_boot=100)
    html = researcher_client.get(f"/studies/{study.slug}/dashboard/").content.decode()
    assert (f"read by <strong>the LLM judge&#x27;s planted reading, job #{planted_judge.pk}</strong>") in html
    assert f'<option value="{planted_judge.pk}" selected>' in html


def test_a_refused_choice_is_a_message_never_a_500(planted_judge, researcher_client):
    study = planted_judge.study
    url = f"/studies/{study.slug}/dashboard/planted-reading/"
    JudgeJob.objects.filter(pk=planted_judge.pk).update(status=JobStatus.RUNNING)
    refusals = {planted_judge.pk: "has not finished", 10**30: "did not read planted problems",
                "\u00b2": "Choose the terms&#x27; reading or one of the study&#x27;s judge jobs"}
    for job, message in refusals.items():  # unfinished, beyond any id, a digit int() refuses
        response = researcher_client.post(url, {"job": job}, follow=True)
        assert response.status_code == 200 and message in response.content.decode()
    assert Study.objects.get(pk=study.pk).planted_reading_job_id is None


def test_clinicians_cannot_choose_the_reading(planted_judge, clinician_client):
    slug = planted_judge.study.slug
    assert clinician_client.post(f"/studies/{slug}/dashboard/planted-reading/", {"job": planted_judge.pk}
                                 ).status_code == 403
    assert Study.objects.get(pk=planted_judge.study_id).planted_reading_job_id is None


def test_the_agreement_downloads_as_csv(planted_study, researcher_client):
    study_aggregate(study=planted_study, n_boot=100)
    response = researcher_client.get(f"/studies/{planted_study.slug}/dashboard/reading-agreement.csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    overall = next(r for r in rows if r["arm"] == "all arms")
    assert overall["reading"] == "automatic" and overall["n"] == "36" and float(overall["agreement"]) == 20 / 36
    assert overall["credited_flagged_harmful"] == "1" and overall["not_credited_responses"] == "12"


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_the_readings_reach_every_ratings_export(planted_judge, researcher_client):
    base = f"/studies/{planted_judge.study.slug}/export/ratings"
    csv_rows = list(csv.DictReader(io.StringIO(_body(researcher_client.get(base + ".csv")).decode())))
    jsonl_rows = [json.loads(line) for line in _body(researcher_client.get(base + ".jsonl")).splitlines()]
    table = pq.read_table(io.BytesIO(_body(researcher_client.get(base + ".parquet"))))
    parquet_rows = table.to_pylist()
    expected_terms = {("Baseline", True): "under", ("Baseline", False): "appropriate",
                      ("GeneralSFT", True): "under", ("GeneralSFT", False): "over",
                      ("BehaviorSFT", True): "appropriate", ("BehaviorSFT", False): "over"}
    for rows, empty in ((csv_rows, ""), (jsonl_rows, None), (parquet_rows, None)):
        assert len(rows) == 12 * 3 * 6
        for row in rows:
            planted = row["gold_label"] == "flag"
            assert row["automatic_intervention"] == expected_terms[(row["arm"], planted)]
            if not planted:
                assert row["judge_intervention"] == empty  # the judge read only the planted cases' responses
        judged = {(r["arm"], r["case_external_id"]): r["judge_intervention"] for r in rows if r["gold_label"] == "flag"}
        assert judged[("GeneralSFT", "rc-1")] == "appropriate" and judged[("BehaviorSFT", "rc-0")] == "under"
        assert judged[("Baseline", "rc-2")] == "under"


def test_the_api_serves_the_studys_analysis_with_the_agreement(planted_study, researcher, clinician):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_login(researcher)
    before = client.get(f"/api/studies/{planted_study.slug}/analysis/")
    assert before.status_code == 200 and before.json()["result"] is None
    study_aggregate(study=planted_study, n_boot=100)
    body = client.get(f"/api/studies/{planted_study.slug}/analysis/").json()
    assert body["study"] == planted_study.slug and body["n_ratings"] > 0 and body["stale"] is False
    overall = body["result"]["reading_agreement"]["readings"]["automatic"]["overall"]
    assert (overall["agreed"], overall["n"]) == (20, 36)
    assert body["result"]["automatic_reading"]["source"] == "terms"
    client.force_login(clinician)
    assert client.get(f"/api/studies/{planted_study.slug}/analysis/").status_code == 403
