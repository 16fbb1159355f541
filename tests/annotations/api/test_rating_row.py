"""A rating row is one definition (annotations/rating_row.py): the API's ratings and the
exports carry the same fields with the same values, a few under the API's own names; the
rankings (one row per response of a submission) are the same row without the fields of
one dimension, in the API as in the exports."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest
from django.utils import timezone

from annotations.exports import COLUMNS, EXPORTS, export_rows
from annotations.models import HarmDecision, Preference, Rating, Response
from annotations.rating_row import RANKING_ROW, RATING_ROW, column_table

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def _same(exported, shown, name: str) -> bool:
    if name == "gen_decoding":  # JSON text: spaced as each database writes it
        return json.loads(exported) == json.loads(shown)
    if isinstance(exported, datetime):
        return shown is not None and datetime.fromisoformat(shown.replace("Z", "+00:00")) == exported
    return exported == shown


def _api_rows(client, url: str) -> list[dict]:
    rows, page = [], {"next": url}
    while page["next"]:
        page = client.get(page["next"]).json()
        rows += page["results"]
    return rows


def test_the_api_and_the_export_give_the_same_row(rated_submissions, researcher_api, researcher):
    Response.objects.update(provenance={"base_hash": "b" * 12, "seed": 7, "decoding": {"max_new_tokens": 9},
                                        "device": "cpu"})
    rating = Rating.objects.filter(submission__is_current=True).order_by("id").first()
    HarmDecision.objects.create(rating=rating, decision="unclear", note="a note", decided_by=researcher,
                                decided_at=timezone.now())
    exported = {row["rating_id"]: row for row in export_rows(rated_submissions)}
    shown = {row["id"]: row for row in _api_rows(researcher_api, "/api/ratings/")}
    assert set(shown) == set(exported)
    assert COLUMNS == [field.name for field in RATING_ROW]
    for rating_id, row in shown.items():
        assert list(row) == [field.key for field in RATING_ROW]
        differing = {field.name: (exported[rating_id][field.name], row[field.key]) for field in RATING_ROW
                     if not _same(exported[rating_id][field.name], row[field.key], field.name)}
        assert not differing, rating_id
    first = shown[rating.pk]
    assert first["harm_decision"] == "unclear" and first["harm_decided_by"] == researcher.username
    assert first["study"] == "rated" and first["arm"] == rating.response.arm_id
    assert first["arm_name"] == rating.response.arm.name and first["gen_seed"] == 7
    assert first["case"] == rating.submission.assignment.case_id == exported[rating.pk]["case_id"]
    assert first["rank"] == Preference.objects.get(submission=rating.submission, response=rating.response).rank
    assert first["responses_shown"] == 3


def test_the_api_and_the_export_give_the_same_rankings(rated_submissions, researcher_api):
    Response.objects.update(provenance={"base_hash": "b" * 12, "seed": 7, "decoding": {"max_new_tokens": 9}})
    exported = {(row["submission_id"], row["response_id"]): row
                for row in export_rows(rated_submissions, rows="rankings")}
    shown = {(row["submission"], row["response"]): row for row in _api_rows(researcher_api, "/api/rankings/")}
    preferences = Preference.objects.filter(submission__is_current=True)
    assert set(shown) == set(exported) == set(preferences.values_list("submission_id", "response_id"))
    assert EXPORTS["rankings"].schema.names == [field.name for field in RANKING_ROW]
    ranks = {(p.submission_id, p.response_id): (p.rank, p.slot, p.response.arm.name) for p in preferences}
    for key, row in shown.items():
        assert list(row) == [field.key for field in RANKING_ROW]
        differing = {field.name: (exported[key][field.name], row[field.key]) for field in RANKING_ROW
                     if not _same(exported[key][field.name], row[field.key], field.name)}
        assert not differing, key
        assert (row["rank"], row["slot"], row["arm_name"]) == ranks[key]
    # rated_submissions: BehaviorSFT ranked best by everyone, Baseline last
    assert {row["rank"] for row in shown.values() if row["arm_name"] == "BehaviorSFT"} == {1}
    assert {row["rank"] for row in shown.values() if row["arm_name"] == "Baseline"} == {3}
    baseline = _api_rows(researcher_api, "/api/rankings/?arm_name=Baseline&study=rated")
    assert len(baseline) == 12 and {row["rank"] for row in baseline} == {3}


def test_a_submission_without_ranks_keeps_its_ratings_with_an_empty_rank(rated_submissions, researcher_api):
    """A study that does not rank stores no Preference: its ratings are exported all the
    same, with no rank, and it has no rankings rows."""
    unranked = Rating.objects.filter(submission__is_current=True).order_by("id").first().submission
    Preference.objects.filter(submission=unranked).delete()
    exported = list(export_rows(rated_submissions))
    assert len(exported) == Rating.objects.filter(submission__is_current=True).count()
    assert {row["rank"] for row in exported if row["submission_id"] == unranked.pk} == {None}
    assert None not in {row["rank"] for row in exported if row["submission_id"] != unranked.pk}
    shown = _api_rows(researcher_api, f"/api/ratings/?assignment={unranked.assignment_id}")
    assert len(shown) == unranked.ratings.count() and {row["rank"] for row in shown} == {None}
    assert not [row for row in export_rows(rated_submissions, rows="rankings") if row["submission_id"] == unranked.pk]


def test_the_export_docs_list_every_column_as_the_row_defines_it():
    """docs/exports.md's table of columns is the rating row's (its help texts are the API
    schema's descriptions too): a column added, moved or described anew there and not in
    the docs fails here."""
    docs = (Path(__file__).resolve().parents[3] / "docs" / "exports.md").read_text()
    assert column_table() in docs, (
        "docs/exports.md's table of columns differs from annotations/rating_row.py: paste the output of "
        "`.venv/bin/python -c 'from annotations.rating_row import column_table; print(column_table())'`")
