"""Streamed exports of ratings in long format (CSV, JSON Lines, Parquet). Rows come from
a database cursor in chunks and leave as bytes in chunks, so memory stays flat whatever
the size of the study."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from django.db.models import BigIntegerField
from django.db.models.fields.json import KT
from django.db.models.functions import Cast

from annotations.models import HarmDecision, Rating, Response, Study, Submission
from annotations.selectors.readings import planted_reading_job, response_readings

# Each output row is a rating joined with its submission, case, response (with that
# response's generation provenance) and rater. Ratings stream from a chunked cursor; the
# joined parts are read once into Arrow tables (one row per submission or response,
# about a twentieth of the ratings) and gathered per chunk with ``take``, so the
# per-rating work in Python is only the cursor's tuples. Every format is written by a
# C++ writer from the same Arrow record batches.
_RATING_FIELDS = [("rating_id", "id", pa.int64()), ("submission_id", "submission_id", pa.int64()),
                  ("response_id", "response_id", pa.int64()), ("slot", "slot", pa.int16()),
                  ("dimension", "dimension", pa.string()), ("score", "score", pa.float64()),
                  ("choice", "choice", pa.string()), ("note", "note", pa.string())]
_SUBMISSION_FIELDS = [
    ("revision", "revision", pa.int16()), ("is_current", "is_current", pa.bool_()),
    ("assignment_id", "assignment_id", pa.int64()), ("rater", "assignment__rater__username", pa.string()),
    ("submitted_by", "submitted_by__username", pa.string()),
    ("comment", "comment", pa.string()), ("revision_reason", "reason", pa.string()),
    ("shown_at", "assignment__shown_at", pa.timestamp("us", tz="UTC")),
    ("first_input_at", "assignment__first_input_at", pa.timestamp("us", tz="UTC")),
    ("submitted_at", "submitted_at", pa.timestamp("us", tz="UTC")),
    ("active_seconds", "assignment__active_seconds", pa.float64()),
]
_RESPONSE_FIELDS = [
    ("case_external_id", "case__external_id", pa.string()), ("task", "case__task", pa.string()),
    ("category", "case__category", pa.string()), ("gold_behavior", "case__gold_behavior", pa.string()),
    ("gold_label", "case__gold_label", pa.string()), ("arm", "arm__name", pa.string()),
    ("arm_method", "arm__method", pa.string()), ("job_id", "job_id", pa.int64()),
    ("predicted_behavior", "predicted_behavior", pa.string()),
    ("completion_tokens", "completion_tokens", pa.int32()),
]
_PROVENANCE_FIELDS = [
    ("gen_base_hash", "base_hash", pa.string()), ("gen_adapter_hash", "adapter_hash", pa.string()),
    ("gen_decoding", "decoding", pa.string()), ("gen_seed", "seed", pa.int64()),
    ("gen_template_version", "template_version", pa.string()), ("gen_worker_host", "worker_host", pa.string()),
    ("gen_device", "device", pa.string()),
]
# A flag's adjudication (empty on every other row): few rows, read whole into a dict.
_HARM_FIELDS = [("harm_decision", "decision", pa.string()), ("harm_note", "note", pa.string()),
                ("harm_decided_by", "decided_by__username", pa.string()),
                ("harm_decided_at", "decided_at", pa.timestamp("us", tz="UTC"))]
# The automatic reading of the rated response on the clinicians' intervention scale
# (under / appropriate / over; empty where it says nothing): the terms' (ConText), and the
# LLM judge's planted reading where a judge job read the response (the study's chosen
# job, else its newest that read planted problems; selectors/readings.py).
_READING_FIELDS = [("automatic_intervention", pa.string()), ("judge_intervention", pa.string())]
_SLOT_LETTER = ("slot_letter", pa.string())
SCHEMA = pa.schema([(n, t) for n, _, t in _RATING_FIELDS[:4]] + [_SLOT_LETTER]
                   + [(n, t) for n, _, t in _RATING_FIELDS[4:]] + [(n, t) for n, _, t in _SUBMISSION_FIELDS]
                   + [(n, t) for n, _, t in _RESPONSE_FIELDS] + [(n, t) for n, _, t in _PROVENANCE_FIELDS]
                   + _READING_FIELDS + [(n, t) for n, _, t in _HARM_FIELDS])
COLUMNS = SCHEMA.names
FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson",
           "parquet": "application/vnd.apache.parquet"}
CHUNK_ROWS = 10_000
_LETTERS = pa.array([chr(65 + i) for i in range(26)])


def _lookup(rows: Iterable[tuple], fields: list[tuple]) -> tuple[dict[int, int], pa.Table]:
    """(id -> row number, Arrow table of the other fields), built 5,000 rows at a time so
    the Python objects of a whole table never live at once."""
    schema = pa.schema([(name, kind) for name, _, kind in fields])
    index: dict[int, int] = {}
    batches = []
    for chunk in _chunks(rows, 5_000):
        for row in chunk:
            index[row[0]] = len(index)
        columns = list(zip(*chunk))[1:]
        batches.append(pa.record_batch([pa.array(v, type=f.type) for v, f in zip(columns, schema)], schema=schema))
    return index, pa.Table.from_batches(batches, schema=schema).combine_chunks()


def _submission_table(study: Study, current_only: bool) -> tuple[dict[int, int], pa.Table]:
    queryset = Submission.objects.filter(assignment__study=study)
    if current_only:
        queryset = queryset.filter(is_current=True)
    rows = queryset.values_list("id", *[path for _, path, _ in _SUBMISSION_FIELDS]).iterator(chunk_size=5000)
    return _lookup(rows, _SUBMISSION_FIELDS)


def _response_rows(study: Study) -> Iterator[tuple]:
    # Provenance keys are read as text in SQL: decoding each response's whole JSON
    # document in Python costs more memory than the rest of the export.
    provenance = {f"gen_{key}": KT(f"provenance__{key}") for _, key, kind in _PROVENANCE_FIELDS}
    provenance["gen_seed"] = Cast(KT("provenance__seed"), BigIntegerField())
    return (Response.objects.filter(case__study=study).annotate(**provenance)
            .values_list("id", *[path for _, path, _ in _RESPONSE_FIELDS], *provenance)
            .iterator(chunk_size=5000))


def export_batches(study: Study, *, current_only: bool = True, chunk_rows: int = CHUNK_ROWS
                   ) -> Iterator[pa.RecordBatch]:
    """The export as Arrow record batches of at most ``chunk_rows`` ratings, in ``SCHEMA``."""
    sub_index, submissions = _submission_table(study, current_only)
    resp_index, responses = _lookup(_response_rows(study), _RESPONSE_FIELDS + _PROVENANCE_FIELDS)
    ratings = Rating.objects.filter(submission__assignment__study=study).order_by("id")
    if current_only:
        ratings = ratings.filter(submission__is_current=True)
    cursor = ratings.values_list(*[path for _, path, _ in _RATING_FIELDS]).iterator(chunk_size=chunk_rows)
    harms = {row[0]: row[1:] for row in HarmDecision.objects.filter(rating__submission__assignment__study=study)
             .values_list("rating_id", *[path for _, path, _ in _HARM_FIELDS])}
    no_harm = (None,) * len(_HARM_FIELDS)
    # Each rated response is read once, when its first rating is exported (a chunk's new
    # responses in one query), so the first bytes leave before the whole study is read.
    judge_job = planted_reading_job(study)
    readings: dict[int, tuple] = {}
    no_reading = (None, None)
    for chunk in _chunks(cursor, chunk_rows):
        core = [pa.array(values, type=kind) for (_, _, kind), values in zip(_RATING_FIELDS, zip(*chunk))]
        sub_rows = pa.array([sub_index[row[1]] for row in chunk], type=pa.int64())
        resp_rows = pa.array([resp_index[row[2]] for row in chunk], type=pa.int64())
        letters = _LETTERS.take(core[3].cast(pa.int64()))
        harm_values = list(zip(*[harms.get(row[0], no_harm) for row in chunk]))
        harm_arrays = [pa.array(values, type=kind) for (_, _, kind), values in zip(_HARM_FIELDS, harm_values)]
        new = {row[2] for row in chunk} - readings.keys()
        if new:
            readings.update(response_readings(study, Response.objects.filter(pk__in=new), judge_job=judge_job))
        reading_values = list(zip(*[readings.get(row[2], no_reading) for row in chunk]))
        reading_arrays = [pa.array(values, type=kind) for (_, kind), values in zip(_READING_FIELDS, reading_values)]
        arrays = [*core[:4], letters, *core[4:], *submissions.take(sub_rows).columns,
                  *responses.take(resp_rows).columns, *reading_arrays, *harm_arrays]
        yield pa.RecordBatch.from_arrays([a.combine_chunks() if isinstance(a, pa.ChunkedArray) else a
                                          for a in arrays], schema=SCHEMA)


def export_rows(study: Study, *, current_only: bool = True) -> Iterator[dict]:
    """The export row by row, as dicts (for scripts and tests)."""
    for batch in export_batches(study, current_only=current_only):
        yield from batch.to_pylist()


def _chunks(rows: Iterable[tuple], size: int) -> Iterator[list[tuple]]:
    chunk: list[tuple] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _Sink(io.RawIOBase):
    """A write-only file whose written bytes are taken out after each batch."""

    def __init__(self):
        self.parts: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


# A spreadsheet runs a cell that starts with one of these as a formula (OWASP's "CSV
# injection"): a comment "=HYPERLINK(...)" would run on a researcher's machine. Such a
# text is written with a leading apostrophe, which spreadsheets show as text.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_FORMULA_START_RE = "^[" + "".join("\\" + c if c in "-\\" else c for c in FORMULA_STARTS) + "]"


def spreadsheet_safe(value):
    """A CSV cell's value with a text that a spreadsheet would run as a formula made inert."""
    return "'" + value if isinstance(value, str) and value.startswith(FORMULA_STARTS) else value


def _spreadsheet_safe_column(column: pa.Array) -> pa.Array:
    """:func:`spreadsheet_safe` over an Arrow text column."""
    risky = pc.match_substring_regex(column, _FORMULA_START_RE)
    return pc.if_else(risky, pc.binary_join_element_wise("'", column, ""), column)


# CSV carries timestamps as text: see _csv_batch.
CSV_SCHEMA = pa.schema([pa.field(f.name, pa.string()) if pa.types.is_timestamp(f.type) else f for f in SCHEMA])


def _csv_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """Text columns spreadsheet-safe, and timestamp columns as ISO text, each distinct
    value formatted once: a batch holds the times of a few hundred submissions repeated
    over their ratings, and formatting every row's timestamps was most of the CSV
    writer's time."""
    columns = []
    for column in batch.columns:
        if pa.types.is_timestamp(column.type):
            encoded = column.dictionary_encode()
            column = encoded.dictionary.cast(pa.string()).take(encoded.indices)
        elif pa.types.is_string(column.type):
            column = _spreadsheet_safe_column(column)
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, schema=CSV_SCHEMA)


def stream_csv(batches: Iterable[pa.RecordBatch]) -> Iterator[bytes]:
    sink = _Sink()
    writer = pa_csv.CSVWriter(sink, CSV_SCHEMA)
    for batch in batches:
        writer.write_batch(_csv_batch(batch))
        yield sink.take()
    writer.close()
    yield sink.take()


def stream_jsonl(batches: Iterable[pa.RecordBatch]) -> Iterator[bytes]:
    for batch in batches:
        # Timestamps as text first: pandas' JSON writer is far slower on datetime columns.
        columns = [c.cast(pa.string()) if pa.types.is_timestamp(c.type) else c for c in batch.columns]
        # Integer columns with empty cells stay integers (ids and seeds above 2^53 would
        # lose digits as floats).
        frame = pa.RecordBatch.from_arrays(columns, names=batch.schema.names).to_pandas(integer_object_nulls=True)
        text = frame.to_json(orient="records", lines=True, force_ascii=False)
        yield (text if text.endswith("\n") else text + "\n").encode("utf-8")


def stream_parquet(batches: Iterable[pa.RecordBatch]) -> Iterator[bytes]:
    sink = _Sink()
    writer = pq.ParquetWriter(sink, SCHEMA, compression="zstd")
    for batch in batches:
        writer.write_batch(batch)
        yield sink.take()
    writer.close()
    yield sink.take()


STREAMERS = {"csv": stream_csv, "jsonl": stream_jsonl, "parquet": stream_parquet}
