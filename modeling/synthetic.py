"""``python -m modeling.synthetic --out FILE``: the demo's generated training cases.

The demo's hand-written cases (``annotations/demo/cases.jsonl``) are its test set; the
tiny demo model needs far more cases than anyone would write by hand to learn the task
format, so its train and dev splits are generated here from structured templates: the
clinical facts in ``synthetic_facts.json`` (one entry per scenario: what the team
says, what is wrong or missing, the words that name it), poured into short team
conversations with seeded names. The generator is deterministic for a seed; it never
reads the hand-written cases, so nothing of the test set leaks into training.

What it guarantees (checked by the tests):

- every proactive scenario gives a minimal pair: the planted case (``flag``, with its
  ``planted_problem``) and its sound twin (the same conversation with the problem
  removed, ``no_flag``), each scenario twice with other people;
- every option scenario is asked once with its right answer at each letter A-D, so
  the letters are balanced within each task;
- balanced cases plant the concern to raise beside the answer;
- splits are stratified by task and gold label (:func:`modeling.splits.stratified_split`),
  90% train and 10% dev, so every task has every label in train.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from collections.abc import Iterator, Sequence
from itertools import permutations
from pathlib import Path

from modeling.splits import stratified_split
from modeling.task_types import DEFAULT_TASKS

FACTS_PATH = Path(__file__).with_name("synthetic_facts.json")
LETTERS = ("A", "B", "C", "D")
SOUND_REFERENCE = "Nothing needs raising: the plan is sound."
SPLIT_FRACTIONS = {"train": 0.9, "dev": 0.1}
VARIANTS = 2  # each proactive scenario with two casts of people


def _facts() -> dict:
    return json.loads(FACTS_PATH.read_text(encoding="utf-8"))


class _Cast:
    def __init__(self, people: dict, rng: random.Random):
        self.patient = rng.choice(people["patients"])
        self.doctor, self.senior = rng.sample(people["doctors"], 2)
        self.nurse = rng.choice(people["nurses"])
        self.pharmacist = rng.choice(people["pharmacists"])


def _case(external_id: str, task: str, fact: dict, turns: list[dict], gold: str, reference: str, *,
          question: str | None = None, planted: dict | None = None, tables: list | None = None) -> dict:
    category = DEFAULT_TASKS[task].category
    case = {"external_id": external_id, "task": task, "category": category, "specialty": fact["specialty"],
            "turns": turns, "question": question, "gold_behavior": category,
            "label_space": list(DEFAULT_TASKS[task].label_space), "gold_label": gold,
            "reference_response": reference, "metadata": {"source": "modeling.synthetic"}}
    if tables:
        case["tables"] = tables
    if planted:
        case["planted_problem"] = planted
    return case


def _turn(speaker: str, role: str, text: str) -> dict:
    return {"speaker": speaker, "role": role, "text": text}


def _omission(fact: dict, cast: _Cast, sound: bool) -> tuple[list[dict], str]:
    plan = fact["plan"] + (f", and {fact['fix']}" if sound else "")
    turns = [_turn(cast.doctor, "registrar", f"{cast.patient} {fact['situation']}. Consent is done."),
             _turn(cast.nurse, "nurse", "Observations are normal and the patient is happy with the plan."),
             _turn(cast.senior, "attending", f"Good. {plan}. Let's get it started today.")]
    reference = SOUND_REFERENCE if sound else (
        f"Before we start: {fact['missing']} is missing from the plan. {cast.patient} needs {fact['fix']}, "
        f"because {fact['why']}.")
    return turns, reference


def _error(fact: dict, cast: _Cast, sound: bool) -> tuple[list[dict], str]:
    order = fact["right"] if sound else fact["wrong"]
    turns = [_turn(cast.senior, "attending", f"{cast.patient} is next. What have we charted?"),
             _turn(cast.doctor, "registrar", f"I've prescribed {order}."),
             _turn(cast.nurse, "nurse", "I'll draw it up and give it as soon as it's signed.")]
    reference = SOUND_REFERENCE if sound else (
        f"Please hold that {fact['drug']} order: {fact['why']}. The right order is {fact['fix']}.")
    return turns, reference


def _consistency(fact: dict, cast: _Cast, sound: bool) -> tuple[list[dict], str, list]:
    now = fact["sound"] if sound else fact["now"]
    unit = f" ({fact['unit']})" if fact["unit"] else ""
    table = {"title": "Bloods", "columns": ["Test", "Last week", "Today"],
             "rows": [[fact["lab"] + unit, fact["then"], now]]}
    turns = [_turn(cast.doctor, "registrar", f"{cast.patient}'s bloods are back; the table is below."),
             _turn(cast.senior, "attending", f"Good, {fact['claim']}, so we {fact['plan']}."),
             _turn(cast.pharmacist, "pharmacist", "I'll update the chart to match.")]
    reference = SOUND_REFERENCE if sound else (
        f"The {fact['lab']} does not fit what was said: it is {fact['now']} today against {fact['then']} "
        f"last week. {fact['why'][0].upper() + fact['why'][1:]}.")
    return turns, reference, [table]


def _proactive_cases(task: str, facts: list[dict], people: dict, rng: random.Random) -> Iterator[dict]:
    for number, fact in enumerate(facts, start=1):
        for variant in range(1, VARIANTS + 1):
            cast = _Cast(people, rng)
            for sound in (False, True):
                tables = None
                if task == "omission_detection":
                    turns, reference = _omission(fact, cast, sound)
                elif task == "error_correction":
                    turns, reference = _error(fact, cast, sound)
                else:
                    turns, reference, tables = _consistency(fact, cast, sound)
                suffix = "sound" if sound else "planted"
                summary = fact.get("missing") or (f"the {fact['drug']} order" if "drug" in fact
                                                   else f"{fact['lab']} {fact.get('now')} against what was said")
                planted = None if sound else {"summary": summary, "terms": fact["terms"]}
                yield _case(f"syn-{task}-{number:02d}-{variant}-{suffix}", task, fact, turns,
                            "no_flag" if sound else "flag", reference, planted=planted, tables=tables)


def _question(stem: str, options: Sequence[str]) -> str:
    return stem + "\n" + "\n".join(f"{letter}) {text}" for letter, text in zip(LETTERS, options))


def _arranged(answer: str, others: Sequence[str], letter: str, rng: random.Random) -> list[str]:
    rest = list(others)
    rng.shuffle(rest)
    rest.insert(LETTERS.index(letter), answer)
    return rest


def _option_cases(task: str, facts: list[dict], people: dict, rng: random.Random) -> Iterator[dict]:
    for number, fact in enumerate(facts, start=1):
        for letter in LETTERS:
            cast = _Cast(people, rng)
            tables = None
            planted = None
            extra = ""
            if task == "temporal_ordering":
                events = list(fact["events"])
                shown = events[:]
                rng.shuffle(shown)
                right = "-".join(str(shown.index(e) + 1) for e in events)
                wrong = ["-".join(p) for p in permutations("1234") if "-".join(p) != right]
                answer, others = right, rng.sample(wrong, 3)
                listing = "; ".join(f"({i}) {cast.patient} {e[0]}" for i, e in enumerate(shown, start=1))
                turns = [_turn(cast.doctor, "registrar", f"The story, from the notes: {listing}."),
                         _turn(cast.nurse, "nurse", "; ".join(f"{e[0]} on {e[1]}" for e in shown).capitalize()
                               + ", going by the letters and the chart.")]
                stem = "In which order did these happen, earliest first?"
                reference_tail = ": " + ", then ".join(f"{e[0]} ({e[1]})" for e in events) + "."
            else:
                answer, others = fact["answer"], fact["others"]
                if task == "image_reasoning":
                    turns = [_turn(cast.doctor, "registrar", f"Here is {cast.patient}'s {fact['modality']}."),
                             _turn(cast.senior, "attending", "Talk us through it.")]
                    stem = "What does it show?"
                    extra_image = [{"title": fact["modality"], "modality": fact["modality"],
                                    "description": fact["description"].capitalize() + "."}]
                elif task == "ddx_reasoning":
                    turns = [_turn(cast.doctor, "registrar", f"{cast.patient} came in with {fact['findings']}."),
                             _turn(cast.senior, "attending", "What is the most likely diagnosis?")]
                    stem = "Which is the most likely diagnosis?"
                else:
                    turns = [_turn(cast.doctor, "registrar", f"{cast.patient} has {fact['situation']}."),
                             _turn(cast.pharmacist, "pharmacist", f"From the notes: {fact['concern']}."),
                             _turn(cast.senior, "attending", "What should we do?")]
                    stem = "Which is the right course?"
                    planted = {"summary": fact["raise"], "terms": fact["terms"]}
                    extra = f" Also: {fact['raise']}."
                reference_tail = "."
            options = _arranged(answer, others, letter, rng)
            case = _case(f"syn-{task}-{number:02d}-{letter}", task, fact, turns, letter,
                         f"{letter}, {answer}{reference_tail}{extra}", question=_question(stem, options),
                         planted=planted, tables=tables)
            if task == "image_reasoning":
                case["images"] = extra_image
            yield case


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
