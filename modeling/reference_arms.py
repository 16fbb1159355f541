"""Reference arms: responses written by rule, not by a model, to show where the scores'
floor and ceiling lie on a case set. Any real arm should beat the degenerate ones by a
margin; the reference response should score near the top. ``python -m
modeling.evaluate --reference-arms`` scores them beside the real arms.

- ``always-flag``: a generic concern on every case, naming nothing;
- ``always-silent``: says nothing;
- ``letter-A-flag-all``: answers "A" and flags a generic concern everywhere;
- ``random-label``: a seeded random label of the case's label space (a generic flag or
  "Nothing to raise." on flag tasks, a letter on option tasks);
- ``reference``: the case's own reference response, with its gold behavior token.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping

from modeling.task_types import DEFAULT_TASKS, TaskType

GENERIC_FLAG = "I want to flag a concern about this plan."
RESTRAINT = "Nothing to raise."
REFERENCE_ARMS = ("always-flag", "always-silent", "letter-A-flag-all", "random-label", "reference")


def reference_arm_rows(cases: Iterable[Mapping], registry: Mapping[str, TaskType] = DEFAULT_TASKS, *,
                       seed: int = 0) -> list[dict]:
    """One response row per reference arm and case (the case's gold fields included)."""
    rng = random.Random(seed)
    rows = []
    for case in cases:
        task = registry[case["task"]]
        labels = list(case.get("label_space") or task.label_space)
        if task.extractor == "flag":
            random_text = rng.choice([GENERIC_FLAG, RESTRAINT])
        else:
            random_text = rng.choice(labels)
        texts = {"always-flag": GENERIC_FLAG, "always-silent": "", "letter-A-flag-all": f"A. {GENERIC_FLAG}",
                 "random-label": random_text, "reference": case.get("reference_response") or ""}
        for arm in REFERENCE_ARMS:
            rows.append({**case, "arm": arm, "text": texts[arm],
                         "predicted_behavior": case.get("gold_behavior") if arm == "reference" else None})
    return rows
