"""Writing responses: idempotent per (case, arm, job), flagged when they name a model."""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.db import transaction

from annotations.models import Response

# A response that names a model or vendor would unblind the rater.
_MODEL_NAME_RE = re.compile(
    r"\b(smollm\w*|qwen[\w.-]*|llama[\w.-]*|mistral|gemma|phi-\d|gpt-?\d\w*|chatgpt|openai|claude|anthropic|"
    r"gemini|hugging ?face|behavior ?sft|general ?sft|as an ai (language )?model|i am an ai)\b",
    re.IGNORECASE,
)


def text_names_model(text: str) -> bool:
    return bool(_MODEL_NAME_RE.search(text or ""))


def responses_write(*, rows: Iterable[dict]) -> int:
    """Write response rows in one transaction; rows already written for the same
    (case, arm, job) are skipped, so a task that runs again after a crash adds no duplicates,
    and neither does one delivered twice to two workers at once (the database's unique
    constraint settles who writes).

    Each row holds Response field values (``case_id``, ``arm_id``, ``job_id``, ``text``...).
    Returns how many rows were new.
    """
    rows = list(rows)
    if not rows:
        return 0
    with transaction.atomic():
        keys = {(r["case_id"], r["arm_id"], r.get("job_id")) for r in rows}
        existing = set(
            Response.objects.filter(case_id__in={k[0] for k in keys}, arm_id__in={k[1] for k in keys})
            .values_list("case_id", "arm_id", "job_id")
        )
        new = []
        for row in rows:
            key = (row["case_id"], row["arm_id"], row.get("job_id"))
            if key in existing:
                continue
            existing.add(key)
            new.append(Response(**row, names_model=text_names_model(row.get("text", ""))))
        Response.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)
