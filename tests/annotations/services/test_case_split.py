"""One split of a case file: a file whose cases come without a split puts the same cases in
train, dev and test when the portal imports it and when the command-line tools read it, so
a model trained from the command line is never scored by the portal on its training cases."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from annotations.models import Case
from annotations.services.cases import case_import
from modeling.generate.engine import GenerationResult
from modeling.splits import DEFAULT_SPLIT_SEED

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

EXAMPLE_CASES = Path(__file__).resolve().parents[2] / "fixtures" / "cases.example.jsonl"
SPLITS = ("train", "dev", "test")


def _case_file(path: Path) -> Path:
    """Cases of three tasks and several gold labels, none with a split, and three that
    name their own."""
    templates = {c["task"]: c for c in map(json.loads, EXAMPLE_CASES.read_text().splitlines())}
    flag, choice = templates["omission_detection"], templates["ddx_reasoning"]
    lines = []
    for i in range(150):
        if i % 3 == 2:
            case = {**choice, "gold_label": "ABCD"[i % 4]}
        else:
            case = {**flag, "task": ("omission_detection", "consistency_check")[i % 3],
                    "gold_label": ("flag", "no_flag")[i % 2]}
        case = {k: v for k, v in case.items() if k != "split"}
        lines.append({**case, "external_id": f"case-{i:03d}"})
    for i, split in enumerate(SPLITS):
        lines.append({**choice, "external_id": f"own-{split}", "gold_label": "ABCD"[i], "split": split})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


@pytest.fixture
def case_file(tmp_path) -> Path:
    return _case_file(tmp_path / "cases.jsonl")


def _portal(study, case_file: Path) -> dict[str, set[str]]:
    case_import(study=study, data=case_file.read_bytes())
    return {split: set(Case.objects.filter(study=study, split=split).values_list("external_id", flat=True))
            for split in SPLITS}


def _train_cli(case_file: Path, tmp_path: Path, monkeypatch, *seed: str) -> dict[str, set[str]]:
    """The cases ``python -m modeling.train`` trains on, for ``--split`` train, dev and test."""
    from modeling.train import cli

    trained: list[list[dict]] = []

    def train_adapter(base, cases, arm, out, **kwargs):
        trained.append(cases)
        return SimpleNamespace(adapter_dir=out, loss_history=[0.0],
                               manifest={"steps": 0, "n_cases": len(cases), "tokens_per_s": 0.0})

    monkeypatch.setattr(cli, "train_adapter", train_adapter)
    for split in SPLITS:
        assert cli.main(["--arm", "general_sft", "--base", "demo", "--data", str(case_file),
                         "--out", str(tmp_path / "adapter"), "--split", split, *seed]) == 0
    return {split: {c["external_id"] for c in cases} for split, cases in zip(SPLITS, trained)}


class _Engine:
    backend = "stand-in"

    def __init__(self, loaded, **kwargs):
        pass

    def decoding_params(self) -> dict:
        return {}

    def generate_iter(self, cases, progress=None, *, arm, fewshot_pool, on_lasting_failure=None):
        yield [GenerationResult(key=c["external_id"], text="", raw_text="", predicted_behavior=None,
                                prompt_tokens=1, completion_tokens=1, latency_s=0.0) for c in cases]


def _generate_cli(case_file: Path, tmp_path: Path, monkeypatch, *seed: str) -> set[str]:
    """The cases ``python -m modeling.generate`` answers by default (its test split)."""
    import modeling.loading
    from modeling.generate import cli

    loaded = SimpleNamespace(base_hash="b", adapter_hash=None, provenance=lambda: {"base_hash": "b"})
    monkeypatch.setattr(modeling.loading, "load_model", lambda *args, **kwargs: loaded)
    monkeypatch.setattr(cli, "GenerationEngine", _Engine)
    out = tmp_path / "responses.jsonl"
    assert cli.main(["--base", "demo", "--data", str(case_file), "--out", str(out), "--overwrite", *seed]) == 0
    return {json.loads(line)["external_id"] for line in out.read_text().splitlines()}


def test_the_portal_and_the_command_lines_put_the_same_cases_in_each_split(study, case_file, tmp_path,
                                                                           monkeypatch):
    assert study.seed == DEFAULT_SPLIT_SEED  # a new study's seed is the command lines' default
    portal = _portal(study, case_file)
    assert all(len(portal[split]) >= 10 for split in SPLITS)
    assert all(f"own-{split}" in portal[split] for split in SPLITS)

    assert _train_cli(case_file, tmp_path, monkeypatch) == portal
    assert _generate_cli(case_file, tmp_path, monkeypatch) == portal["test"]


def test_a_study_with_its_own_seed_is_matched_with_split_seed(study, case_file, tmp_path, monkeypatch):
    study.seed = 7
    study.save(update_fields=["seed"])
    portal = _portal(study, case_file)

    assert _train_cli(case_file, tmp_path, monkeypatch, "--split-seed", "7") == portal
    assert _generate_cli(case_file, tmp_path, monkeypatch, "--split-seed", "7") == portal["test"]
    assert _generate_cli(case_file, tmp_path, monkeypatch) != portal["test"]  # another seed, another split
