"""The BehaviorBench case format (JSON Lines, one case a line), shared by the portal's
import and by the modeling CLIs.

The JSON Schema lives beside this file (``case.schema.json``); this module adds the
checks a schema cannot express (task registry, gold label in label space, duplicate
ids) and names the line and field of every problem.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

import jsonschema
import jsonschema_rs

from modeling.json_text import MAX_NESTING, json_path, loads_json, may_be_unstorable
from modeling.json_text import storable_problems as json_storable_problems
from modeling.planted import echoable_terms, term_problems
from modeling.task_types import DEFAULT_TASKS, FLAG_LABELS, TaskType

SCHEMA_PATH = Path(__file__).with_name("case.schema.json")
MAX_LINE_BYTES = 1_000_000
# The errors a CaseFileError keeps to show; the count covers them all.
MAX_ERRORS_KEPT = 1000


@dataclass(frozen=True)
class CaseError:
    line: int  # 1-based; 0 for problems with the file as a whole
    field: str  # JSON path such as "turns[2].text"; "" for the whole line
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        if self.field:
            where += f", field '{self.field}'"
        return f"{where}: {self.message}"


class CaseFileError(ValueError):
    """Raised with the problems found in a case file (the first MAX_ERRORS_KEPT of them,
    and how many there were); nothing should be imported."""

    def __init__(self, errors: list[CaseError], total: int | None = None):
        self.errors = errors[:MAX_ERRORS_KEPT]
        self.total = max(total or 0, len(errors))
        shown = "\n".join(str(e) for e in errors[:50])
        more = f"\n... and {self.total - 50:,} more" if self.total > 50 else ""
        super().__init__(f"{self.total:,} problem(s) in the case file:\n{shown}{more}")


@lru_cache(maxsize=1)
def case_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(case_schema())


@lru_cache(maxsize=1)
def _fast_validator():
    """The same schema checked by jsonschema-rs, far faster than the Python validator,
    so a large file of good cases is checked quickly; the Python validator only runs on
    bad lines, for its messages."""

    return jsonschema_rs.validator_for(case_schema())


def loads_case_line(raw: str):
    """One line as JSON, refusing what the database could not store as given: NaN and
    Infinity, numbers too large for a float, and a key twice in one object."""
    return loads_json(raw)


def storable_problems(value: Any, line: int) -> list[CaseError]:
    """What in a parsed line no database column could keep as it is (see
    :mod:`modeling.json_text`), each naming its field."""
    return [CaseError(line, place, message) for place, message in json_storable_problems(value)]


def validate_case(case: Any, line: int, registry: Mapping[str, TaskType] = DEFAULT_TASKS, *,
                  raw_text: str | None = None) -> list[CaseError]:
    """Every problem with one parsed case, each naming its field (``raw_text``, the line
    it was parsed from, lets the check for what no database can store be skipped when
    the text cannot hold any of it)."""
    if not isinstance(case, dict):
        return [CaseError(line, "", f"expected a JSON object, got {type(case).__name__}")]
    storable = storable_problems(case, line) if raw_text is None or may_be_unstorable(raw_text) else []
    if storable:
        return storable
    errors = []
    schema_errors = [] if _fast_validator().is_valid(case) else _validator().iter_errors(case)
    for err in sorted(schema_errors, key=lambda e: list(e.absolute_path)):
        field = json_path(err.absolute_path)
        if err.validator == "required":
            missing = err.message.split("'")[1] if "'" in err.message else ""
            field = f"{field}.{missing}" if field and missing else (missing or field)
            errors.append(CaseError(line, field, "is required"))
        elif err.validator == "additionalProperties":
            errors.append(CaseError(line, field, err.message))
        else:
            errors.append(CaseError(line, field, err.message))
    if errors:
        return errors
    task = registry.get(case["task"])
    if task is None:
        known = ", ".join(sorted(registry))
        return [CaseError(line, "task", f"unknown task {case['task']!r} (known: {known})")]
    if case["category"] != task.category:
        errors.append(CaseError(line, "category",
                                f"task {task.name!r} is {task.category!r}, not {case['category']!r}"))
    if case["gold_label"] not in case["label_space"]:
        errors.append(CaseError(line, "gold_label",
                                f"{case['gold_label']!r} is not in label_space {case['label_space']}"))
    if task.extractor == "flag" and set(case["label_space"]) != set(FLAG_LABELS):
        errors.append(CaseError(line, "label_space", f"task {task.name!r} uses labels {list(FLAG_LABELS)}"))
    elif task.extractor != "flag" and not set(case["label_space"]) <= set(task.label_space):
        errors.append(CaseError(line, "label_space",
                                f"labels outside task {task.name!r}'s label space {list(task.label_space)}"))
    errors += _planted_problems(case, task, line)
    return errors


def _planted_problems(case: Mapping, task: TaskType, line: int) -> list[CaseError]:
    """A planted problem where the case plants none, terms that would match anything, or an
    ``asserts`` entry that the case text already contains (echoing the case would assert it)."""
    planted = case.get("planted_problem")
    if planted is None:
        return []
    if task.extractor == "flag" and case["gold_label"] != "flag":
        return [CaseError(line, "planted_problem", "a sound case (gold_label 'no_flag') plants no problem; "
                                                   "remove planted_problem or make gold_label 'flag'")]
    errors = [CaseError(line, "planted_problem.terms", p) for p in term_problems(planted["terms"])]
    errors += [CaseError(line, "planted_problem.asserts", p) for p in term_problems(planted.get("asserts") or [])]
    if errors:
        return errors
    asserts = planted.get("asserts") or []
    echoed = [entry for entry in echoable_terms({"asserts": asserts}, case)]
    return [CaseError(line, f"planted_problem.asserts[{asserts.index(entry)}]",
                      f"{entry!r} stands in the case text, so a response that echoes the case would assert it; "
                      "name what to do or what is wrong in words the case does not use") for entry in echoed]


# One encoder, made once: json.dumps with options builds a new one on every call, which
# was a third of the encoding time of an import.
canonical_json = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode


def case_fingerprint(case: Mapping) -> str:
    """A stable hash of a case's content (key order and whitespace do not matter): the
    SHA-256 of its canonical JSON (keys sorted at every level, no spaces)."""
    return hashlib.sha256(canonical_json(case).encode("utf-8")).hexdigest()


class CaseStream:
    """A JSON Lines case file read from a binary stream one line at a time, so memory
    does not grow with the file. Iterating yields ``(line number, case)`` for every good
    line; every bad line (not UTF-8, too long, not JSON, invalid, a duplicate id) is
    recorded in :attr:`errors` (the first MAX_ERRORS_KEPT) and counted in
    :attr:`n_errors`. :meth:`raise_errors` then raises CaseFileError if there were any, or
    if the file held no case at all. Blank lines are skipped."""

    def __init__(self, stream: BinaryIO, registry: Mapping[str, TaskType] = DEFAULT_TASKS,
                 max_line_bytes: int = MAX_LINE_BYTES):
        self.stream, self.registry, self.max_line_bytes = stream, registry, max_line_bytes
        self.errors: list[CaseError] = []
        self.n_errors = 0
        self.n_lines = 0  # non-blank lines
        self.bytes_read = 0
        self._first_line_of: dict[str, int] = {}

    def add_error(self, error: CaseError) -> None:
        self.n_errors += 1
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(error)

    def _lines(self) -> Iterator[tuple[int, bytes | None]]:
        """(number, raw bytes without the line break) per line; None for a line longer
        than the limit, which is skipped without being held in memory."""
        number = 0
        while True:
            raw = self.stream.readline(self.max_line_bytes + 2)
            if not raw:
                return
            number += 1
            self.bytes_read += len(raw)
            if not raw.endswith(b"\n") and len(raw) > self.max_line_bytes:
                while True:  # the rest of the over-long line
                    rest = self.stream.readline(1 << 20)
                    self.bytes_read += len(rest)
                    if not rest or rest.endswith(b"\n"):
                        break
                yield number, None
                continue
            yield number, raw.rstrip(b"\r\n")

    def __iter__(self) -> Iterator[tuple[int, dict]]:
        for number, raw in self._lines():
            if raw is None:
                self.n_lines += 1
                self.add_error(CaseError(number, "", f"line is longer than {self.max_line_bytes:,} bytes"))
                continue
            if number == 1 and raw.startswith(b"\xef\xbb\xbf"):  # a byte-order mark
                raw = raw[3:]
            if not raw.strip():
                continue
            self.n_lines += 1
            case = self._case(number, raw)
            if case is not None:
                yield number, case

    def _case(self, number: int, raw: bytes) -> dict | None:
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.add_error(CaseError(number, "", f"not UTF-8 text (byte {exc.start + 1} of the line: {exc.reason}); "
                                                 "save the file as UTF-8"))
            return None
        try:
            case = loads_case_line(text)
        except json.JSONDecodeError as exc:
            line_errors = [CaseError(number, "", f"not valid JSON ({exc.msg} at column {exc.colno})")]
        except RecursionError:
            line_errors = [CaseError(number, "", f"nested more than {MAX_NESTING} levels deep")]
        except ValueError as exc:  # NaN, an out-of-range number, an integer of thousands of digits
            line_errors = [CaseError(number, "", f"not valid JSON ({exc})")]
        else:
            line_errors = validate_case(case, number, self.registry, raw_text=text)
        for error in line_errors:
            self.add_error(error)
        if line_errors:
            return None
        external_id = case["external_id"]
        first = self._first_line_of.setdefault(external_id, number)
        if first != number:
            self.add_error(CaseError(number, "external_id", f"duplicate external_id {external_id!r} "
                                                            f"(first on line {first})"))
            return None
        return case

    def raise_errors(self) -> None:
        if self.n_errors:
            raise CaseFileError(self.errors, total=self.n_errors)
        if not self.n_lines:
            raise CaseFileError([CaseError(0, "", "the file is empty: expected one JSON case per line")])


def parse_cases(data: bytes, registry: Mapping[str, TaskType] = DEFAULT_TASKS,
                max_line_bytes: int = MAX_LINE_BYTES) -> list[dict]:
    """Parse and validate a whole JSON Lines file. Blank lines are skipped.

    Raises CaseFileError listing every problem; returns the cases only when there are none.
    """
    return [case for _, case in parse_case_lines(data, registry, max_line_bytes)]


def parse_case_lines(data: bytes, registry: Mapping[str, TaskType] = DEFAULT_TASKS,
                     max_line_bytes: int = MAX_LINE_BYTES) -> list[tuple[int, dict]]:
    """Like :func:`parse_cases`, with each case's 1-based line number."""
    reader = CaseStream(io.BytesIO(data), registry, max_line_bytes)
    cases = list(reader)
    reader.raise_errors()
    return cases


def read_cases(path: str | Path, registry: Mapping[str, TaskType] = DEFAULT_TASKS) -> list[dict]:
    return parse_cases(Path(path).read_bytes(), registry)
