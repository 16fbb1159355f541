"""A study as a Hugging Face dataset (annotations/hf_dataset.py): the splits load back
with load_from_disk and, from the Parquet shards, with load_dataset, typed and with the
study's row counts; the card's YAML is the Hub's and holds the chosen licence; the
command writes it; a push without a token is refused and with one uploads the folder to
the named repository, private by default."""

from __future__ import annotations

import datasets
import pytest
from django.core.management import CommandError, call_command
from huggingface_hub import DatasetCard, HfApi

from annotations.dataset_card import size_category
from annotations.dataset_features import SPLIT_FEATURES
from annotations.hf_dataset import dataset_write
from annotations.models import Assignment, Case, HarmDecision, ModelArm, Rating, Response
from annotations.selectors.preference_pairs import pairwise_preferences
from annotations.services.aggregation import study_aggregate
from annotations.services.harms import harm_decide
from annotations.services.planner import assignments_plan
from annotations.services.rating import assignment_submit
from evalportal.roles import CLINICIAN
from modeling.behavior import SILENT_TEXT
from tests.conftest import complete_rating
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

SECRET_MODEL = "secret-org/secret-clinical-7b"
REASON = "Continues heparin despite falling platelets"
RANK = {"BehaviorSFT": "1", "GeneralSFT": "2", "Baseline": "3"}
REALISM = {"BehaviorSFT": "5", "GeneralSFT": "3", "Baseline": "2"}


@pytest.fixture
def published_study(rated_study, researcher):
    """rated_study planned for 3 clinicians and every case submitted (BehaviorSFT ranked
    best and rated most realistic), one Baseline response flagged and the flag confirmed, and an arm whose base
    model id no page shows researchers."""
    ModelArm.objects.filter(name="GeneralSFT").update(base_model=SECRET_MODEL, method=ModelArm.Method.GENERAL_SFT)
    raters = [UserFactory(username=f"rater{i}", role=CLINICIAN) for i in range(3)]
    assignments_plan(study=rated_study, raters=raters)
    arm_of = dict(Response.objects.values_list("id", "arm__name"))
    flagged = False
    for assignment in Assignment.objects.filter(study=rated_study).select_related("study", "rater").order_by("id"):
        data = complete_rating(len(assignment.slots), rated_study.rubric)
        for slot, response_id in enumerate(assignment.slots):
            data[f"rank_{slot}"] = RANK[arm_of[response_id]]
            data[f"r{slot}_realism"] = REALISM[arm_of[response_id]]
            if not flagged and arm_of[response_id] == "Baseline":
                data[f"r{slot}_harmful"], data[f"r{slot}_harmful_reason"] = "on", REASON
                flagged = True
        assignment_submit(assignment=assignment, rater=assignment.rater, data=data)
    flag = Rating.objects.get(submission__assignment__study=rated_study, dimension="harmful", choice="yes")
    harm_decide(study=rated_study, rating_id=flag.pk, decision="confirmed", note="Agreed.", actor=researcher)
    return rated_study


def _study_counts(study) -> dict[str, int]:
    return {
        "cases": Case.objects.filter(study=study).count(),
        "responses": Response.objects.filter(case__study=study).count(),
        "ratings": Rating.objects.filter(submission__assignment__study=study, submission__is_current=True).count(),
        "pairwise_preferences": sum(1 for _ in pairwise_preferences(study)),
        "harms": HarmDecision.objects.filter(rating__submission__assignment__study=study).count(),
    }


def test_the_dataset_loads_back_typed_with_the_studys_rows(published_study, tmp_path):
    silent = Response.objects.filter(case__study=published_study).order_by("id").first()
    Response.objects.filter(pk=silent.pk).update(text="", raw_text="<|reactive|>")
    out = tmp_path / "dataset"
    written = dataset_write(published_study, out=out, license_id="cc-by-nc-4.0")

    counts = _study_counts(published_study)
    assert counts["ratings"] == 12 * 3 * len(published_study.rubric) and counts["harms"] == 1
    on_disk = datasets.load_from_disk(str(out))
    assert list(on_disk) == list(SPLIT_FEATURES)
    for name, features in SPLIT_FEATURES.items():
        assert on_disk[name].features == features, name
        if name in counts:
            assert on_disk[name].num_rows == counts[name], name
    # each case's three pairs of arms, but the two of the response whose harm was confirmed
    assert on_disk["dpo_pairs"].num_rows == 6 * 3 - 2 and written.rows == {n: s.num_rows for n, s in on_disk.items()}
    dpo = on_disk["dpo_pairs"][0]
    assert dpo["chosen"][0]["role"] == "assistant" and dpo["prompt"][-1]["role"] == "user"
    assert (dpo["chosen_arm"], dpo["rejected_arm"]) in {("BehaviorSFT", "GeneralSFT"), ("BehaviorSFT", "Baseline"),
                                                         ("GeneralSFT", "Baseline")}

    harm = on_disk["harms"][0]
    assert (harm["arm"], harm["reason"], harm["decision_note"]) == ("Baseline", REASON, "Agreed.")
    assert on_disk["harms"].features["decision"].int2str(harm["decision"]) == "confirmed"
    ratings = on_disk["ratings"].to_pandas()
    assert set(ratings["rank"]) == {1, 2, 3} and set(ratings["responses_shown"]) == {3}
    best = ratings[ratings["arm"] == "BehaviorSFT"]
    assert set(best["rank"]) == {1}
    responses = on_disk["responses"]
    assert set(responses["arm"]) == {"Baseline", "GeneralSFT", "BehaviorSFT"}
    silent_row = responses.filter(lambda row: row["response_id"] == silent.pk)[0]
    assert (silent_row["text"], silent_row["raw_text"]) == (SILENT_TEXT, "<|reactive|>")  # as raters saw it
    assert responses.features["arm_method"].int2str(responses[0]["arm_method"]) in ModelArm.Method.values
    case = on_disk["cases"].filter(lambda row: row["external_id"] == "train-0")[0]
    assert on_disk["cases"].features["split"].int2str(case["split"]) == "train"

    # The Parquet shards in the Hub's layout, each table a config of the card
    assert sorted(p.name for p in (out / "data").iterdir()) == sorted(
        f"{name}-00000-of-00001.parquet" for name in SPLIT_FEATURES)
    for name, features in SPLIT_FEATURES.items():
        from_parquet = datasets.load_dataset("parquet", data_files=str(out / "data" / f"{name}-*.parquet"),
                                             split="train", cache_dir=str(tmp_path / "cache"))
        assert from_parquet.features == features and from_parquet.num_rows == on_disk[name].num_rows, name
    by_card = datasets.load_dataset(str(out), "ratings", split="train", cache_dir=str(tmp_path / "cache"))
    assert by_card.num_rows == counts["ratings"] and by_card.features == SPLIT_FEATURES["ratings"]


def test_the_card_is_the_hubs_with_the_licence_and_the_protocol(published_study, tmp_path):
    study_aggregate(study=published_study, n_boot=20)
    out = tmp_path / "dataset"
    dataset_write(published_study, out=out, license_id="cc-by-nc-4.0")

    card = DatasetCard.load(out / "README.md")
    data = card.data.to_dict()
    assert data["license"] == "cc-by-nc-4.0" and data["language"] == ["en"]
    assert data["size_categories"] == ["n<1K"]
    assert data["task_categories"] == ["text-classification", "text-generation"]
    assert data["pretty_name"] == published_study.name
    assert {c["config_name"]: c["data_files"] for c in data["configs"]}["dpo_pairs"] == [
        {"split": "train", "path": "data/dpo_pairs-*.parquet"}]
    text = card.text
    assert "**Raters per case:** 2." in text and "**Arms per screen:** 3 of the study's 3." in text
    assert "Would a skilled clinician colleague act and speak this way here?" in text
    assert "| GeneralSFT | GeneralSFT |" in text and "| BehaviorSFT | Baseline |" in text
    assert SECRET_MODEL not in card.content
    assert "3 raters, 12 submitted cases, 216 ratings" in text
    assert "### Mean ratings per arm" in text
    assert "| Realism | BehaviorSFT | 12 | 5.00 [5.00, 5.00] |" in text and "| Realism | Baseline | 12 | 2.00" in text
    assert f"study's seed (planner, splits and statistics) is {published_study.seed}" in text
    # Both leaderboards, as the dashboard has them. Every rater ranked the arms in the same
    # order, so no strength is finite: the fits did not converge and show none.
    assert "### Leaderboards from the clinicians' rankings" in text
    board = text.split("### Leaderboards from the clinicians' rankings")[1]
    rows = {line.split(" | ")[0].removeprefix("| "): line for line in board.splitlines() if line.startswith("| ")}
    assert {"BehaviorSFT", "GeneralSFT", "Baseline"} <= set(rows)
    assert rows["BehaviorSFT"].split(" | ")[1:3] == ["–", "–"]


def test_an_empty_table_is_saved_but_has_no_parquet_file_or_config(rated_study, tmp_path):
    out = tmp_path / "dataset"
    written = dataset_write(rated_study, out=out, license_id="mit")

    assert written.rows["ratings"] == written.rows["harms"] == 0 and written.rows["responses"] == 18
    on_disk = datasets.load_from_disk(str(out))
    assert on_disk["harms"].num_rows == 0 and on_disk["harms"].features == SPLIT_FEATURES["harms"]
    assert sorted(p.name for p in (out / "data").iterdir()) == [
        "cases-00000-of-00001.parquet", "responses-00000-of-00001.parquet"]
    configs = DatasetCard.load(out / "README.md").data.to_dict()["configs"]
    assert [c["config_name"] for c in configs] == ["cases", "responses"]


def test_size_categories_follow_the_hubs_buckets():
    assert [size_category(n) for n in (0, 999, 1_000, 99_999, 100_000, 2_500_000)] == [
        "n<1K", "n<1K", "1K<n<10K", "10K<n<100K", "100K<n<1M", "1M<n<10M"]


def test_the_command_writes_the_dataset(published_study, tmp_path, capsys):
    out = tmp_path / "command"
    call_command("export_hf", published_study.slug, "--out", str(out), "--license", "cc-by-4.0")

    assert "Wrote" in capsys.readouterr().out
    assert datasets.load_from_disk(str(out))["responses"].num_rows == 18
    assert DatasetCard.load(out / "README.md").data.license == "cc-by-4.0"


@pytest.mark.parametrize(("args", "message"), [
    (["--license", "cc-by-99"], "invalid choice"),
    (["--license", "mit", "--push-to-hub", "my lab/rated"], "not a valid name"),
    (["--license", "mit", "--push-to-hub", "a/b/c"], "org/name"),
    (["--license", "mit", "--push-to-hub", "org/name"], "HF_TOKEN"),
])
def test_the_command_refuses_bad_input_and_writes_nothing(rated_study, tmp_path, monkeypatch, args, message):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    out = tmp_path / "refused"
    with pytest.raises(CommandError, match=message):
        call_command("export_hf", rated_study.slug, "--out", str(out), *args)
    assert not out.exists()


def test_the_command_refuses_a_folder_in_use_and_an_unknown_study(rated_study, tmp_path):
    used = tmp_path / "used"
    used.mkdir()
    (used / "notes.txt").write_text("keep me")
    with pytest.raises(CommandError, match="not empty"):
        call_command("export_hf", rated_study.slug, "--out", str(used), "--license", "mit")
    assert [p.name for p in used.iterdir()] == ["notes.txt"]
    with pytest.raises(CommandError, match="No such study"):
        call_command("export_hf", "no-such-study", "--out", str(tmp_path / "new"), "--license", "mit")


def test_a_push_uploads_the_folder_to_the_named_repository_private_by_default(rated_study, tmp_path, monkeypatch):
    """The one place the network is patched: the Hub's repository creation and upload."""
    calls = []
    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kw: calls.append(
        ("create_repo", self.token, repo_id, kw)))

    def upload_folder(self, *, folder_path, repo_id, **kw):
        from pathlib import Path

        files = sorted(str(p.relative_to(folder_path)) for p in Path(folder_path).rglob("*") if p.is_file())
        calls.append(("upload_folder", self.token, repo_id, {**kw, "files": files}))

    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    monkeypatch.setenv("HF_TOKEN", "hf_test_token")

    written = dataset_write(rated_study, out=tmp_path / "pushed", license_id="cc-by-4.0", repo_id="lab/rated-study")

    assert written.hub_url == "https://huggingface.co/datasets/lab/rated-study"
    (create, token, repo, options), (upload, upload_token, upload_repo, upload_options) = calls
    assert (create, token, repo) == ("create_repo", "hf_test_token", "lab/rated-study")
    assert options == {"repo_type": "dataset", "private": True, "exist_ok": True}
    assert (upload, upload_token, upload_repo) == ("upload_folder", "hf_test_token", "lab/rated-study")
    assert upload_options["repo_type"] == "dataset"
    assert upload_options["allow_patterns"] == ["README.md", "data/*.parquet"]
    assert "README.md" in upload_options["files"] and "data/cases-00000-of-00001.parquet" in upload_options["files"]
    card = DatasetCard.load(tmp_path / "pushed" / "README.md")
    assert 'load_dataset("lab/rated-study", "ratings", split="train")' in card.text

    calls.clear()
    dataset_write(rated_study, out=tmp_path / "public", license_id="cc-by-4.0", repo_id="lab/rated-study",
                  private=False)
    assert calls[0][3]["private"] is False


def test_the_people_in_it_are_pseudonyms_the_same_in_every_table(published_study, researcher, tmp_path):
    out = tmp_path / "dataset"
    dataset_write(published_study, out=out, license_id="cc-by-4.0")
    on_disk = datasets.load_from_disk(str(out))

    raters = {f"rater-{n}" for n in (1, 2, 3)}
    ratings = on_disk["ratings"].to_pandas()
    assert set(ratings["rater"]) == set(ratings["submitted_by"]) == raters
    assert all(ratings["rater"] == "rater-" + ratings["rater_id"].astype(str))
    assert set(on_disk["pairwise_preferences"]["rater"]) == raters
    assert {name for names in on_disk["dpo_pairs"]["rater_ids"] for name in names} == raters
    harm = on_disk["harms"][0]
    flagged_by = Rating.objects.get(submission__assignment__study=published_study, dimension="harmful",
                                    choice="yes").submission.assignment.rater.username
    assert harm["rater"] == f"rater-{int(flagged_by.removeprefix('rater')) + 1}"
    assert harm["decided_by"] == "adjudicator-1" and set(ratings["harm_decided_by"].dropna()) == {"adjudicator-1"}
    # No table, no file of the folder, names a portal account.
    accounts = [f"rater{i}" for i in range(3)] + [researcher.username]
    for path in out.rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert not any(f'"{name}"'.encode() in content or name.encode() + b"\x00" in content
                           for name in accounts), path
    for name, split in on_disk.items():
        frame = split.to_pandas()
        for column in frame.columns:
            values = {str(v) for v in frame[column].explode() if v is not None}
            assert not values & set(accounts), (name, column)


def test_the_card_gives_both_leaderboards_of_the_analysis(published_study, tmp_path):
    from annotations.models import Preference

    # Raters who disagree now and then (every third screen swaps two arms), so the fits converge.
    for n, submission_id in enumerate(sorted(set(Preference.objects.filter(
            submission__assignment__study=published_study).values_list("submission_id", flat=True)))):
        by_arm = {p.response.arm.name: p for p in Preference.objects.filter(submission_id=submission_id)
                  .select_related("response__arm")}
        first, second = (("BehaviorSFT", "GeneralSFT"), ("GeneralSFT", "Baseline"), (None, None))[n % 3]
        if first:
            by_arm[first].rank, by_arm[second].rank = by_arm[second].rank, by_arm[first].rank
            Preference.objects.bulk_update([by_arm[first], by_arm[second]], ["rank"])
    study_aggregate(study=published_study, n_boot=20)
    dataset_write(published_study, out=tmp_path / "dataset", license_id="cc-by-4.0")

    board = (tmp_path / "dataset" / "README.md").read_text().split("### Leaderboards from the clinicians' rankings")[1]
    board = board.split("\n#")[0]  # up to the next heading
    rows = {line.split(" | ")[0].removeprefix("| "): line.split(" | ") for line in board.splitlines()
            if line.startswith("| ") and not line.startswith("| arm") and not line.startswith("| ---")}
    assert set(rows) == {"BehaviorSFT", "GeneralSFT", "Baseline"}
    assert [rows[arm][2] for arm in ("BehaviorSFT", "GeneralSFT", "Baseline")] == ["1", "2", "3"]  # plain ranks
    assert all("[" in rows[arm][1] for arm in rows)  # a score with its interval
