"""Case import: streamed (memory does not grow with the file), all or nothing, idempotent,
every problem named by line and field; cases without a split get a seeded one,
stratified by task and gold label. What a good file should still be told (planted terms
its own case text holds, sex and pronoun clashes: modeling/case_checks.py) comes back as
warnings, counted in full and listed up to WARNING_EXAMPLES."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import BinaryIO

from django.db import connection, transaction
from django.utils import timezone
from psycopg.copy import QueuedLibpqWriter

from annotations.models import Case, Study
from annotations.services.audit import audit_record
from evalportal import sql
from modeling.case_checks import WarningReport
from modeling.cases import CaseError, CaseFileError, CaseStream, case_fingerprint
from modeling.splits import DEFAULT_SPLIT_FRACTIONS, assign_splits

CASE_FIELDS = ("task", "category", "specialty", "split", "turns", "tables", "images", "question",
               "gold_behavior", "label_space", "gold_label", "reference_response", "metadata", "planted_problem")
JSON_FIELDS = ("turns", "tables", "images", "label_space", "metadata", "planted_problem")
_encode_json = json.JSONEncoder(ensure_ascii=False).encode  # made once: json.dumps makes one a call
BATCH = 5000

ImportProgress = Callable[[int, int], None]  # (bytes read, bytes in all), once every BATCH lines


@dataclass(frozen=True)
class CaseImportResult:
    created: int
    unchanged: int
    assigned_splits: dict[str, int] = field(default_factory=dict)  # split -> cases given it
    split_seed: int | None = None
    # WarningReport.as_dict() over every case of the file: {"total", "cases", "by_kind",
    # "summary", "examples"} (the first WARNING_EXAMPLES); empty when nothing to warn about
    warnings: dict = field(default_factory=dict)

    @property
    def warning_lines(self) -> list[str]:
        """The warnings listed (the first WARNING_EXAMPLES), each naming its line and case."""
        return list(self.warnings.get("examples") or [])

    @property
    def message(self) -> str:
        warned = f" Warnings: {self.warnings['summary']}" if self.warnings else ""
        if self.created == 0:
            return f"Nothing changed: all {self.unchanged:,} cases were already imported.{warned}"
        tail = f"; {self.unchanged:,} already imported, left as they were" if self.unchanged else ""
        text = f"Imported {self.created:,} new cases{tail}."
        if self.assigned_splits:
            shares = ", ".join(f"{n:,} {split}" for split, n in self.assigned_splits.items())
            text += (f" {sum(self.assigned_splits.values()):,} of them came without a split and were assigned "
                     f"one within each task and gold label (seed {self.split_seed}): {shares}.")
        return text + warned


def case_import(*, study: Study, data: bytes | None = None, stream: BinaryIO | None = None, actor=None,
                source_name: str = "", size: int | None = None, progress: ImportProgress | None = None
                ) -> CaseImportResult:
    """Import a JSON Lines case file (``data``, or a binary ``stream`` of ``size`` bytes)
    into a study, in one transaction.

    Raises CaseFileError (nothing written) when any line is bad or a case id already in
    the study has different content.
    """
    if stream is None:
        stream, size = io.BytesIO(data or b""), len(data or b"")
    reader = CaseStream(stream, registry=study.task_registry())
    warnings = WarningReport()
    with transaction.atomic():
        # Lock the study row so two concurrent imports cannot both create the same ids.
        Study.objects.select_for_update().get(pk=study.pk)
        before = Case.objects.filter(study=study).order_by("-pk").values_list("pk", flat=True).first() or 0
        existing = dict(Case.objects.filter(study=study).values_list("external_id", "content_hash")
                        .iterator(chunk_size=20000))
        unchanged = 0
        with _writer(study) as writer:
            for line, case in reader:
                if not reader.n_errors:  # a file with a bad line is refused: no warning would be shown
                    warnings.check(line, case)
                fingerprint = case_fingerprint(case)
                known = existing.get(case["external_id"])
                if known is None:
                    if not reader.n_errors:  # once a line is bad nothing is written; reading goes on for the report
                        writer.add(case, fingerprint)
                elif known != fingerprint:
                    reader.add_error(CaseError(line, "external_id",
                                               f"{case['external_id']!r} is already in study {study.slug!r} with "
                                               "different content; give the changed case a new external_id"))
                else:
                    unchanged += 1
                if progress is not None and reader.n_lines % BATCH == 0:
                    progress(reader.bytes_read, size or reader.bytes_read)
            reader.raise_errors()
        assigned = _assign_splits(study, after_pk=before)
        result = CaseImportResult(created=writer.written, unchanged=unchanged, assigned_splits=assigned,
                                  split_seed=study.seed if assigned else None, warnings=warnings.as_dict())
        audit_record(actor=actor, action="cases.import", obj=study,
                     summary=f"{source_name or 'upload'}: {result.message}",
                     after={"created": result.created, "unchanged": result.unchanged, "source": source_name,
                            "assigned_splits": assigned, "split_seed": result.split_seed,
                            "warnings": result.warnings})
    if result.created >= sql.BULK_LOAD_ROWS:
        sql.statistics_refresh(Case)
    if progress is not None:
        progress(reader.bytes_read, size or reader.bytes_read)
    return result


def _assign_splits(study: Study, *, after_pk: int) -> dict[str, int]:
    """Give the cases this import added without a split one: ``assign_splits`` under the
    study's seed, the split the command-line tools make of the same file; cases imported
    earlier keep theirs."""
    rows = list(Case.objects.filter(study=study, pk__gt=after_pk, split_assigned=True).values_list(
        "pk", "external_id", "task", "gold_label").iterator(chunk_size=20000))
    pk_of = {external_id: pk for pk, external_id, _, _ in rows}
    splits = assign_splits(((external_id, task, label) for _, external_id, task, label in rows), seed=study.seed)
    counts: dict[str, int] = {}
    for split in DEFAULT_SPLIT_FRACTIONS:
        ids = [pk_of[external_id] for external_id, s in splits.items() if s == split]
        for start in range(0, len(ids), 10_000):
            Case.objects.filter(pk__in=ids[start:start + 10_000]).update(split=split)
        if ids:
            counts[split] = len(ids)
    return counts


EMPTY_JSON = {"tables": [], "images": [], "metadata": {}, "planted_problem": {}}


def _values(case: dict, fingerprint: str) -> dict:
    values = {name: case.get(name) for name in CASE_FIELDS if name in case}
    for name, empty in EMPTY_JSON.items():
        values.setdefault(name, empty)
    values["specialty"] = values.get("specialty") or ""
    values["reference_response"] = values.get("reference_response") or ""
    values["split_assigned"] = "split" not in case
    values.setdefault("split", Case.Split.TEST)  # until _assign_splits gives it one
    return {"external_id": case["external_id"], "content_hash": fingerprint, **values}


class _BulkWriter:
    """Writes cases in batches with the ORM (SQLite and other databases). A context
    manager: what is still pending is written when the block ends, dropped when it fails."""

    def __init__(self, study: Study):
        self.study, self.rows, self.written = study, [], 0

    def __enter__(self):
        return self

    def __exit__(self, kind, error, tb) -> None:
        if kind is None:
            self.flush()

    def add(self, case: dict, fingerprint: str) -> None:
        self.rows.append(_values(case, fingerprint))
        if len(self.rows) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if self.rows:
            Case.objects.bulk_create([Case(study=self.study, **values) for values in self.rows], batch_size=1000)
            self.written += len(self.rows)
            self.rows = []


class _CopyWriter(_BulkWriter):
    """Writes cases with PostgreSQL's COPY, one COPY for the whole import, fed from a
    thread (psycopg's queued writer), so the server stores one batch while this process
    parses the next: on a large file the ORM's bulk insert took longer than the rest of
    the import (ARCHITECTURE.md has the figures)."""

    # COPY fills no column default: every column without a value from the file is named here.
    COLUMNS = ("study", "external_id", "content_hash", *CASE_FIELDS, "split_assigned", "in_rating_sample", "role",
               "expected", "created_at")

    def __enter__(self):
        self.now = timezone.now()
        self._stack = ExitStack()
        raw = self._stack.enter_context(connection.cursor()).cursor
        columns = ", ".join(sql.column(Case, name) for name in self.COLUMNS)
        self._copy = self._stack.enter_context(
            raw.copy(f"COPY {sql.table(Case)} ({columns}) FROM STDIN", writer=QueuedLibpqWriter(raw)))
        return self

    def __exit__(self, kind, error, tb) -> None:
        # With an error the COPY is abandoned (the server drops what it had), so the
        # transaction can roll back.
        self._stack.__exit__(kind, error, tb)

    def add(self, case: dict, fingerprint: str) -> None:
        values = _values(case, fingerprint)
        for name in JSON_FIELDS:
            values[name] = _encode_json(values[name])
        self._copy.write_row([self.study.pk, *(values.get(name) for name in self.COLUMNS[1:-4]), False,
                              Case.Role.STUDY.value, "{}", self.now])
        self.written += 1


def _writer(study: Study) -> _BulkWriter:
    return _CopyWriter(study) if connection.vendor == "postgresql" else _BulkWriter(study)


__all__ = ["CaseFileError", "CaseImportResult", "case_import"]
