"""The demo's generated training cases: seeded, valid, minimal pairs edited in place,
balanced letters, stratified splits, apart from the hand-written test cases, and
reference responses that assert what the planted problem asks for.
(What a surface rule could read off them: tests/modeling/test_surface_rules.py.)"""

from __future__ import annotations

import json
import re
from collections import Counter

from modeling import synthetic
from modeling.cases import parse_cases
from modeling.metrics import score_responses
from modeling.planted import normalise, planted_asserts, term_in_text
from modeling.reading import read
from modeling.task_types import DEFAULT_TASKS

# A clause that hedges or negates does not assert (the brief's "plainly and affirmatively").
HEDGED = re.compile(r"\b(?:not|no|never|without|may|might|possibly|perhaps|consider|if|could|unless)\b|n't\b",
                    re.IGNORECASE)


def test_generator_is_seeded_valid_and_balanced(tmp_path):
    cases = synthetic.generate(seed=0)
    assert cases == synthetic.generate(seed=0)
    assert 190 <= len(cases) <= 230
    parse_cases("".join(json.dumps(c) + "\n" for c in cases).encode())  # the case format holds
    train = [c for c in cases if c["split"] == "train"]
    assert len(train) >= 150 and {c["split"] for c in cases} == {"train", "dev"}
    labels = Counter((c["task"], c["gold_label"]) for c in train)
    for name, task in DEFAULT_TASKS.items():
        counts = [labels[(name, label)] for label in task.label_space]
        assert min(counts) >= 1 and max(counts) - min(counts) <= 2, (name, counts)
    ids = {c["external_id"] for c in cases}
    for case in cases:
        if case["gold_label"] == "flag":
            assert case["planted_problem"]["terms"] and case["planted_problem"]["asserts"]
            twin = case["external_id"].replace("-planted", "-sound")
            assert twin in ids and next(c for c in cases if c["external_id"] == twin)["split"] == case["split"]
        assert case["external_id"].startswith("syn-")
    # The reference responses score perfectly: the templates and the scorer agree.
    scores = score_responses([{**c, "text": c["reference_response"]} for c in cases])
    assert scores["overall"]["macro_f1"] == 1.0 and scores["proactive"]["issue_found_rate"] == 1.0
    assert scores["balanced"]["concern_found_rate"] == 1.0


def test_twins_differ_by_an_edit_in_place():
    """A sound twin is its planted case with the problem edited out where it stands: the
    same speakers, roles and number of turns and table rows, one short edit."""
    cases = {c["external_id"]: c for c in synthetic.generate(seed=0)}
    pairs = [(c, cases[i.replace("-planted", "-sound")]) for i, c in cases.items() if i.endswith("-planted")]
    assert len(pairs) >= 40
    for planted, sound in pairs:
        people = [[(t["speaker"], t["role"]) for t in case["turns"]] for case in (planted, sound)]
        assert people[0] == people[1]
        assert [len(t["rows"]) for t in planted.get("tables", [])] == [len(t["rows"]) for t in sound.get("tables", [])]
        changed = [(a["text"], b["text"]) for a, b in zip(planted["turns"], sound["turns"]) if a != b]
        changed += [(json.dumps(a), json.dumps(b)) for a, b in zip(planted.get("tables", []), sound.get("tables", []))
                    if a != b]
        assert len(changed) == 1, planted["external_id"]


def test_references_assert_plainly():
    """Every planted or balanced reference states one of its asserts in a clause that
    neither negates nor hedges it, and the project's reader (:mod:`modeling.reading`) finds
    it asserted; every sound twin's reference says there is nothing."""
    for case in synthetic.generate(seed=0):
        asserts = planted_asserts(case.get("planted_problem"))
        if not asserts:
            if DEFAULT_TASKS[case["task"]].extractor == "flag":
                assert case["reference_response"] == synthetic.SOUND_REFERENCE
            continue
        clauses = re.split(r"[.:;!?]\s", case["reference_response"])
        plain = [c for c in clauses if not HEDGED.search(c) and any(term_in_text(a, normalise(c)) for a in asserts)]
        assert plain, case["external_id"]
        reading = read(case["reference_response"], planted=case["planted_problem"], case=case)
        keys = {a if isinstance(a, str) else " + ".join(a) for a in asserts}
        assert reading.found and keys & set(reading.asserted), (case["external_id"], reading)


def test_the_patient_fits_the_scene():
    """Scenes that need a sex get a patient of that sex; children have no title."""
    for case in synthetic.generate(seed=0):
        text = " ".join(t["text"] for t in case["turns"])
        if "pregnan" in case["reference_response"] or "hCG" in text:
            assert not re.search(r"\bMr\.", text), case["external_id"]
        if case["task"] == "error_correction" and "year-old" in text:
            assert not re.search(r"\bM(?:r|rs|s)\.", text), case["external_id"]


def test_the_shipped_file_is_the_generator_output(tmp_path):
    from tests.modeling.conftest import REPO

    out = tmp_path / "train.jsonl"
    assert synthetic.main(["--out", str(out), "--seed", "0"]) == 0
    assert out.read_text() == (REPO / "annotations" / "demo" / "train_cases.jsonl").read_text()
