"""What the exports read (``annotations/exports.py``), each part of a rating row
(``annotations/rating_row.py``) as tuples from a chunked cursor: the rating's own fields
(or a ranking's own), and its submission's, its response's and its flag's adjudication,
each read once."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from django.db.models import BigIntegerField, F, FilteredRelation, Func, PositiveSmallIntegerField, Q, QuerySet
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from annotations.models import HarmDecision, Preference, Rating, Response, Study, Submission
from annotations.rating_row import RatingField


class _JSONArrayLength(Func):
    function = "jsonb_array_length"  # PostgreSQL's; SQLite's below
    output_field = PositiveSmallIntegerField()

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, function="json_array_length", **extra_context)


def _responses_shown(queryset: QuerySet) -> QuerySet:
    """Rows of a submission's (ratings or rankings) with ``responses_shown``: the length of
    the assignment's slots, the responses its screen showed."""
    return queryset.annotate(responses_shown=_JSONArrayLength("submission__assignment__slots"))


def ratings_ranked(ratings: QuerySet) -> QuerySet:
    """Ratings with the rating row's screen fields (``annotations/rating_row.py``): the rank
    the rating's submission gave its response (joined on (submission, response), the
    unique key of ``Preference``: at most one row, None where the study does not rank),
    and the number of responses shown."""
    ranked = ratings.annotate(
        response_preference=FilteredRelation("submission__preferences",
                                             condition=Q(submission__preferences__response_id=F("response_id"))),
        rank=F("response_preference__rank"))
    return _responses_shown(ranked)


def _revisions(rows: QuerySet, current_only: bool) -> QuerySet:
    """A submission's rows (ratings or rankings): of current revisions only, unless asked."""
    return rows.filter(submission__is_current=True) if current_only else rows


def _streamed(rows: QuerySet, fields: Sequence[RatingField], chunk_rows: int) -> Iterator[tuple]:
    return rows.values_list(*[field.path for field in fields]).iterator(chunk_size=chunk_rows)


def rating_rows(study: Study, fields: Sequence[RatingField], *, current_only: bool,
                chunk_rows: int) -> Iterator[tuple]:
    """The study's ratings in id order (current revisions only unless asked), as tuples
    of ``fields`` (the rating's own and its screen's)."""
    ratings = Rating.objects.filter(submission__assignment__study=study).order_by("id")
    return _streamed(ratings_ranked(_revisions(ratings, current_only)), fields, chunk_rows)


def rankings_of(preferences: QuerySet) -> QuerySet:
    """Rankings (``Preference`` rows) with the screen's other field, the number of
    responses shown."""
    return _responses_shown(preferences)


def rankings_for_team() -> QuerySet:
    """Every ranking, unblinded, with its submission, assignment, case, rater and response
    (researchers and admins: the API's rankings), as ``selectors/studies.py``
    ``ratings_for_team`` reads the ratings."""
    return rankings_of(Preference.objects.select_related(
        "submission__assignment__study", "submission__assignment__case", "submission__assignment__rater",
        "submission__submitted_by", "response__arm", "response__case",
    ).order_by("submission_id", "slot"))


def ranking_rows(study: Study, fields: Sequence[RatingField], *, current_only: bool,
                 chunk_rows: int) -> Iterator[tuple]:
    """The ranks the study's submissions gave their responses, by submission and slot
    (current revisions only unless asked), as tuples of ``fields`` (the ranking's own
    and its screen's)."""
    preferences = Preference.objects.filter(submission__assignment__study=study).order_by("submission_id", "slot")
    return _streamed(rankings_of(_revisions(preferences, current_only)), fields, chunk_rows)


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
