"""The registry of BehaviorBench task types: name -> category, label space and how a
label is read from a free-text response.

A study may add task types (``Study.extra_tasks``); they are merged over the defaults
with :func:`build_registry`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

CATEGORIES = ("reactive", "balanced", "proactive")
FLAG_LABELS = ("flag", "no_flag")
OPTION_LABELS = ("A", "B", "C", "D")

@dataclass(frozen=True)
class TaskType:
    name: str
    category: str
    label_space: tuple[str, ...]
    # "flag": a response that raises something reads as "flag", silence or restraint as
    # "no_flag" (modeling/reading.py). "option": the first standalone option letter. "regex": the first
    # group of ``label_pattern``.
    extractor: str
    label_pattern: str = ""
    description: str = ""
    default_label: str | None = field(default=None)

    def __post_init__(self) -> None:
        if self.category not in CATEGORIES:
            raise ValueError(f"task {self.name!r}: unknown category {self.category!r}")
        if self.extractor not in ("flag", "option", "regex"):
            raise ValueError(f"task {self.name!r}: unknown extractor {self.extractor!r}")
        if self.extractor == "regex" and not self.label_pattern:
            raise ValueError(f"task {self.name!r}: extractor 'regex' needs label_pattern")


DEFAULT_TASKS: dict[str, TaskType] = {
    t.name: t
    for t in (
        TaskType("omission_detection", "proactive", FLAG_LABELS, "flag",
                 description="Notice what the team left out of a group decision."),
        TaskType("error_correction", "proactive", FLAG_LABELS, "flag",
                 description="Notice and correct an error in what was said or ordered."),
        TaskType("consistency_check", "proactive", FLAG_LABELS, "flag",
                 description="Notice data that conflict with each other or with the plan."),
        TaskType("ddx_reasoning", "reactive", OPTION_LABELS, "option",
                 description="Answer a differential-diagnosis question."),
        TaskType("temporal_ordering", "reactive", OPTION_LABELS, "option",
                 description="Put clinical events in the right order when asked."),
        TaskType("image_reasoning", "reactive", OPTION_LABELS, "option",
                 description="Answer a question about an image described in the case."),
        TaskType("treatment_planning", "balanced", OPTION_LABELS, "option",
                 description="Answer the treatment question and raise what else matters."),
        TaskType("medication_review", "balanced", OPTION_LABELS, "option",
                 description="Answer a medication question and raise any interaction or dose issue."),
        TaskType("discharge_planning", "balanced", OPTION_LABELS, "option",
                 description="Answer the discharge question and raise what is still open."),
    )
}


TASKS_FILE_HELP = ("a JSON file of the data's own task types, a list of {name, category, label_space, extractor, "
                   "...} (the format of a study's task types), added to the built-in ones")


def registry_from_file(path: str | Path | None) -> dict[str, TaskType]:
    """The built-in task types plus those the JSON file at ``path`` declares (none: the
    built-in ones). Raises ValueError naming the file when it cannot be read as task types."""
    if path is None:
        return dict(DEFAULT_TASKS)
    try:
        return build_registry(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: not a task type list ({exc})") from None


def build_registry(extra: Iterable[Mapping] | None = None) -> dict[str, TaskType]:
    """Default task types plus a study's own (dicts with TaskType's fields)."""
    registry = dict(DEFAULT_TASKS)
    for spec in extra or ():
        spec = dict(spec)
        spec["label_space"] = tuple(spec.get("label_space", ()))
        task = TaskType(**spec)
        registry[task.name] = task
    return registry


_OPTION_RE_CACHE: dict[tuple[str, ...], re.Pattern] = {}


def _option_pattern(labels: tuple[str, ...]) -> re.Pattern:
    pattern = _OPTION_RE_CACHE.get(labels)
    if pattern is None:
        alternatives = "|".join(re.escape(label) for label in sorted(labels, key=len, reverse=True))
        # "B", "B)", "(B)", "B.", "Answer: B", "option B" - a letter standing alone.
        pattern = re.compile(rf"(?<![A-Za-z0-9])\(?({alternatives})(?![A-Za-z0-9])")
        _OPTION_RE_CACHE[labels] = pattern
    return pattern


def _option_marker(label: str) -> re.Pattern:
    # "A", "(A)", "A)", "A.", "A:" standing alone and followed by the option's text.
    return re.compile(rf"(?<![A-Za-z0-9])\(?{re.escape(label)}(?:\)|\.|:)?\s+(?=\S)")


def parse_options(question: str, labels: Iterable[str] = OPTION_LABELS) -> dict[str, str]:
    """The options a question lists, {letter: text}: "A hypothyroidism, B primary adrenal
    insufficiency, C SIADH or D anorexia nervosa?", "(A) ... (B) ...", "A) ...\nB) ...".
    Empty when fewer than two consecutive options are found."""
    labels = list(labels)
    if len(labels) < 2 or not question:
        return {}
    starts: list[tuple[int, int]] = []  # (marker start, text start) per label
    # The second label's first marker preceded by a first-label marker anchors the list;
    # the first label is its last marker before that (so "A 45-year-old ..." is skipped).
    first_marks = list(_option_marker(labels[0]).finditer(question))
    for second in _option_marker(labels[1]).finditer(question):
        before = [m for m in first_marks if m.end() <= second.start()]
        if before:
            starts = [(before[-1].start(), before[-1].end()), (second.start(), second.end())]
            break
    if not starts:
        return {}
    for label in labels[2:]:
        match = _option_marker(label).search(question, starts[-1][1])
        if match is None:
            break
        starts.append((match.start(), match.end()))
    options = {}
    for i, (_, text_start) in enumerate(starts):
        end = starts[i + 1][0] if i + 1 < len(starts) else len(question)
        text = question[text_start:end]
        if i + 1 == len(starts):
            text = re.split(r"[?\n]", text, maxsplit=1)[0]
        text = re.sub(r"(?:[\s,;.?]|\bor\b|\band\b)+$", "", text.strip(), flags=re.IGNORECASE).strip()
        if text:
            options[labels[i]] = text
    return options if len(options) >= 2 else {}


def _option_by_text(options: Mapping[str, str], text: str) -> str | None:
    """The one option whose text the response mentions; None if none or several."""
    found = set()
    lowered = text.lower()
    for label, option in options.items():
        if len(option) >= 3 and re.search(rf"(?<![a-z0-9]){re.escape(option.lower())}(?![a-z0-9])", lowered):
            found.add(label)
    # An option contained in another ("anaemia" in "iron deficiency anaemia") is not a second hit.
    found = {a for a in found if not any(a != b and options[a].lower() in options[b].lower() for b in found)}
    return found.pop() if len(found) == 1 else None


def extract_label(task: TaskType, response: str, *, options: Mapping[str, str] | None = None) -> str | None:
    """Read an option or regex task's label from a response (behavior token already
    stripped); a flag task's is read by :func:`modeling.metrics.read_label`.

    ``options`` ({letter: option text}, see :func:`parse_options`) lets an option task
    recognise an answer that names the option without its letter.
    Returns None when no label can be read (counted as wrong by the metrics).
    """
    text = (response or "").strip()
    if task.extractor == "flag":
        raise ValueError(f"task {task.name!r}: a flag task's label is read by modeling.reading (restraint or a flag), "
                         "through modeling.metrics.read_label")
    if task.extractor == "option":
        letters = "|".join(re.escape(label) for label in sorted(task.label_space, key=len, reverse=True))
        if not letters:
            return task.default_label
        # 1. An explicit cue: "answer is B", "Option (C)", "choice: D", "best answer: **A**".
        cue = re.search(rf"(?i:\b(?:answer|option|choice)\b\s*(?:is|would be|:)?)\s*[(*]*({letters})(?![A-Za-z0-9])",
                        text)
        if cue:
            return cue.group(1)
        # 2. A leading letter: "B, primary adrenal ...", "(C) ...", "**D**" - not the
        #    article in "A 28-year-old ..." or "A low sodium ...".
        lead = re.match(rf"^[\s*(]*({letters})(?![A-Za-z0-9])(?!\s+[a-z0-9])", text)
        if lead:
            return lead.group(1)
        # 3. The text of exactly one of the listed options.
        if options:
            by_text = _option_by_text({k: v for k, v in options.items() if k in task.label_space}, text)
            if by_text:
                return by_text
        # 4. The first letter standing alone anywhere; an "A" that reads as the article
        #    only when no other letter stands alone.
        article = None
        for match in _option_pattern(task.label_space).finditer(text):
            letter = match.group(1)
            if letter == "A" and re.match(r"\s+[a-z0-9]", text[match.end():]):
                article = article or letter
                continue
            return letter
        return article or task.default_label
    match = re.search(task.label_pattern, text, flags=re.IGNORECASE | re.DOTALL)
    if match and match.group(1) in task.label_space:
        return match.group(1)
    return task.default_label
