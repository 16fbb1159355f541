"""The DPO pairs of a study as a download (JSON Lines or Parquet), streamed in chunks as
the other exports are (``annotations/exports.py``): the rows of
``selectors/preference_pairs.py`` ``dpo_pairs``, one per kept (case, chosen, rejected)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pyarrow as pa

from annotations.analysis.dpo_pairs import DpoRules
from annotations.exports import stream_parquet
from annotations.models import Study
from annotations.selectors.preference_pairs import dpo_pair_batches

DPO_FORMATS = {"jsonl": "application/x-ndjson", "parquet": "application/vnd.apache.parquet"}
_MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
# TRL's conversational preference columns, then where each pair comes from.
DPO_SCHEMA = pa.schema([
    ("prompt", _MESSAGES), ("chosen", _MESSAGES), ("rejected", _MESSAGES),
    ("case_id", pa.string()), ("chosen_arm", pa.string()), ("rejected_arm", pa.string()),
    ("chosen_response", pa.int64()), ("rejected_response", pa.int64()), ("raters", pa.int32()),
    ("agreement", pa.float64()), ("rater_ids", pa.list_(pa.string())),
])


def _jsonl(batches: Iterator[list[dict]]) -> Iterator[bytes]:
    for batch in batches:
        yield "".join(json.dumps(pair, ensure_ascii=False) + "\n" for pair in batch).encode("utf-8")


def _parquet(batches: Iterator[list[dict]]) -> Iterator[bytes]:
    return stream_parquet((pa.RecordBatch.from_pylist(batch, schema=DPO_SCHEMA) for batch in batches), DPO_SCHEMA)


def dpo_pairs_stream(study: Study, *, rules: DpoRules, fmt: str) -> Iterator[bytes]:
    """The study's DPO pairs under ``rules`` in the format ``fmt`` (a key of
    ``DPO_FORMATS``), as bytes in chunks."""
    return {"jsonl": _jsonl, "parquet": _parquet}[fmt](dpo_pair_batches(study, rules=rules))
