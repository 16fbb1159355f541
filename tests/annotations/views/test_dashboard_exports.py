"""The researcher dashboard and the streamed exports."""

import csv
import io
import json

import pyarrow.parquet as pq
import pytest

from annotations.exports import COLUMNS, EXPORTS
from annotations.models import AuditEvent, Preference, Rating, StudyAnalysis
from annotations.services.aggregation import study_aggregate
from annotations.services.rating import submission_revise
from tests.conftest import complete_rating

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


def test_dashboard_reads_the_stored_result_without_recomputing(rated_submissions, researcher_client):
    analysis = study_aggregate(study=rated_submissions, n_boot=100)
    html = researcher_client.get(f"/studies/{rated_submissions.slug}/dashboard/").content.decode()
    assert analysis.computed_at.strftime("%Y-%m-%d %H:%M:%S") in html
    assert StudyAnalysis.objects.get(pk=analysis.pk).computed_at == analysis.computed_at
    assert 'id="figure-data"' in html and 'id="plot-means"' in html and 'id="plot-radar"' in html
    figures = json.loads(html.split('id="figure-data" type="application/json">')[1].split("</script>")[0])
    assert set(figures) == {"means", "distribution", "radar", "wins", "raters"}
    means = {t["name"]: t["y"] for t in figures["means"]["data"]}
    assert means["BehaviorSFT"][0] == 5.0  # realism, the first dimension
    assert "<td>realism</td><td>BehaviorSFT</td>" in html


def test_figure_data_downloads_as_csv(rated_submissions, researcher_client):
    study_aggregate(study=rated_submissions, n_boot=100)
    response = researcher_client.get(f"/studies/{rated_submissions.slug}/dashboard/wins.csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert response["Content-Type"].startswith("text/csv")
    best = next(r for r in rows if r["arm"] == "BehaviorSFT" and r["opponent"] == "Baseline")
    assert float(best["win_rate"]) == 1.0
    assert researcher_client.get(f"/studies/{rated_submissions.slug}/dashboard/nope.csv").status_code == 404


def test_dashboard_before_any_analysis_offers_a_recompute(rated_study, researcher_client):
    html = researcher_client.get(f"/studies/{rated_study.slug}/dashboard/").content.decode()
    assert "Not computed yet" in html and "Recompute now" in html


def test_csv_export_has_every_rating_with_its_context(rated_submissions, researcher_client):
    response = researcher_client.get(f"/studies/{rated_submissions.slug}/export/ratings.csv")
    rows = list(csv.DictReader(io.StringIO(_body(response).decode())))
    assert list(rows[0]) == COLUMNS
    assert len(rows) == Rating.objects.count() == 12 * 3 * 6
    realism = [r for r in rows if r["dimension"] == "realism" and r["arm"] == "BehaviorSFT"]
    assert {float(r["score"]) for r in realism} == {5.0}
    sample = rows[0]
    rating = Rating.objects.get(pk=int(sample["rating_id"]))
    assert sample["rater"] == rating.submission.submitted_by.username
    assert sample["case_external_id"] == rating.submission.assignment.case.external_id
    assert sample["slot_letter"] == "ABC"[rating.slot] and sample["submitted_at"]
    assert AuditEvent.objects.filter(action="export.ratings").count() == 1


def test_jsonl_and_parquet_exports_match_csv(rated_submissions, researcher_client):
    base = f"/studies/{rated_submissions.slug}/export/ratings"
    csv_rows = list(csv.DictReader(io.StringIO(_body(researcher_client.get(base + ".csv")).decode())))
    jsonl_rows = [json.loads(line) for line in _body(researcher_client.get(base + ".jsonl")).splitlines()]
    table = pq.read_table(io.BytesIO(_body(researcher_client.get(base + ".parquet"))))
    assert len(csv_rows) == len(jsonl_rows) == table.num_rows
    assert table.column_names == COLUMNS
    assert [r["rating_id"] for r in jsonl_rows] == table.column("rating_id").to_pylist()
    assert [r["score"] for r in jsonl_rows] == table.column("score").to_pylist()


def test_csv_times_are_each_ratings_own_in_utc(rated_submissions, researcher_client):
    from datetime import datetime, timedelta

    from django.utils import timezone

    from annotations.models import Assignment

    # Distinct times per assignment, and one never touched before submitting (no first input).
    now = timezone.now()
    for n, assignment in enumerate(Assignment.objects.filter(study=rated_submissions).order_by("id")):
        shown = now - timedelta(minutes=n, microseconds=n)
        Assignment.objects.filter(pk=assignment.pk).update(
            shown_at=shown, first_input_at=None if n == 0 else shown + timedelta(seconds=20))
    base = f"/studies/{rated_submissions.slug}/export/ratings"
    csv_rows = list(csv.DictReader(io.StringIO(_body(researcher_client.get(base + ".csv")).decode())))
    table = pq.read_table(io.BytesIO(_body(researcher_client.get(base + ".parquet"))))
    for column in ("shown_at", "first_input_at", "submitted_at"):
        expected = ["" if t is None else t.strftime("%Y-%m-%d %H:%M:%S.%fZ") for t in table.column(column).to_pylist()]
        assert [r[column] for r in csv_rows] == expected
    shown = {r["assignment_id"]: r["shown_at"] for r in csv_rows}
    assert len(set(shown.values())) == len(shown)  # each assignment its own time
    assert any(r["first_input_at"] == "" for r in csv_rows)
    assert datetime.fromisoformat(csv_rows[0]["submitted_at"]).utcoffset() == timedelta(0)


def test_exports_show_current_or_all_revisions(rated_submissions, researcher_client, admin_user):
    assignment = rated_submissions.assignments.first()
    data = complete_rating(3, rated_submissions.rubric, likert="1")
    submission_revise(assignment=assignment, actor=admin_user, data=data, reason="rater asked to fix a slip")
    base = f"/studies/{rated_submissions.slug}/export/ratings.jsonl"
    current = [json.loads(x) for x in _body(researcher_client.get(base)).splitlines()]
    every = [json.loads(x) for x in _body(researcher_client.get(base + "?revisions=all")).splitlines()]
    assert len(every) == len(current) + 18
    originals = [r for r in every if r["assignment_id"] == assignment.pk and r["revision"] == 1]
    assert len(originals) == 18 and not any(r["is_current"] for r in originals)
    revised = [r for r in current if r["assignment_id"] == assignment.pk]
    assert {r["revision"] for r in revised} == {2} and revised[0]["revision_reason"] == "rater asked to fix a slip"
    # a correction stays the rater's rating; who stored it is kept beside
    assert revised[0]["rater"] == assignment.rater.username and revised[0]["submitted_by"] == admin_user.username


def test_rankings_export_has_a_row_per_ranked_response_in_every_format(rated_submissions, researcher_client):
    base = f"/studies/{rated_submissions.slug}/export/rankings"
    response = researcher_client.get(base + ".csv")
    assert response["Content-Disposition"].startswith(f'attachment; filename="{rated_submissions.slug}-rankings-')
    csv_rows = list(csv.DictReader(io.StringIO(_body(response).decode())))
    jsonl_rows = [json.loads(line) for line in _body(researcher_client.get(base + ".jsonl")).splitlines()]
    table = pq.read_table(io.BytesIO(_body(researcher_client.get(base + ".parquet"))))
    columns = EXPORTS["rankings"].schema.names
    assert list(csv_rows[0]) == list(jsonl_rows[0]) == table.column_names == columns
    assert "dimension" not in columns and {"rank", "slot", "arm", "responses_shown", "comment"} <= set(columns)
    assert len(csv_rows) == len(jsonl_rows) == table.num_rows == Preference.objects.count() == 12 * 3
    # rated_submissions: BehaviorSFT ranked 1, GeneralSFT 2, Baseline 3 by every rater
    ranks = {"BehaviorSFT": "1", "GeneralSFT": "2", "Baseline": "3"}
    assert all(row["rank"] == ranks[row["arm"]] and row["responses_shown"] == "3" for row in csv_rows)
    assert [r["rank"] for r in jsonl_rows] == table.column("rank").to_pylist() == [int(r["rank"]) for r in csv_rows]
    assert AuditEvent.objects.filter(action="export.rankings").count() == 3
    assert researcher_client.get(base + ".xlsx").status_code == 404


@pytest.mark.parametrize("path", ["dashboard/", "dashboard/means.csv", "export/ratings.csv", "export/ratings.parquet",
                                  "export/rankings.csv"])
def test_clinicians_cannot_reach_dashboards_or_exports(rated_study, clinician_client, path):
    assert clinician_client.get(f"/studies/{rated_study.slug}/{path}").status_code == 403


def test_unknown_export_format_is_a_404(rated_study, researcher_client):
    assert researcher_client.get(f"/studies/{rated_study.slug}/export/ratings.xlsx").status_code == 404


def test_dashboard_shows_the_proactive_measures_and_the_arm_comparison(rated_submissions, researcher_client):
    study_aggregate(study=rated_submissions, n_boot=100)
    html = researcher_client.get(f"/studies/{rated_submissions.slug}/dashboard/").content.decode()
    for heading in ("Flag rate", "Issue found", "Restraint", "Over-intervention", "Concern raised",
                    "question-controlled", "Paired differences in Macro F1"):
        assert heading in html
    assert "BehaviorSFT − GeneralSFT" in html and "GeneralSFT − Baseline" in html
    assert "cluster-bootstrap CIs over 6 test cases" in html
    assert "only 6 cases: the intervals are rough" in html


def test_automatic_metrics_stream_in_chunks(rated_study):
    """A chunk size of 2 responses reads them in several chunks and scores them the same."""
    from annotations.services.automatic import study_automatic_metrics

    whole = study_automatic_metrics(study=rated_study, n_boot=20)
    chunked = study_automatic_metrics(study=rated_study, n_boot=20, chunk_size=2)
    assert chunked == whole
    assert sum(a["n"] for a in whole["arms"].values()) == 18 and whole["comparison"]["n_cases"] == 6


def test_the_automatic_metrics_count_the_readings_stored_when_responses_were_written():
    """Each response's reading is stored when written (the same scoring as the metrics'),
    and the metrics count the stored readings: the same figures as reading every response
    again, without the reading's cost at every recompute."""
    from annotations.models import Response
    from annotations.selectors.analysis import AUTOMATIC_FIELDS, automatic_record
    from annotations.services.automatic import study_automatic_metrics
    from annotations.services.responses import responses_write
    from modeling.metrics import score_response
    from tests.factories import CaseFactory, StudyArmFactory, StudyFactory

    study = StudyFactory(slug="stored-readings")
    arms = [StudyArmFactory(study=study, arm__name=name).arm for name in ("Quiet", "Finder")]
    planted = {"terms": ["heparin-induced thrombocytopenia"], "asserts": [["check", "platelet count"]]}
    cases = [CaseFactory(study=study, external_id=f"sr-{i}", planted_problem=planted if i % 2 else {},
                         gold_label="flag" if i % 2 else "no_flag") for i in range(4)]
    texts = {"Quiet": "Nothing to raise.", "Finder": "Check the platelet count before the heparin starts."}
    responses_write(rows=[{"case_id": case.pk, "arm_id": arm.pk, "job_id": None, "text": texts[arm.name]}
                          for case in cases for arm in arms])
    registry = study.task_registry()
    for row in Response.objects.filter(case__study=study).values(*AUTOMATIC_FIELDS):
        record = automatic_record(row)
        assert row["reading"] == score_response(record, registry[record["task"]])
    stored = study_automatic_metrics(study=study, n_boot=20)
    assert stored["arms"]["Finder"]["proactive"]["issue_found_rate"] == 1.0
    assert stored["arms"]["Quiet"]["proactive"]["restraint_accuracy"] == 1.0
    Response.objects.filter(case__study=study).update(reading=None)  # as responses written before it was stored
    assert study_automatic_metrics(study=study, n_boot=20) == stored
    # the metrics read what is stored: a stored reading that says the problem was not found is counted so
    Response.objects.filter(case__study=study, arm__name="Finder", case__gold_label="flag").update(
        reading={**row["reading"], "issue_found": False, "predicted_label": "flag:other", "f1_label": "no_flag",
                 "correct": False, "flagged": True, "concern_found": None, "unverified": False})
    assert study_automatic_metrics(study=study, n_boot=20)["arms"]["Finder"]["proactive"]["issue_found_rate"] == 0.0
