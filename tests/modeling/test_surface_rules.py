"""Surface rules that must not tell a planted case from a sound one, run over the
generated training set (``python -m modeling.synthetic --seed 0``) and the hand-written
demo test set (``annotations/demo/cases.jsonl``).

A set gives its answers away when a rule that reads only the surface of a case (its
length, its numbers, whether the concern stands in its text, a sex that does not add
up) does better than chance. Chance, for a rule scored over n cases (or n twin pairs)
whose two answers are equally common: a 95% binomial interval around 0.5, so a rule
passes while its accuracy (and its Macro F1) stays at most ``0.5 + 1.96 *
sqrt(0.25 / n)``; a rule with no signal scores 0.5 on average and stays under that bound
19 times in 20 by sampling noise alone. Twin pairs: ``X-planted``/``X-sound`` (generated)
and ``X``/``X-sound`` (demo).

Each rule is also run on a small set made to give itself away
(:func:`test_the_rules_catch_giveaways`), so every assertion here can fail.
"""

from __future__ import annotations

import json
import math
import re
from collections import defaultdict
from collections.abc import Mapping

import pytest

from modeling import synthetic
from modeling.case_checks import sex_clashes
from modeling.metrics import macro_f1
from modeling.planted import case_text, echoable_terms, planted_asserts, planted_terms
from modeling.task_types import DEFAULT_TASKS
from tests.modeling.conftest import DEMO_CASES

PAIR_LENGTH_TOLERANCE = 0.10  # twins differ by at most 10% of the longer one's characters
NUMBER_CHANGE = 0.10  # the rule: a quantity mentioned twice changes by over 10%


def chance_upper(n: int) -> float:
    """The upper end of a 95% binomial interval around 0.5 for n trials."""
    return 0.5 + 1.96 * math.sqrt(0.25 / n)


# -- the sets ---------------------------------------------------------------------------

def _generated() -> list[dict]:
    return synthetic.generate(seed=0)


def _demo() -> list[dict]:
    return [json.loads(line) for line in DEMO_CASES.read_text(encoding="utf-8").splitlines() if line.strip()]


SETS = {"generated": _generated, "demo": _demo}


@pytest.fixture(scope="module", params=sorted(SETS))
def case_set(request) -> tuple[str, list[dict]]:
    return request.param, SETS[request.param]()


def twin_pairs(cases: list[dict]) -> list[tuple[dict, dict]]:
    """(planted, sound) twins: ``X-planted`` with ``X-sound``, or ``X`` with ``X-sound``."""
    by_id = {c["external_id"]: c for c in cases}
    pairs = []
    for case in cases:
        if case["gold_label"] != "flag" or DEFAULT_TASKS[case["task"]].extractor != "flag":
            continue
        stem = case["external_id"].removesuffix("-planted")
        twin = by_id.get(stem + "-sound")
        if twin is not None:
            pairs.append((case, twin))
    return pairs


def proactive(cases: list[dict]) -> list[dict]:
    return [c for c in cases if DEFAULT_TASKS[c["task"]].extractor == "flag"]


# -- rule 1: the length of a pair ---------------------------------------------------------

def shorter_rule_accuracy(pairs: list[tuple[dict, dict]]) -> float:
    """How often "flag the shorter of the pair" picks the planted case (a tie: half)."""
    score = 0.0
    for planted, sound in pairs:
        a, b = len(case_text(planted)), len(case_text(sound))
        score += 1.0 if a < b else 0.5 if a == b else 0.0
    return score / len(pairs)


def length_outliers(pairs: list[tuple[dict, dict]]) -> list[str]:
    out = []
    for planted, sound in pairs:
        a, b = len(case_text(planted)), len(case_text(sound))
        if abs(a - b) > PAIR_LENGTH_TOLERANCE * max(a, b):
            out.append(f"{planted['external_id']}: {a} vs {b} characters")
    return out


# -- rule 2: a number that changes by over 10% ----------------------------------------------

_TOKEN = re.compile(r"[A-Za-z][A-Za-z'-]*|\d+(?:[.:/]\d+)*")
_PLAIN_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_LEADING_NUMBER = re.compile(r"\s*(\d+(?:\.\d+)?)(?![\d:/])")
# Words between a quantity's name and its value ("potassium is up from 4.6 to 6.7").
_LINK_WORDS = set("a an the of is was are were at to from up down now today yesterday and on in by about "
                  "since over under still it its this that".split())


def _text_mentions(text: str) -> list[tuple[str, float]]:
    """(quantity, value) for each number in a text: the quantity is the last word before
    it that is not a link word; dates, times and ratios (12/03, 18:00, 124/78) are skipped."""
    key, out = None, []
    for token in _TOKEN.findall(text):
        if token[0].isdigit():
            if key and _PLAIN_NUMBER.fullmatch(token):
                out.append((key, float(token)))
        elif token.lower() not in _LINK_WORDS:
            key = token.lower()
    return out


def number_mentions(case: Mapping) -> list[tuple[str, float]]:
    """Every numeric mention in a case's turns and tables (a table row: its first word is
    the quantity, each cell that starts with a number a value)."""
    mentions, tables = [], list(case.get("tables") or ())
    for turn in case.get("turns") or ():
        mentions += _text_mentions(turn["text"])
        tables += turn.get("tables") or ()
    for image in case.get("images") or ():
        mentions += _text_mentions(image["description"])
    for table in tables:
        for row in table["rows"]:
            label = re.findall(r"[A-Za-z]+", str(row[0]) if row else "")
            for cell in row[1:]:
                match = _LEADING_NUMBER.match(str(cell)) if cell is not None else None
                if label and match:
                    mentions.append((label[0].lower(), float(match.group(1))))
    return mentions


def number_changed(case: Mapping) -> bool:
    """The rule: some quantity is mentioned twice with values over 10% apart."""
    values = defaultdict(list)
    for key, value in number_mentions(case):
        values[key].append(value)
    return any(len(v) > 1 and max(v) > 0 and (max(v) - min(v)) / max(v) > NUMBER_CHANGE for v in values.values())


def number_rule_scores(cases: list[dict]) -> tuple[float, float, int]:
    """Accuracy and Macro F1 of "flag when a number changed by over 10%", and n."""
    gold = [c["gold_label"] for c in cases]
    pred = ["flag" if number_changed(c) else "no_flag" for c in cases]
    accuracy = sum(g == p for g, p in zip(gold, pred)) / len(cases)
    return accuracy, macro_f1(gold, pred, labels=["flag", "no_flag"]), len(cases)


# -- rule 3: the concern stands in the text -------------------------------------------------

def echoes(case: Mapping, *, asserts_only: bool) -> list:
    planted = case.get("planted_problem")
    if asserts_only:
        planted = {"asserts": planted_asserts(planted)}
    return echoable_terms(planted, case)


# -- rule 4: a sex that does not add up (modeling.sex_clashes) ---------------------------------
# -- the tests ------------------------------------------------------------------------------

def test_twin_lengths_do_not_tell_planted_from_sound(case_set):
    name, cases = case_set
    pairs = twin_pairs(cases)
    assert len(pairs) >= 10, name
    assert length_outliers(pairs) == [], name
    accuracy, bound = shorter_rule_accuracy(pairs), chance_upper(len(pairs))
    assert accuracy <= bound, f"{name}: 'flag the shorter' is right on {accuracy:.2f} of pairs (chance <= {bound:.2f})"
    assert 1 - accuracy <= bound, (
        f"{name}: 'flag the longer' is right on {1 - accuracy:.2f} of pairs (chance <= {bound:.2f})")


def test_a_ten_percent_change_does_not_tell_planted_from_sound(case_set):
    name, cases = case_set
    groups = {"all proactive": proactive(cases)}
    if name == "generated":  # enough cases to hold each task to chance too
        groups.update({task: [c for c in cases if c["task"] == task]
                       for task, spec in DEFAULT_TASKS.items() if spec.extractor == "flag"})
    for group, members in groups.items():
        accuracy, f1, n = number_rule_scores(members)
        bound = chance_upper(n)
        assert accuracy <= bound and f1 <= bound, (
            f"{name}, {group}: the 10% rule has accuracy {accuracy:.2f}, Macro F1 {f1:.2f} (chance <= {bound:.2f})")


def test_the_concern_does_not_stand_in_the_case(case_set):
    name, cases = case_set
    carrying = [c for c in cases if c.get("planted_problem")]
    assert carrying and all(c["gold_label"] == "flag" or c["category"] == "balanced" for c in carrying)
    missing = [c["external_id"] for c in carrying if not planted_asserts(c["planted_problem"])]
    assert missing == [], f"{name}: planted problems without asserts"
    # The generated set keeps every term and assert out of the case text; a hand-written
    # case may show a term (the drug it names), never what a correct flag must assert.
    echoed = {c["external_id"]: e for c in carrying if (e := echoes(c, asserts_only=name == "demo"))}
    assert echoed == {}, f"{name}: echo-able planted entries"
    if name == "generated":
        assert all(planted_terms(c["planted_problem"]) for c in carrying)


def test_no_sex_clash(case_set):
    name, cases = case_set
    clashes = {c["external_id"]: found for c in cases if (found := sex_clashes(c))}
    assert clashes == {}, name


def _pair(stem: str, task: str, planted_text: str, sound_text: str, tables=None) -> list[dict]:
    base = {"task": task, "category": "proactive", "question": None, "label_space": ["flag", "no_flag"]}
    return [{**base, "external_id": f"{stem}-planted", "gold_label": "flag", "tables": tables or [],
             "turns": [{"speaker": "Dr. A", "role": "registrar", "text": planted_text}],
             "planted_problem": {"terms": ["folic acid"], "asserts": ["add folic acid"]}},
            {**base, "external_id": f"{stem}-sound", "gold_label": "no_flag", "tables": tables or [],
             "turns": [{"speaker": "Dr. A", "role": "registrar", "text": sound_text}]}]


def test_the_rules_catch_giveaways():
    """Each rule fails on a set built to give its answers away, the way the generator's
    earlier output did: a sound twin with a turn added, planted numbers that change by
    over 10% and sound ones that do not, the concern read out, a pregnancy test for Mr."""
    longer = [c for i in range(20) for c in _pair(
        f"p{i}", "omission_detection", "Mr. Lee starts methotrexate.",
        "Mr. Lee starts methotrexate. A nurse adds folic acid to the plan.")]
    pairs = twin_pairs(longer)
    assert len(pairs) == 20 and length_outliers(pairs) and shorter_rule_accuracy(pairs) > chance_upper(20)
    numbers = [c for i in range(20) for c in _pair(
        f"n{i}", "consistency_check", "Potassium was 4.6 last week.", "Potassium was 4.6 last week.")]
    for case in numbers:
        case["tables"] = [{"columns": ["Test", "Last week", "Today"],
                           "rows": [["Potassium", "4.6", "6.7" if case["gold_label"] == "flag" else "4.7"]]}]
    accuracy, f1, n = number_rule_scores(numbers)
    assert accuracy == 1.0 and f1 == 1.0 and accuracy > chance_upper(n)
    read_out = _pair("e", "omission_detection", "Mr. Lee starts methotrexate; add folic acid.", "Mr. Lee starts it.")[0]
    assert echoes(read_out, asserts_only=True) == ["add folic acid"]
    assert sex_clashes({"turns": [{"speaker": "Dr. A", "role": "registrar", "text": "Mr. Petrov has pneumonia."},
                                  {"speaker": "Mei Lin", "role": "pharmacist",
                                   "text": "Her pregnancy test is positive."}]})
    assert not sex_clashes({"turns": [
        {"speaker": "Dr. A", "role": "registrar", "text": "Mr. Fox has pneumonia."},
        {"speaker": "Mrs. Fox", "role": "relative", "text": "She is my wife's sister."}]})
