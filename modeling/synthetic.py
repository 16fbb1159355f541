"""``python -m modeling.synthetic --out FILE``: the demo's generated training cases.

The demo's hand-written cases (``annotations/demo/cases.jsonl``) are its test set; the
tiny demo model needs far more cases than anyone would write by hand to learn the task
format, so its train and dev splits are generated here from structured templates: the
clinical scenes in ``synthetic_facts.json`` (the team's turns and tables, with ``{P}``
for the patient, ``{he}``/``{his}``/``{him}`` for the patient's pronouns and ``{slot}``
for the words a planted case and its sound twin differ in), poured into short team
conversations with seeded names. The generator is deterministic for a seed; it never
reads the hand-written cases, so nothing of the test set leaks into training.

What it guarantees (checked by ``tests/modeling/test_synthetic.py`` and
``tests/modeling/test_surface_rules.py``):

- every proactive scenario gives a minimal pair: the planted case (``flag``, with its
  ``planted_problem``) and its sound twin, the same case with the problem edited out in
  place by text of about the same length (``no_flag``), each scenario twice with other
  people; neither the length of a pair's cases nor a number changing between two
  mentions tells the planted case from the sound one;
- the problems are of many kinds (an omission, a wrong frequency, route, unit, patient
  or renal dose, an allergy, a duplicate, a child given an adult dose; a conflict with a
  record in a value, a drug, a weight's unit, a date of birth, a time, a side), and
  balanced cases show the facts that make the concern (a lab value, a drug on the list,
  a history item), never the concern itself: no ``terms`` or ``asserts`` entry stands in
  the case text, and each reference response states one of the ``asserts`` plainly;
- a patient's title, pronouns and sex-specific items agree (scenes that need a sex say
  so);
- every option scenario is asked once with its right answer at each letter A-D, so
  the letters are balanced within each task, among wrong options a clinician might pick;
- splits are stratified by task and gold label (:func:`modeling.splits.stratified_split`),
  90% train and 10% dev, so every task has every label in train.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from modeling.splits import stratified_split
from modeling.task_types import DEFAULT_TASKS

FACTS_PATH = Path(__file__).with_name("synthetic_facts.json")
LETTERS = ("A", "B", "C", "D")
SOUND_REFERENCE = "Nothing to raise: the plan is sound."
SPLIT_FRACTIONS = {"train": 0.9, "dev": 0.1}
VARIANTS = 2  # each proactive scenario with two casts of people
BALANCED_STEM = "Which is the right course?"
# Who speaks for each role a scene's turn names (attributes of _Cast).
SPEAKERS = {"registrar": "doctor", "attending": "senior", "nurse": "nurse", "pharmacist": "pharmacist"}
PRONOUNS = {"M": {"he": "he", "He": "He", "his": "his", "His": "His", "him": "him", "child": "boy"},
            "F": {"he": "she", "He": "She", "his": "her", "His": "Her", "him": "her", "child": "girl"}}


def _facts() -> dict:
    return json.loads(FACTS_PATH.read_text(encoding="utf-8"))


def _sex_of_title(name: str) -> str:
    return "M" if name.startswith("Mr.") else "F"


class _Cast:
    """The people of one case: a patient of the sex (or age) the scene needs, and staff."""

    def __init__(self, people: dict, rng: random.Random, fact: dict):
        if fact.get("child"):
            self.patient, self.sex = rng.choice(people["children"])
        else:
            pool = [p for p in people["patients"] if fact.get("sex") in (None, _sex_of_title(p))]
            self.patient = rng.choice(pool)
            self.sex = _sex_of_title(self.patient)
        self.doctor, self.senior = rng.sample(people["doctors"], 2)
        self.nurse = rng.choice(people["nurses"])
        self.pharmacist = rng.choice(people["pharmacists"])

    def fill(self, text: str, slot: str = "") -> str:
        """A scene's text with the patient, the pronouns and the slot put in."""
        names = {"P": self.patient, **PRONOUNS[self.sex]}
        return text.format(slot=slot.format(**names), **names)


def _case(external_id: str, task: str, fact: dict, turns: list[dict], gold: str, reference: str, *,
          question: str | None = None, planted: dict | None = None, tables: list | None = None,
          images: list | None = None) -> dict:
    category = DEFAULT_TASKS[task].category
    case = {"external_id": external_id, "task": task, "category": category, "specialty": fact["specialty"],
            "turns": turns, "question": question, "gold_behavior": category,
            "label_space": list(DEFAULT_TASKS[task].label_space), "gold_label": gold,
            "reference_response": reference, "metadata": {"source": "modeling.synthetic"}}
    if tables:
        case["tables"] = tables
    if images:
        case["images"] = images
    if planted:
        case["planted_problem"] = planted
    return case


def _turn(speaker: str, role: str, text: str) -> dict:
    return {"speaker": speaker, "role": role, "text": text}


def _scene(fact: dict, cast: _Cast, slot: str = "") -> tuple[list[dict], list[dict] | None]:
    """A scene's turns and tables for one cast, with ``slot`` in its place."""
    turns = [_turn(getattr(cast, SPEAKERS[role]), role, cast.fill(text, slot)) for role, text in fact["turns"]]
    tables = [{"title": cast.fill(t["title"], slot), "columns": [cast.fill(c, slot) for c in t["columns"]],
               "rows": [[cast.fill(cell, slot) for cell in row] for row in t["rows"]]}
              for t in fact.get("tables", ())]
    return turns, tables or None


def _planted(fact: dict) -> dict:
    return {"summary": fact["summary"], "terms": fact["terms"], "asserts": fact["asserts"]}


def _proactive_cases(task: str, facts: list[dict], people: dict, rng: random.Random) -> Iterator[dict]:
    """Each scene twice (two casts), each time as a planted case and its sound twin: the
    same turns and tables, the slot filled with the planted or the sound words."""
    for number, fact in enumerate(facts, start=1):
        for variant in range(1, VARIANTS + 1):
            cast = _Cast(people, rng, fact)
            for sound in (False, True):
                turns, tables = _scene(fact, cast, fact["sound" if sound else "planted"])
                reference = SOUND_REFERENCE if sound else cast.fill(fact["reference"])
                yield _case(f"syn-{task}-{number:02d}-{variant}-{'sound' if sound else 'planted'}", task, fact,
                            turns, "no_flag" if sound else "flag", reference,
                            planted=None if sound else _planted(fact), tables=tables)


def _question(stem: str, options: Sequence[str]) -> str:
    return stem + "\n" + "\n".join(f"{letter}) {text}" for letter, text in zip(LETTERS, options))


def _arranged(answer: str, others: Sequence[str], letter: str, rng: random.Random) -> list[str]:
    rest = list(others)
    rng.shuffle(rest)
    rest.insert(LETTERS.index(letter), answer)
    return rest


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _temporal(fact: dict, cast: _Cast, rng: random.Random) -> tuple[str, list[str], list[dict], str, str]:
    """The events shown shuffled; the wrong orders are the right one with two neighbouring
    events swapped, the slips a reader makes."""
    events = [tuple(e) for e in fact["events"]]
    shown = events[:]
    rng.shuffle(shown)
    right = [str(shown.index(e) + 1) for e in events]
    wrong = ["-".join(right[:i] + [right[i + 1], right[i]] + right[i + 2:]) for i in range(len(right) - 1)]
    listing = "; ".join(f"({i}) {cast.patient} {e[0]}" for i, e in enumerate(shown, start=1))
    turns = [_turn(cast.doctor, "registrar", f"The story, from the notes: {listing}."),
             _turn(cast.nurse, "nurse", _sentence("; ".join(f"{e[0]} on {e[1]}" for e in shown))
                   + ", going by the letters and the chart.")]
    tail = ": " + ", then ".join(f"{e[0]} ({e[1]})" for e in events) + "."
    return "-".join(right), wrong, turns, "In which order did these happen, earliest first?", tail


def _option_cases(task: str, facts: list[dict], people: dict, rng: random.Random) -> Iterator[dict]:
    """Each scene four times, its right answer once at each letter."""
    for number, fact in enumerate(facts, start=1):
        for letter in LETTERS:
            cast = _Cast(people, rng, fact)
            tables = images = planted = None
            tail = "."
            if task == "temporal_ordering":
                answer, others, turns, stem, tail = _temporal(fact, cast, rng)
            else:
                answer, others = fact["answer"], fact["others"]
                if task == "image_reasoning":
                    turns = [_turn(cast.doctor, "registrar", f"Here is {cast.patient}'s {fact['modality']}."),
                             _turn(cast.senior, "attending", "Talk us through it.")]
                    stem = "What does it show?"
                    images = [{"title": fact["modality"], "modality": fact["modality"],
                               "description": _sentence(fact["description"]) + "."}]
                elif task == "ddx_reasoning":
                    turns = [_turn(cast.doctor, "registrar", f"{cast.patient} came in with {fact['findings']}."),
                             _turn(cast.senior, "attending", "What is the most likely diagnosis?")]
                    stem = "Which is the most likely diagnosis?"
                else:  # balanced: the scene shows the facts behind the concern, never the concern
                    turns, tables = _scene(fact, cast)
                    stem, planted = BALANCED_STEM, _planted(fact)
                    tail = ". " + cast.fill(fact["concern"])
            options = _arranged(answer, others, letter, rng)
            yield _case(f"syn-{task}-{number:02d}-{letter}", task, fact, turns, letter, f"{letter}, {answer}{tail}",
                        question=_question(stem, options), planted=planted, tables=tables, images=images)


def generate(seed: int = 0) -> list[dict]:
    """The generated demo cases, each with its split (train or dev)."""
    facts = _facts()
    people = facts["people"]
    rng = random.Random(seed)
    cases = []
    for task, spec in DEFAULT_TASKS.items():
        make = _proactive_cases if spec.extractor == "flag" else _option_cases
        cases += list(make(task, facts[task], people, rng))
    splits = stratified_split(((c["external_id"], (c["task"], c["gold_label"])) for c in cases), seed=seed,
                              fractions=SPLIT_FRACTIONS)
    # Minimal pairs stay together: a sound twin follows its planted case's split.
    for case in cases:
        planted_id = case["external_id"].replace("-sound", "-planted")
        case["split"] = splits[planted_id]
    return cases


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m modeling.synthetic", description=__doc__.split("\n")[0])
    parser.add_argument("--out", required=True, help="the JSON Lines file to write")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    cases = generate(args.seed)
    Path(args.out).write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in cases), encoding="utf-8")
    counts: dict[str, int] = {}
    for case in cases:
        counts[case["split"]] = counts.get(case["split"], 0) + 1
    print(f"{len(cases)} cases written to {args.out}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
