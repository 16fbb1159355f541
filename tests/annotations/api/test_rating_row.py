"""A rating row is one definition (annotations/rating_row.py): the API's ratings and the
exports carry the same fields with the same values, a few under the API's own names."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from django.utils import timezone

from annotations.exports import COLUMNS, export_rows
from annotations.models import HarmDecision, Rating, Response
from annotations.rating_row import RATING_ROW

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def _same(exported, shown, name: str) -> bool:
    if name == "gen_decoding":  # JSON text: spaced as each database writes it
        return json.loads(exported) == json.loads(shown)
    if isinstance(exported, datetime):
        return shown is not None and datetime.fromisoformat(shown.replace("Z", "+00:00")) == exported
    return exported == shown


def test_the_api_and_the_export_give_the_same_row(rated_submissions, researcher_api, researcher):
    Response.objects.update(provenance={"base_hash": "b" * 12, "seed": 7, "decoding": {"max_new_tokens": 9},
                                        "device": "cpu"})
    rating = Rating.objects.filter(submission__is_current=True).order_by("id").first()
    HarmDecision.objects.create(rating=rating, decision="unclear", note="a note", decided_by=researcher,
                                decided_at=timezone.now())
    exported = {row["rating_id"]: row for row in export_rows(rated_submissions)}
    shown, page = {}, {"next": "/api/ratings/"}
    while page["next"]:
        page = researcher_api.get(page["next"]).json()
        shown.update((row["id"], row) for row in page["results"])
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
