"""A case as text: what every prompt shows of it (:func:`render_case_context`, used by
the arms' prompts in :mod:`modeling.data` and the judge's in
:mod:`modeling.judge.prompts`), and everything a response could copy from it
(:func:`case_text`, which the reading of a response uses to tell echo from finding)."""

from __future__ import annotations

from collections.abc import Mapping


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).replace("|", "\\|").replace("\n", " ")


def render_table(table: Mapping) -> str:
    lines = []
    if table.get("title"):
        lines.append(f"Table: {table['title']}")
    columns = [_cell(c) for c in table["columns"]]
    lines.append("| " + " | ".join(columns) + " |")
    lines.append("|" + "|".join("---" for _ in columns) + "|")
    for row in table["rows"]:
        cells = [_cell(c) for c in row]
        cells += [""] * (len(columns) - len(cells))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def render_image(image: Mapping) -> str:
    label = image.get("title") or "Image"
    if image.get("modality"):
        label += f" ({image['modality']})"
    return f"{label}, described: {image['description']}"


def render_case_context(case: Mapping, *, heading: str | None = None) -> list[str]:
    """What every prompt shows of a case, as parts to be joined by blank lines: the
    specialty, the team conversation (each turn's speaker, role and text, then its
    tables and image descriptions; under ``heading`` when given), the case's own tables
    and its images. The caller adds what the assistant was asked.

    The judge's prompts (:func:`modeling.judge.prompts.render_conversation`) show the
    case through this function too: a change here must bump both
    :data:`modeling.data.PROMPT_TEMPLATE_VERSION` and ``modeling.judge.JUDGE_PROMPT_VERSION``."""
    parts = []
    if case.get("specialty"):
        parts.append(f"Specialty: {case['specialty']}")
    lines = [heading] if heading else []
    for turn in case.get("turns") or ():
        lines.append(f"{turn['speaker']} ({turn['role']}): {turn['text']}")
        lines.extend(render_table(t) for t in turn.get("tables") or ())
        lines.extend(render_image(i) for i in turn.get("images") or ())
    parts.append("\n".join(lines))
    if case.get("tables"):
        parts.append("\n\n".join(render_table(t) for t in case["tables"]))
    if case.get("images"):
        parts.append("Images:\n" + "\n".join(f"- {render_image(i)}" for i in case["images"]))
    return parts


def case_text(case: Mapping) -> str:
    """Everything a response could copy from the case: what every prompt shows of it
    (turns, tables, images) and the question."""
    return "\n\n".join([*render_case_context(case), case.get("question") or ""])
