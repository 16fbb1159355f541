"""What one row of a study's ratings is, in long format: a rating (one response x one
dimension of a submission) with its submission, case, rater, response (and that
response's generation provenance), the rank the submission gave the response, the
automatic readings of the response and the adjudication of a harm flag. The exports
(``annotations/exports.py``: CSV, JSON Lines, Parquet), the API's ratings
(``annotations/api/serializers/ratings.py`` ``RatingSerializer``) and the statistics'
frames (``selectors/analysis.py`` ``rating_frames``) all read their fields from here.

A rankings row (``RANKING_ROW``: one per submission x response, the ranking a Bradley-Terry
or Plackett-Luce model reads) is the same row without the fields of one dimension."""

from __future__ import annotations

from dataclasses import dataclass

# Where a field's value is read, and its path from a Rating row as the ORM reads it.
PART_PREFIX = {
    "rating": "",  # the rating's own columns
    # What the rater's screen held: read on the row's own query, through annotations named
    # after the fields (selectors/exports.py ``ratings_ranked``); a rankings row is the
    # Preference itself, whose own column ``rank`` is.
    "screen": "",
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
    per_dimension: bool = False  # one rubric dimension's: not on a rankings row

    @property
    def orm_path(self) -> str:
        """The value's path from a Rating row, for ``values_list`` (None where worked out)."""
        prefix = PART_PREFIX[self.part]
        return None if prefix is None else prefix + self.path

    @property
    def key(self) -> str:
        return self.api_name or self.name


def _f(name, part, path, kind, api_name="", help="", per_dimension=False):  # noqa: A002 - the field's help text
    assert part in PART_PREFIX and kind in KINDS and help, (name, part, kind)
    return RatingField(name, part, path, kind, api_name, help, per_dimension)


# In the order of the exports' columns. Fields added after the exports' first columns
# come last, so a reader of an older export finds every column where it was.
RATING_ROW = (
    _f("rating_id", "rating", "id", "int64", "id", "The rating's id.", per_dimension=True),
    _f("submission_id", "rating", "submission_id", "int64", "submission",
       "The submission (one revision of a rater's judgment of a case)."),
    _f("response_id", "rating", "response_id", "int64", "response", "The rated response."),
    _f("slot", "rating", "slot", "int16", help="The response's place on the rater's screen (0 = Response A)."),
    _f("slot_letter", "derived", "", "text", help="The response's letter as the rater saw it (A, B, C...)."),
    _f("dimension", "rating", "dimension", "text", help="The rubric dimension's key.", per_dimension=True),
    _f("score", "rating", "score", "float", help="A Likert answer; empty for a choice, a flag or cannot judge.",
       per_dimension=True),
    _f("choice", "rating", "choice", "text",
       help="A categorical answer, a flag's yes or no, or cannot_judge where the rater answered that; "
            "empty for a Likert score.", per_dimension=True),
    _f("note", "rating", "note", "text", help="The reason the rater gave for a harm flag, as typed.",
       per_dimension=True),
    _f("revision", "submission", "revision", "int16", help="1 for the submission, 2 and up for each correction."),
    _f("is_current", "submission", "is_current", "bool", help="Whether this revision is the case's current one."),
    _f("assignment_id", "submission", "assignment_id", "int64", "assignment",
       "The assignment (one rater's task to rate one case)."),
    _f("rater", "submission", "assignment__rater__username", "text",
       help="The clinician the assignment belongs to."),
    _f("submitted_by", "submission", "submitted_by__username", "text",
       help="Who stored this revision (the rater, or whoever corrected it)."),
    _f("comment", "submission", "comment", "text", help="The rater's comment on the case, as typed."),
    _f("revision_reason", "submission", "reason", "text", help="Why a correction was made, as typed."),
    _f("shown_at", "submission", "assignment__shown_at", "time", help="When the case was first shown to the rater."),
    _f("first_input_at", "submission", "assignment__first_input_at", "time",
       help="When the rater first answered anything on the case."),
    _f("submitted_at", "submission", "submitted_at", "time", help="When this revision was stored."),
    _f("active_seconds", "submission", "assignment__active_seconds", "float",
       help="Seconds the rating page was visible and in use (counted by the page, bounded by the server's clock), "
            "the rater's own corrections of the case included."),
    _f("case_external_id", "response", "case__external_id", "text", help="The case's id in its case file."),
    _f("task", "response", "case__task", "text", help="The case's task type."),
    _f("category", "response", "case__category", "text", help="The task type's category."),
    _f("gold_behavior", "response", "case__gold_behavior", "text", help="The case's gold behavior."),
    _f("gold_label", "response", "case__gold_label", "text", help="The case's gold label."),
    _f("arm", "response", "arm__name", "text", "arm_name", "The name of the arm that wrote the response."),
    _f("arm_method", "response", "arm__method", "text", help="The arm's method (baseline, behavior_sft...)."),
    _f("job_id", "response", "job_id", "int64", help="The generation job that wrote the response."),
    _f("predicted_behavior", "response", "predicted_behavior", "text",
       help="The behavior token the response began with, where it had one."),
    _f("completion_tokens", "response", "completion_tokens", "int32", help="The response's length in tokens."),
    _f("gen_base_hash", "provenance", "base_hash", "text", help="Generation provenance: the base model's hash."),
    _f("gen_adapter_hash", "provenance", "adapter_hash", "text", help="Generation provenance: the adapter's hash."),
    _f("gen_decoding", "provenance", "decoding", "text", help="Generation provenance: the decoding settings (JSON)."),
    _f("gen_seed", "provenance", "seed", "int64", help="Generation provenance: the seed."),
    _f("gen_template_version", "provenance", "template_version", "text",
       help="Generation provenance: the prompt template's version."),
    _f("gen_worker_host", "provenance", "worker_host", "text", help="Generation provenance: the worker's host."),
    _f("gen_device", "provenance", "device", "text", help="Generation provenance: the worker's device."),
    _f("automatic_intervention", "reading", "", "text",
       help="The terms' (ConText) reading of the response on the intervention scale (under, appropriate, over); "
            "null where it says nothing."),
    _f("judge_intervention", "reading", "", "text",
       help="The LLM judge's planted reading of the response on the same scale (the study's chosen judge job, "
            "else its newest that read planted problems); null where no judge read it."),
    _f("harm_decision", "harm", "decision", "text",
       help="On a harm flag: the adjudication (confirmed, not_harmful, unclear), or null while undecided.",
       per_dimension=True),
    _f("harm_note", "harm", "note", "text", help="On a harm flag: the adjudicator's note.", per_dimension=True),
    _f("harm_decided_by", "harm", "decided_by__username", "text", help="On a harm flag: who adjudicated it.",
       per_dimension=True),
    _f("harm_decided_at", "harm", "decided_at", "time", help="On a harm flag: when it was adjudicated.",
       per_dimension=True),
    _f("study", "submission", "assignment__study__slug", "text", help="The study's slug."),
    _f("case_id", "submission", "assignment__case_id", "int64", "case", "The case's id in the portal."),
    _f("rater_id", "submission", "assignment__rater_id", "int64", help="The rater's user id."),
    _f("arm_id", "response", "arm_id", "int64", "arm", "The arm's id."),
    _f("rank", "screen", "rank", "int16",
       help="The rank this submission gave the response among those on its screen (1 = best; equal ranks "
            "are ties); empty where the study does not rank."),
    _f("responses_shown", "screen", "responses_shown", "int16",
       help="How many responses the rater's screen showed side by side (2 in a pairwise study)."),
    _f("case_role", "response", "case__role", "text",
       help="The case's role: study, or gold (mixed blind into the queues and scored against its expected "
            "answers; the analysis leaves gold cases out)."),
    _f("finish_reason", "response", "finish_reason", "text",
       help="Why the response ended: stop (the model ended it), length (cut at the token limit), or what the "
            "inference server said; empty where nothing was recorded."),
)
FIELDS = {field.name: field for field in RATING_ROW}
COLUMNS = [field.name for field in RATING_ROW]
# One row per submission x response: the ranking, with everything the rating row knows of
# the submission, case, rater and response.
RANKING_ROW = tuple(field for field in RATING_ROW if not field.per_dimension)


def part_fields(part: str, row=RATING_ROW) -> list[RatingField]:
    """The fields of ``row`` read from one part, in the row's order."""
    return [field for field in row if field.part == part]


def rating_paths(names) -> list[str]:
    """The ORM paths, from a Rating row, of the fields named (each a stored one)."""
    return [FIELDS[name].orm_path for name in names]


_DOC_TYPES = {"int16": "integer", "int32": "integer", "int64": "integer", "float": "number", "text": "text",
              "bool": "true/false", "time": "time (UTC)"}


def column_table() -> str:
    """The columns of both exports as a Markdown table, for docs/exports.md (a test keeps
    the two the same)."""
    lines = ["| column | in rankings | API key | type | what it holds |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| `{f.name}` | {'' if f.per_dimension else 'yes'} | {f'`{f.key}`' if f.key != f.name else ''} "
              f"| {_DOC_TYPES[f.kind]} | {f.help} |" for f in RATING_ROW]
    return "\n".join(lines)
