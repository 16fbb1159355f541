"""JSON Lines output files that the CLIs append to, so that a run cut short resumes."""

from __future__ import annotations

import json
from pathlib import Path


def read_resumable_jsonl(path: Path) -> list[dict]:
    """The rows of a JSON Lines output file that a CLI appends to (none if it is absent),
    up to the first line a crash cut short."""
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                break  # a line cut short by a crash: everything after it is redone
    return rows
