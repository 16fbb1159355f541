"""A study as a Hugging Face dataset: a ``DatasetDict`` of the splits of
:mod:`annotations.dataset_features`, each streamed from its rows into an Arrow file of a
temporary folder (``datasets``' ``ArrowWriter``, a batch of rows at a time: never a whole
study in a Python list) and read back memory-mapped; written with ``save_to_disk`` and as
Parquet shards in the Hub's layout (``data/<split>-0000N-of-0000M.parquet``) beside its
card (``README.md``), and pushed to the Hub where asked. The splits' columns differ, so
on the Hub (and to ``load_dataset`` on the folder) each split is a config of its own with
one split, ``train``. Unblinded: for researchers and admins only; the people in it
(raters, adjudicators) by pseudonyms, never their portal accounts."""

from __future__ import annotations

import math
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import pyarrow as pa
from datasets import ClassLabel, Dataset, DatasetDict, Features, NamedSplit
from datasets.arrow_writer import ArrowWriter
from datasets.utils.logging import disable_progress_bar
from huggingface_hub import HfApi
from huggingface_hub.errors import HFValidationError
from huggingface_hub.utils import validate_repo_id

from annotations.analysis.dpo_pairs import DpoRules
from annotations.dataset_card import dataset_card
from annotations.dataset_features import SPLIT_FEATURES
from annotations.errors import InvalidRequest
from annotations.exports import export_batches
from annotations.models import Study
from annotations.models.dataset_export import LICENSE_IDS
from annotations.selectors.dataset_rows import Pseudonyms, case_rows, harm_rows, response_rows
from annotations.selectors.preference_pairs import dpo_pairs, pairwise_preferences
from modeling.progress import Cancelled

HUB_TOKEN_ENV = "HF_TOKEN"
HUB_DATASETS_URL = "https://huggingface.co/datasets/"
# The Hub's own shard size (``push_to_hub``'s default): the viewer reads shards this size.
MAX_SHARD_BYTES = 500 * 1024 * 1024
# Rows converted to Arrow at a time: a few megabytes of Python objects at most.
BATCH_ROWS = 2_000


def _row_tables(rows: Iterable[dict], features: Features) -> Iterator[pa.Table]:
    """``rows`` (dicts of the split's columns, closed sets as their names) as Arrow tables
    of BATCH_ROWS rows in the features' schema, converted by Arrow rather than row by row
    through ``Features.encode_example`` (most of the time of ``Dataset.from_generator``)."""
    schema = features.arrow_schema
    labels = {name: {label: i for i, label in enumerate(feature.names)}
              for name, feature in features.items() if isinstance(feature, ClassLabel)}
    batch: list[dict] = []
    for row in chain(rows, [None]):
        if row is not None:
            for name, index in labels.items():
                value = row[name]
                if value is not None and value not in index:
                    raise ValueError(f"{name} {value!r} is not one of {', '.join(index)}")
                row[name] = None if value is None else index[value]
            batch.append(row)
        if batch and (row is None or len(batch) >= BATCH_ROWS):
            yield pa.Table.from_pylist(batch, schema=schema)
            batch = []


def _rating_tables(study: Study, features: Features, people: Pseudonyms) -> Iterator[pa.Table]:
    """The ratings export's record batches, whose schema the split's features are, with
    the raters by their pseudonyms."""
    for batch in export_batches(study, rows="ratings", chunk_rows=BATCH_ROWS * 5):
        table = pa.Table.from_batches([batch])
        # The portal's account ids go with the names: rater_id is n of rater-n.
        usernames = table.column("rater").to_pylist()
        table = table.set_column(table.schema.get_field_index("rater_id"), "rater_id",
                                 pa.array([people.number(name) for name in usernames], pa.int64()))
        for index, name in enumerate(table.column_names):
            if (rename := people.column(name)) is not None:
                values = usernames if name == "rater" else table.column(index).to_pylist()
                table = table.set_column(index, name, pa.array([rename(v) for v in values], pa.string()))
        yield table.cast(features.arrow_schema)


def _rows(read: Callable[[Study], Iterable[dict]]) -> Callable[[Study, Features, Pseudonyms], Iterator[pa.Table]]:
    return lambda study, features, people: _row_tables(map(people.row, read(study)), features)


SPLIT_TABLES: dict[str, Callable[[Study, Features, Pseudonyms], Iterable[pa.Table]]] = {
    "cases": _rows(case_rows), "responses": _rows(response_rows), "ratings": _rating_tables,
    "pairwise_preferences": _rows(pairwise_preferences),
    "dpo_pairs": _rows(lambda study: dpo_pairs(study, rules=DpoRules())), "harms": _rows(harm_rows),
}


def license_problem(license_id: str) -> str | None:
    if license_id not in LICENSE_IDS:
        return f"Unknown licence {license_id!r}; choose one of {', '.join(LICENSE_IDS)}."
    return None


def repo_id_problem(repo_id: str) -> str | None:
    """Why ``repo_id`` cannot name a Hub dataset repository (``org/name``); None if it can."""
    if repo_id.count("/") != 1:
        return f"The Hub repository {repo_id!r} must be named as org/name (or user/name)."
    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        return f"The Hub repository {repo_id!r} is not a valid name: {exc}"
    return None


def export_request_check(*, license_id: str, repo_id: str = "") -> None:
    """InvalidRequest for an unknown licence or a malformed Hub repository name."""
    problem = license_problem(license_id) or (repo_id_problem(repo_id) if repo_id else None)
    if problem:
        raise InvalidRequest(problem)


def hub_token() -> str:
    """The Hub token of the environment (HF_TOKEN); InvalidRequest when none is set."""
    token = os.environ.get(HUB_TOKEN_ENV, "").strip()
    if not token:
        raise InvalidRequest(f"No Hugging Face token: set {HUB_TOKEN_ENV} in the environment of the process that "
                             "pushes (the worker, or the shell of the command) to a token that may write to the "
                             "repository.")
    return token


def _split(study: Study, name: str, features: Features, people: Pseudonyms, cache_dir: Path) -> Dataset:
    """One split, written to an Arrow file in ``cache_dir`` a batch at a time and read
    back memory-mapped."""
    path = cache_dir / f"{name}.arrow"
    with ArrowWriter(features=features, path=str(path)) as writer:
        for table in SPLIT_TABLES[name](study, features, people):
            writer.write_table(table)
        writer.finalize()
    return Dataset.from_file(str(path), split=NamedSplit(name))


def parquet_write(dataset: DatasetDict, folder: Path) -> dict[str, list[str]]:
    """Each split as Parquet shards of at most MAX_SHARD_BYTES named as the Hub names them
    (``<split>-0000N-of-0000M.parquet``); the file names per split. An empty split has no
    file: ``load_dataset`` and the Hub's viewer refuse a Parquet file without rows."""
    folder.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, split in dataset.items():
        if not split.num_rows:
            continue
        shards = max(1, math.ceil(split.data.nbytes / MAX_SHARD_BYTES))
        written[name] = []
        for index in range(shards):
            path = folder / f"{name}-{index:05d}-of-{shards:05d}.parquet"
            split.shard(num_shards=shards, index=index, contiguous=True).to_parquet(str(path))
            written[name].append(path.name)
    return written


@dataclass(frozen=True)
class DatasetWritten:
    out: Path
    rows: dict[str, int]
    hub_url: str = ""


def dataset_write(study: Study, *, out: Path, license_id: str, repo_id: str = "", private: bool = True,
                  progress: Callable[[int, int], bool] | None = None) -> DatasetWritten:
    """Write ``study``'s dataset into the folder ``out`` (which must be empty or absent):
    ``save_to_disk``'s files (``datasets.load_from_disk(out)``), the Parquet shards under
    ``out/data`` and the card ``out/README.md``; then push it to ``repo_id`` where given.
    ``progress(done, total)`` is called after each step; once it returns True the write
    stops (``modeling.progress.Cancelled``)."""
    export_request_check(license_id=license_id, repo_id=repo_id)
    token = hub_token() if repo_id else None
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise InvalidRequest(f"{out} is not empty; name a new or empty folder.")
    out.mkdir(parents=True, exist_ok=True)
    disable_progress_bar()
    total = len(SPLIT_FEATURES) + 2 + (1 if repo_id else 0)
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if progress is not None and progress(done, total):
            raise Cancelled("dataset export cancelled")

    with tempfile.TemporaryDirectory(prefix="hf-export-") as cache_dir:
        splits = {}
        people = Pseudonyms(study)
        for name, features in SPLIT_FEATURES.items():
            splits[name] = _split(study, name, features, people, Path(cache_dir))
            step()
        dataset = DatasetDict(splits)
        # An empty split saved in its default number of shards has none, and would not load.
        dataset.save_to_disk(str(out), num_shards={name: 1 if not split.num_rows else None
                                                   for name, split in dataset.items()})
        step()
        parquet_write(dataset, out / "data")
        rows = {name: split.num_rows for name, split in dataset.items()}
        dataset_card(study, license_id=license_id, rows=rows, repo_id=repo_id).save(out / "README.md")
        step()
        hub_url = ""
        if repo_id:
            hub_url = dataset_push(out, repo_id=repo_id, private=private, token=token)
            step()
    return DatasetWritten(out=out, rows=rows, hub_url=hub_url)


def dataset_push(out: Path, *, repo_id: str, private: bool, token: str) -> str:
    """Upload the folder's card and Parquet shards to the Hub dataset repository
    ``repo_id`` (created ``private`` if new) in one commit, shards of an earlier push
    removed; the dataset's page on the Hub. The splits' columns differ, so each is a
    config of its own (the card's ``configs``), which ``DatasetDict.push_to_hub`` cannot
    write: it pushes splits of one schema."""
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    api.upload_folder(folder_path=str(out), repo_id=repo_id, repo_type="dataset",
                      allow_patterns=["README.md", "data/*.parquet"], delete_patterns=["data/*.parquet"],
                      commit_message="Upload the dataset from evalportal")
    return HUB_DATASETS_URL + repo_id
