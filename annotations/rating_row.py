"""What one row of a study's ratings is, in long format: a rating (one response x one
dimension of a submission) with its submission, case, rater, response (and that
response's generation provenance), the automatic readings of the response and the
adjudication of a harm flag. The exports (``annotations/exports.py``: CSV, JSON Lines,
Parquet), the API's ratings (``annotations/api/serializers/ratings.py`` ``RatingSerializer``)
and the statistics' frames (``selectors/analysis.py`` ``rating_frames``) all read their
fields from here."""

from __future__ import annotations

from dataclasses import dataclass

# Where a field's value is read, and its path from a Rating row as the ORM reads it.
PART_PREFIX = {
    "rating": "",  # the rating's own columns
    "submission": "submission__",  # its submission (and through it, the assignment, case and rater)
    "response": "response__",  # the rated response (its case and arm)
    "provenance": "response__provenance__",  # a key of the response's generation provenance
    "harm": "harm_decision__",  # the adjudication of a flag, where there is one
    "reading": None,  # worked out from the response: the automatic readings (selectors/readings.py)
    "derived": None,  # worked out from the row itself
}
# Value kinds: each export and the API map them to their own types.
KINDS = ("int16", "int32", "int64", "float", "text", "bool", "time")


@dataclass(frozen=True)
class RatingField:
    name: str  # the column of every export
    part: str  # a key of PART_PREFIX
    path: str  # within the part: a path the ORM reads, or a provenance key; "" where worked out
    kind: str
    api_name: str = ""  # the API's key, where it was named otherwise before the exports' names were shared
    help: str = ""

    @property
    def orm_path(self) -> str:
        """The value's path from a Rating row, for ``values_list`` (None where worked out)."""
        prefix = PART_PREFIX[self.part]
        return None if prefix is None else prefix + self.path

    @property
    def key(self) -> str:
        return self.api_name or self.name


def _f(name, part, path, kind, api_name="", help=""):  # noqa: A002 - the field's help text
    assert part in PART_PREFIX and kind in KINDS, (name, part, kind)
    return RatingField(name, part, path, kind, api_name, help)


# In the order of the exports' columns. Fields added after the exports' first columns
# come last, so a reader of an older export finds every column where it was.
RATING_ROW = (
    _f("rating_id", "rating", "id", "int64", "id"),
    _f("submission_id", "rating", "submission_id", "int64", "submission"),
    _f("response_id", "rating", "response_id", "int64", "response"),
    _f("slot", "rating", "slot", "int16"),
    _f("slot_letter", "derived", "", "text", help="The response's letter as the rater saw it (A, B, C...)."),
    _f("dimension", "rating", "dimension", "text"),
    _f("score", "rating", "score", "float"),
    _f("choice", "rating", "choice", "text"),
    _f("note", "rating", "note", "text"),
    _f("revision", "submission", "revision", "int16"),
    _f("is_current", "submission", "is_current", "bool"),
    _f("assignment_id", "submission", "assignment_id", "int64", "assignment"),
    _f("rater", "submission", "assignment__rater__username", "text",
       help="The clinician the assignment belongs to."),
    _f("submitted_by", "submission", "submitted_by__username", "text",
       help="Who stored this revision (the rater, or whoever corrected it)."),
    _f("comment", "submission", "comment", "text"),
    _f("revision_reason", "submission", "reason", "text"),
    _f("shown_at", "submission", "assignment__shown_at", "time"),
    _f("first_input_at", "submission", "assignment__first_input_at", "time"),
    _f("submitted_at", "submission", "submitted_at", "time"),
    _f("active_seconds", "submission", "assignment__active_seconds", "float"),
    _f("case_external_id", "response", "case__external_id", "text"),
    _f("task", "response", "case__task", "text"),
    _f("category", "response", "case__category", "text"),
    _f("gold_behavior", "response", "case__gold_behavior", "text"),
    _f("gold_label", "response", "case__gold_label", "text"),
    _f("arm", "response", "arm__name", "text", "arm_name"),
    _f("arm_method", "response", "arm__method", "text"),
    _f("job_id", "response", "job_id", "int64"),
    _f("predicted_behavior", "response", "predicted_behavior", "text"),
    _f("completion_tokens", "response", "completion_tokens", "int32"),
    _f("gen_base_hash", "provenance", "base_hash", "text"),
    _f("gen_adapter_hash", "provenance", "adapter_hash", "text"),
    _f("gen_decoding", "provenance", "decoding", "text"),
    _f("gen_seed", "provenance", "seed", "int64"),
    _f("gen_template_version", "provenance", "template_version", "text"),
    _f("gen_worker_host", "provenance", "worker_host", "text"),
    _f("gen_device", "provenance", "device", "text"),
    _f("automatic_intervention", "reading", "", "text",
       help="The terms' (ConText) reading of the response on the intervention scale (under, appropriate, over); "
            "null where it says nothing."),
    _f("judge_intervention", "reading", "", "text",
       help="The LLM judge's planted reading of the response on the same scale (the study's chosen judge job, "
            "else its newest that read planted problems); null where no judge read it."),
    _f("harm_decision", "harm", "decision", "text",
       help="On a harm flag: the adjudication (confirmed, not_harmful, unclear), or null while undecided."),
    _f("harm_note", "harm", "note", "text"),
    _f("harm_decided_by", "harm", "decided_by__username", "text"),
    _f("harm_decided_at", "harm", "decided_at", "time"),
    _f("study", "submission", "assignment__study__slug", "text"),
    _f("case_id", "submission", "assignment__case_id", "int64", "case"),
    _f("rater_id", "submission", "assignment__rater_id", "int64"),
    _f("arm_id", "response", "arm_id", "int64", "arm"),
)
FIELDS = {field.name: field for field in RATING_ROW}
COLUMNS = [field.name for field in RATING_ROW]


def part_fields(part: str) -> list[RatingField]:
    """The fields read from one part of the row, in the row's order."""
    return [field for field in RATING_ROW if field.part == part]


def rating_paths(names) -> list[str]:
    """The ORM paths, from a Rating row, of the fields named (each a stored one)."""
    return [FIELDS[name].orm_path for name in names]
