"""Serializers of ratings and assignments.

Blinding: ``BlindedAssignmentSerializer`` is the only serializer a clinician ever gets.
It carries slot letters and blinded texts, never a response, arm or job id, arm or
model name, behavior token or gold label."""

from __future__ import annotations

import json

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from annotations.api.serializers.fields import AssignmentStatusField
from annotations.models import Assignment, Preference, Rating
from annotations.rating_input import slot_letter
from annotations.rating_row import FIELDS, RANKING_ROW, RATING_ROW, RatingField
from annotations.selectors.rating import blind_text
from annotations.selectors.readings import readings_of_ratings
from annotations.selectors.responses import response_arms, response_texts
from modeling.behavior import SILENT_TEXT

# --- ratings ----------------------------------------------------------------------------

_RATING_API_FIELDS = {"int16": serializers.IntegerField, "int32": serializers.IntegerField,
                      "int64": serializers.IntegerField, "float": serializers.FloatField,
                      "text": serializers.CharField, "bool": serializers.BooleanField,
                      "time": serializers.DateTimeField}


def _rating_api_field(field: RatingField) -> serializers.Field:
    """The API's field for one field of the rating row: read where the export reads it."""
    kind = _RATING_API_FIELDS[field.kind]
    if field.part in ("rating", "screen", "submission", "response", "harm"):
        # Past the rating's own columns a value may be missing (no harm decision, a case
        # released from its rater, a study that does not rank): null.
        nullable = {} if field.part == "rating" and field.kind != "float" else {"allow_null": True}
        source = field.orm_path.replace("__", ".")
        if source != field.key:  # DRF refuses a source that repeats the name
            nullable["source"] = source
        return kind(read_only=True, help_text=field.help or None, **nullable)
    return serializers.SerializerMethodField(help_text=field.help or None)


class RatingSerializer(serializers.Serializer):
    """One row per rating (response x dimension of a submission), long format: the fields
    of ``annotations/rating_row.py``, as the exports have them (a few under the names the
    API gave them first), read from ratings with their screen's fields
    (``selectors/exports.py`` ``ratings_ranked``). The readings come from the view's
    context (one read per page)."""

    row = RATING_ROW

    def get_fields(self):
        return {field.key: _rating_api_field(field) for field in self.row}

    def _provenance(self, rating: Rating | Preference, name: str):
        """A key of the response's provenance, as the export reads it (a number, or text:
        JSON for what is not)."""
        value = (rating.response.provenance or {}).get(FIELDS[name].path)
        if FIELDS[name].kind == "int64":
            return value if isinstance(value, int) and not isinstance(value, bool) else None
        return value if value is None or isinstance(value, str) else json.dumps(value)

    def _reading(self, rating: Rating | Preference, index: int) -> str | None:
        readings = self.context.get("readings")
        if readings is None:
            readings = readings_of_ratings([rating])
        return readings.get(rating.response_id, (None, None))[index]

    @extend_schema_field(OpenApiTypes.STR)
    def get_slot_letter(self, rating: Rating | Preference) -> str:
        return slot_letter(rating.slot)

    @extend_schema_field({"type": "string", "nullable": True})
    def get_automatic_intervention(self, rating: Rating | Preference) -> str | None:
        return self._reading(rating, 0)

    @extend_schema_field({"type": "string", "nullable": True})
    def get_judge_intervention(self, rating: Rating | Preference) -> str | None:
        return self._reading(rating, 1)


def _provenance_getter(name: str):
    def get(self, rating: Rating):
        return self._provenance(rating, name)

    kind = {"int64": {"type": "integer", "nullable": True}}.get(FIELDS[name].kind, {"type": "string", "nullable": True})
    return extend_schema_field(kind)(get)


for _field in RATING_ROW:
    if _field.part == "provenance":
        setattr(RatingSerializer, f"get_{_field.key}", _provenance_getter(_field.name))


class RankingSerializer(RatingSerializer):
    """One row per response of a submission, with the rank it was given: the rating row
    without the fields of one dimension (``RANKING_ROW``), read from ``Preference`` rows
    (``selectors/exports.py`` ``rankings_for_team``)."""

    row = RANKING_ROW


# --- assignments --------------------------------------------------------------------------

class BlindedCaseSerializer(serializers.Serializer):
    """What the rating page shows of a case: no id, task, category or gold label."""

    specialty = serializers.CharField()
    turns = serializers.JSONField()
    tables = serializers.JSONField()
    images = serializers.JSONField()


class BlindedSlotSerializer(serializers.Serializer):
    letter = serializers.CharField(help_text="A, B, C... in the order shown to the rater.")
    text = serializers.CharField(help_text=f'The response as the rater sees it ("{SILENT_TEXT}" when empty).')


class BlindedAssignmentSerializer(serializers.ModelSerializer):
    """A clinician's own assignment, blinded."""

    study = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    status = AssignmentStatusField(read_only=True)
    case = BlindedCaseSerializer(read_only=True)
    slots = serializers.SerializerMethodField()

    class Meta:
        model = Assignment
        fields = ["id", "study", "status", "created_at", "shown_at", "first_input_at", "last_activity_at",
                  "submitted_at", "case", "slots"]
        read_only_fields = fields

    @extend_schema_field(BlindedSlotSerializer(many=True))
    def get_slots(self, assignment: Assignment) -> list[dict]:
        texts = self.context.get("response_texts")
        if texts is None:
            texts = response_texts(assignment.slots)
        return [{"letter": slot_letter(i), "text": blind_text(texts.get(rid, ""))}
                for i, rid in enumerate(assignment.slots)]


class UnblindedSlotSerializer(serializers.Serializer):
    slot = serializers.IntegerField(read_only=True)
    letter = serializers.CharField(read_only=True)
    response = serializers.IntegerField(read_only=True)
    arm = serializers.IntegerField(read_only=True, allow_null=True)
    arm_name = serializers.CharField(read_only=True, allow_null=True)


class AssignmentSerializer(serializers.ModelSerializer):
    """Any assignment, unblinded (researchers and admins)."""

    study = serializers.SlugRelatedField(slug_field="slug", read_only=True)
    case_external_id = serializers.CharField(source="case.external_id", read_only=True)
    rater = serializers.SlugRelatedField(slug_field="username", read_only=True)
    status = AssignmentStatusField(read_only=True)
    slots = serializers.SerializerMethodField()

    class Meta:
        model = Assignment
        fields = ["id", "study", "case", "case_external_id", "rater", "status", "square_row", "queue_position",
                  "created_at", "shown_at", "first_input_at", "last_activity_at", "submitted_at", "active_seconds",
                  "slots"]
        read_only_fields = fields

    @extend_schema_field(UnblindedSlotSerializer(many=True))
    def get_slots(self, assignment: Assignment) -> list[dict]:
        arms = self.context.get("response_arms")
        if arms is None:
            arms = response_arms(assignment.slots)
        return [{"slot": i, "letter": slot_letter(i), "response": rid,
                 "arm": arms.get(rid, (None, None))[0], "arm_name": arms.get(rid, (None, None))[1]}
                for i, rid in enumerate(assignment.slots)]
