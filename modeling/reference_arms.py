"""Reference arms: responses written by rule, not by a model, to show where the scores'
floor, chance line and ceiling lie on a case set, and to try to game the reading of a
flag. ``python -m modeling.evaluate --reference-arms`` scores them beside the real arms.

The floor and the ceiling:

- ``always-flag``: a generic concern on every case, naming nothing;
- ``always-silent``: says nothing;
- ``letter-A-flag-all``: answers "A" and flags a generic concern everywhere;
- ``random-label``: a seeded random label of the case's label space (a generic flag or
  "Nothing to raise." on flag tasks, a letter on option tasks);
- ``chance``: flags at random, one case in two, and names the right problem when it
  does (the case's reference response); restraint otherwise. Its Macro F1 is the chance
  line (:func:`modeling.metrics.chance_macro_f1` gives its expected value per task);
- ``reference``: the case's own reference response, with its gold behavior token.

Arms that try to game the reading (each should find nothing and score at or below
chance):

- ``echo-case``: repeats the whole case text; ``echo-last-turn``: the last turn's text;
- ``every-term``: every planted term and assert of the case set, as one list;
  ``every-term-negated`` and ``every-term-hedged``: the same list denied and hedged;
- ``shotgun``: thirteen common concerns, each as a short order;
- ``random-echo``: the case text on a random half of the cases, restraint on the rest;
- ``gold-echo``: the right decision (flag or not) with the case text as its flag.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping

from modeling.case_text import case_text
from modeling.planted import planted_asserts, planted_terms
from modeling.task_types import DEFAULT_TASKS, TaskType

GENERIC_FLAG = "I want to flag a concern about this plan."
RESTRAINT = "Nothing to raise."
SHOTGUN = ("Check for allergies. Adjust the dose for renal function. Check the potassium. Check the RhD status and "
           "give anti-D. Confirm the laterality and mark the side. Confirm the patient's identity. Weigh the "
           "patient. Do a pregnancy test. Check the QTc on an ECG. Review drug interactions. Screen for hepatitis B "
           "before immunosuppression. Do a swallow screen. Repeat the troponin.")
FLOOR_ARMS = ("always-flag", "always-silent", "letter-A-flag-all", "random-label", "chance", "reference")
GAMING_ARMS = ("echo-case", "echo-last-turn", "every-term", "every-term-negated", "every-term-hedged", "shotgun",
               "random-echo", "gold-echo")
REFERENCE_ARMS = FLOOR_ARMS + GAMING_ARMS


def _entry_text(entry) -> str:
    return entry if isinstance(entry, str) else " ".join(entry)


def every_term_list(cases: Iterable[Mapping]) -> str:
    """Every planted term and assert of a case set, once each, comma-separated."""
    seen: dict[str, None] = {}
    for case in cases:
        planted = case.get("planted_problem")
        for entry in planted_terms(planted) + planted_asserts(planted):
            seen.setdefault(_entry_text(entry), None)
    return ", ".join(seen)


def reference_arm_rows(cases: Iterable[Mapping], registry: Mapping[str, TaskType] = DEFAULT_TASKS, *,
                       seed: int = 0, arms: Iterable[str] = REFERENCE_ARMS) -> list[dict]:
    """One response row per reference arm and case (the case's gold fields included)."""
    cases = list(cases)
    arms = tuple(arms)
    rng = random.Random(seed)
    terms = every_term_list(cases)
    rows = []
    for case in cases:
        task = registry[case["task"]]
        labels = list(case.get("label_space") or task.label_space)
        flag_task = task.extractor == "flag"
        random_text = rng.choice([GENERIC_FLAG, RESTRAINT]) if flag_task else rng.choice(labels)
        echo = case_text(case)
        turns = case.get("turns") or [{"text": ""}]
        reference = case.get("reference_response") or ""
        flags = case.get("gold_label") == "flag"
        texts = {
            "always-flag": GENERIC_FLAG, "always-silent": "", "letter-A-flag-all": f"A. {GENERIC_FLAG}",
            "random-label": random_text,
            "chance": (reference if flags else GENERIC_FLAG) if rng.random() < 0.5 else RESTRAINT,
            "reference": reference,
            "echo-case": echo, "echo-last-turn": turns[-1]["text"],
            "every-term": f"Please address the following: {terms}.",
            "every-term-negated": f"There is no problem with {terms}.",
            "every-term-hedged": f"Perhaps consider {terms}, if relevant.",
            "shotgun": SHOTGUN,
            "random-echo": echo if rng.random() < 0.5 else RESTRAINT,
            "gold-echo": (echo if flags else RESTRAINT) if flag_task else echo,
        }
        if not flag_task:
            texts["chance"] = reference if rng.random() < 0.5 else rng.choice(labels)
        for arm in arms:
            rows.append({**case, "arm": arm, "text": texts[arm],
                         "predicted_behavior": case.get("gold_behavior") if arm == "reference" else None})
    return rows
