"""Model shapes for the modeling benchmarks: Qwen2.5 Instruct configurations written
out here, instantiated with random weights (nothing is downloaded)."""

from __future__ import annotations

import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

QWEN25_COMMON = {
    "model_type": "qwen2", "architectures": ["Qwen2ForCausalLM"], "hidden_act": "silu",
    "max_position_embeddings": 32768, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
    "use_sliding_window": False, "sliding_window": 32768, "max_window_layers": 28, "attention_dropout": 0.0,
    "bos_token_id": 151643, "eos_token_id": 151645, "pad_token_id": 151643, "initializer_range": 0.02,
    "use_cache": True,
}

SHAPES: dict[str, dict] = {
    # Qwen/Qwen2.5-0.5B-Instruct
    "0.5b": {**QWEN25_COMMON, "hidden_size": 896, "intermediate_size": 4864, "num_hidden_layers": 24,
             "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151936, "tie_word_embeddings": True,
             "max_window_layers": 21},
    # Qwen/Qwen2.5-7B-Instruct
    "7b": {**QWEN25_COMMON, "hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
           "num_attention_heads": 28, "num_key_value_heads": 4, "vocab_size": 152064, "tie_word_embeddings": False},
}
EOS_TOKEN_IDS = [151645, 151643]
PAD_TOKEN_ID = 151643


def build_model(shape: str, device: str, dtype: torch.dtype, seed: int = 0):
    """A Qwen2ForCausalLM of the named shape with random weights, in eval mode."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    config = Qwen2Config(**{k: v for k, v in SHAPES[shape].items() if k not in ("model_type",)})
    config._attn_implementation = "sdpa"
    torch.manual_seed(seed)
    started = time.perf_counter()
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with torch.device(device):
            model = Qwen2ForCausalLM(config)
    finally:
        torch.set_default_dtype(previous)
    model.eval()
    model.generation_config.pad_token_id = PAD_TOKEN_ID
    model.generation_config.eos_token_id = EOS_TOKEN_IDS
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return model, time.perf_counter() - started


def parameter_count(model) -> int:
    return sum(p.numel() for p in model.parameters())


def environment(device: str) -> dict:
    import platform

    from modeling.loading import package_versions

    info = {"device": device, "platform": platform.platform(), "packages": package_versions(),
            "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads()}
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name(0)
        info["gpu_memory_gib"] = round(torch.cuda.get_device_properties(0).total_memory / 2**30, 1)
    return info
