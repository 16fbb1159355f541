"""What the ratings exports read (``annotations/exports.py``), each part of a rating row
(``annotations/rating_row.py``) as tuples from a chunked cursor: the rating's own fields,
and its submission's, its response's and its flag's adjudication, each read once."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from django.db.models import BigIntegerField
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from annotations.models import HarmDecision, Rating, Response, Study, Submission
from annotations.rating_row import RatingField


def rating_rows(study: Study, fields: Sequence[RatingField], *, current_only: bool,
                chunk_rows: int) -> Iterator[tuple]:
    """The study's ratings in id order (current revisions only unless asked), as tuples
    of ``fields`` (the rating's own)."""
    ratings = Rating.objects.filter(submission__assignment__study=study).order_by("id")
    if current_only:
        ratings = ratings.filter(submission__is_current=True)
    return ratings.values_list(*[field.path for field in fields]).iterator(chunk_size=chunk_rows)


def submission_rows(study: Study, fields: Sequence[RatingField], *, current_only: bool) -> Iterator[tuple]:
    """(submission id, *``fields``) of each of the study's submissions."""
    submissions = Submission.objects.filter(assignment__study=study)
    if current_only:
        submissions = submissions.filter(is_current=True)
    return submissions.values_list("id", *[field.path for field in fields]).iterator(chunk_size=5000)


def response_rows(study: Study, fields: Sequence[RatingField]) -> Iterator[tuple]:
    """(response id, *``fields``) of each response to the study's cases; the provenance
    fields are keys of the response's provenance, read as text in SQL (decoding each
    response's whole JSON document in Python costs more memory than the rest of the
    export)."""
    provenance = {}
    for field in fields:
        if field.part == "provenance":
            text = KT(f"provenance__{field.path}")
            provenance[field.name] = Cast(text, BigIntegerField()) if field.kind == "int64" else text
    paths = [field.name if field.part == "provenance" else field.path for field in fields]
    return (Response.objects.filter(case__study=study).annotate(**provenance).values_list("id", *paths)
            .iterator(chunk_size=5000))


def harm_decision_rows(study: Study, fields: Sequence[RatingField]) -> dict[int, tuple]:
    """Rating id -> ``fields`` of its adjudication, for every adjudicated flag of the study."""
    return {row[0]: row[1:] for row in HarmDecision.objects.filter(rating__submission__assignment__study=study)
            .values_list("rating_id", *[field.path for field in fields])}
