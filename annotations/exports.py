"""Streamed exports of a study's ratings in long format, and of its rankings (CSV, JSON
Lines, Parquet). Rows come from a database cursor in chunks and leave as bytes in chunks,
so memory stays flat whatever the size of the study."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from annotations.models import Study
from annotations.rating_row import RANKING_ROW, RATING_ROW, RatingField, part_fields
from annotations.selectors.exports import (
    harm_decision_rows,
    ranking_rows,
    rating_rows,
    response_rows,
    submission_rows,
)
from annotations.selectors.readings import planted_reading_job, readings_of_responses

# Each output row is a rating (or a ranking) joined with its submission, case, response
# (with that response's generation provenance) and rater: the fields of
# ``annotations/rating_row.py``, in its order. Ratings stream from a chunked cursor; the
# joined parts are read once into Arrow tables (one row per submission or response, about
# a twentieth of the ratings) and gathered per chunk with ``take``, so the per-rating work
# in Python is only the cursor's tuples. Every format is written by a C++ writer from the
# same Arrow record batches.
ARROW_TYPES = {"int16": pa.int16(), "int32": pa.int32(), "int64": pa.int64(), "float": pa.float64(),
               "text": pa.string(), "bool": pa.bool_(), "time": pa.timestamp("us", tz="UTC")}


def _arrow_schema(fields) -> pa.Schema:
    return pa.schema([(field.name, ARROW_TYPES[field.kind]) for field in fields])


@dataclass(frozen=True)
class ExportRows:
    """One export's rows: the fields of its row and where its own ones are read."""

    row: tuple[RatingField, ...]
    own_rows: Callable[..., Iterator[tuple]]  # selectors/exports.py: (study, fields, *, current_only, chunk_rows)

    @property
    def own_fields(self) -> list[RatingField]:
        # The row's own columns first (its submission and response ids among them), then its screen's.
        return part_fields("rating", self.row) + part_fields("screen", self.row)

    @property
    def schema(self) -> pa.Schema:
        return _arrow_schema(self.row)


EXPORTS = {"ratings": ExportRows(RATING_ROW, rating_rows), "rankings": ExportRows(RANKING_ROW, ranking_rows)}
_SUBMISSION_FIELDS = part_fields("submission")
_RESPONSE_FIELDS = part_fields("response") + part_fields("provenance")
# A flag's adjudication (empty on every other row): few rows, read whole into a dict.
_HARM_FIELDS = part_fields("harm")
# The automatic reading of the rated response on the clinicians' intervention scale
# (under / appropriate / over; empty where it says nothing): the terms' (ConText), and the
# LLM judge's planted reading where a judge job read the response (the study's chosen
# job, else its newest that read planted problems; selectors/readings.py).
_READING_FIELDS = part_fields("reading")
SCHEMA = EXPORTS["ratings"].schema
COLUMNS = SCHEMA.names
FORMATS = {"csv": "text/csv; charset=utf-8", "jsonl": "application/x-ndjson",
           "parquet": "application/vnd.apache.parquet"}
CHUNK_ROWS = 10_000
_LETTERS = pa.array([chr(65 + i) for i in range(26)])


def _lookup(rows: Iterable[tuple], fields) -> tuple[dict[int, int], pa.Table]:
    """(id -> row number, Arrow table of the other fields), built 5,000 rows at a time so
    the Python objects of a whole table never live at once."""
    schema = _arrow_schema(fields)
    index: dict[int, int] = {}
    batches = []
    for chunk in _chunks(rows, 5_000):
        for row in chunk:
            index[row[0]] = len(index)
        columns = list(zip(*chunk))[1:]
        batches.append(pa.record_batch([pa.array(v, type=f.type) for v, f in zip(columns, schema)], schema=schema))
    return index, pa.Table.from_batches(batches, schema=schema).combine_chunks()


def export_batches(study: Study, *, rows: str = "ratings", current_only: bool = True,
                   chunk_rows: int = CHUNK_ROWS) -> Iterator[pa.RecordBatch]:
    """The export ``rows`` (a key of ``EXPORTS``) as Arrow record batches of at most
    ``chunk_rows`` rows, in its schema."""
    export = EXPORTS[rows]
    own_fields, schema = export.own_fields, export.schema
    sub_index, submissions = _lookup(submission_rows(study, _SUBMISSION_FIELDS, current_only=current_only),
                                     _SUBMISSION_FIELDS)
    resp_index, responses = _lookup(response_rows(study, _RESPONSE_FIELDS), _RESPONSE_FIELDS)
    cursor = export.own_rows(study, own_fields, current_only=current_only, chunk_rows=chunk_rows)
    harm_fields = part_fields("harm", export.row)
    harms = harm_decision_rows(study, _HARM_FIELDS) if harm_fields else {}
    no_harm = (None,) * len(_HARM_FIELDS)
    own_index = {field.name: i for i, field in enumerate(own_fields)}
    submission_at, response_at = own_index["submission_id"], own_index["response_id"]
    # Each rated response is read once, when its first row is exported (a chunk's new
    # responses in one query), so the first bytes leave before the whole study is read.
    judge_job = planted_reading_job(study)
    readings: dict[int, tuple] = {}
    no_reading = (None,) * len(_READING_FIELDS)
    for chunk in _chunks(cursor, chunk_rows):
        columns = {field.name: pa.array(values, type=ARROW_TYPES[field.kind])
                   for field, values in zip(own_fields, zip(*chunk))}
        columns["slot_letter"] = _LETTERS.take(columns["slot"].cast(pa.int64()))
        sub_rows = pa.array([sub_index[row[submission_at]] for row in chunk], type=pa.int64())
        resp_rows = pa.array([resp_index[row[response_at]] for row in chunk], type=pa.int64())
        columns.update(zip(submissions.column_names, submissions.take(sub_rows).columns))
        columns.update(zip(responses.column_names, responses.take(resp_rows).columns))
        if harm_fields:
            rating_at = own_index["rating_id"]
            harm_values = zip(*[harms.get(row[rating_at], no_harm) for row in chunk])
            columns.update((field.name, pa.array(values, type=ARROW_TYPES[field.kind]))
                           for field, values in zip(_HARM_FIELDS, harm_values))
        new = {row[response_at] for row in chunk} - readings.keys()
        if new:
            readings.update(readings_of_responses(study, new, judge_job=judge_job))
        reading_values = zip(*[readings.get(row[response_at], no_reading) for row in chunk])
        columns.update((field.name, pa.array(values, type=ARROW_TYPES[field.kind]))
                       for field, values in zip(_READING_FIELDS, reading_values))
        yield pa.RecordBatch.from_arrays([_one_chunk(columns[name]) for name in schema.names], schema=schema)


def _one_chunk(array):
    return array.combine_chunks() if isinstance(array, pa.ChunkedArray) else array


def export_rows(study: Study, *, rows: str = "ratings", current_only: bool = True) -> Iterator[dict]:
    """The export row by row, as dicts (for scripts and tests)."""
    for batch in export_batches(study, rows=rows, current_only=current_only):
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


class ByteSink(io.RawIOBase):
    """A write-only, unseekable file whose written bytes are taken out as they come
    (after each batch of an export; ``zipfile`` writes to it with data descriptors), so
    a streamed download holds only what was written since the last take."""

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


def _csv_schema(schema: pa.Schema) -> pa.Schema:
    """CSV carries timestamps as text: see _csv_batch."""
    return pa.schema([pa.field(f.name, pa.string()) if pa.types.is_timestamp(f.type) else f for f in schema])


def _csv_batch(batch: pa.RecordBatch, csv_schema: pa.Schema) -> pa.RecordBatch:
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
    return pa.RecordBatch.from_arrays(columns, schema=csv_schema)


def stream_csv(batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> Iterator[bytes]:
    sink = ByteSink()
    csv_schema = _csv_schema(schema)
    writer = pa_csv.CSVWriter(sink, csv_schema)
    for batch in batches:
        writer.write_batch(_csv_batch(batch, csv_schema))
        yield sink.take()
    writer.close()
    yield sink.take()


def stream_jsonl(batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> Iterator[bytes]:
    # Each line names its own keys: the schema is the batches' own.
    for batch in batches:
        # Timestamps as text first: pandas' JSON writer is far slower on datetime columns.
        columns = [c.cast(pa.string()) if pa.types.is_timestamp(c.type) else c for c in batch.columns]
        # Integer columns with empty cells stay integers (ids and seeds above 2^53 would
        # lose digits as floats).
        frame = pa.RecordBatch.from_arrays(columns, names=batch.schema.names).to_pandas(integer_object_nulls=True)
        text = frame.to_json(orient="records", lines=True, force_ascii=False)
        yield (text if text.endswith("\n") else text + "\n").encode("utf-8")


def stream_parquet(batches: Iterable[pa.RecordBatch], schema: pa.Schema) -> Iterator[bytes]:
    sink = ByteSink()
    writer = pq.ParquetWriter(sink, schema, compression="zstd")
    for batch in batches:
        writer.write_batch(batch)
        yield sink.take()
    writer.close()
    yield sink.take()


STREAMERS = {"csv": stream_csv, "jsonl": stream_jsonl, "parquet": stream_parquet}


def export_stream(study: Study, *, rows: str, fmt: str, current_only: bool = True) -> Iterator[bytes]:
    """The export ``rows`` (a key of ``EXPORTS``) in the format ``fmt`` (a key of
    ``FORMATS``), as bytes in chunks."""
    return STREAMERS[fmt](export_batches(study, rows=rows, current_only=current_only), EXPORTS[rows].schema)
