"""Training cases of a hundred-odd tokens each, for the training tests that are about the
mechanics (resuming, several processes) rather than what the model learns: a CPU step on
them takes a few seconds."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

BEHAVIORS = ("proactive", "reactive", "balanced")
# Hyper-parameters of those tests: few parameters, no dropout (the runs compared draw nothing
# at random but the data order).
TINY = dict(lora_r=4, lr=1e-3, token_lr=3e-2, lora_dropout=0.0, warmup_ratio=0.0, max_length=256)


@contextmanager
def one_thread():
    """Torch on one thread for the block: on a shared CPU, steps this small run several
    times faster without threads waiting on each other."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def tiny_cases(n: int = 4) -> list[dict]:
    return [{"external_id": f"tiny-{i}", "task": "omission_detection", "category": "proactive", "specialty": "icu",
             "split": "train", "question": None, "gold_behavior": BEHAVIORS[i % 3], "label_space": ["flag", "no_flag"],
             "gold_label": "flag", "tables": [], "images": [], "metadata": {},
             "turns": [{"speaker": "Dr. Amari", "role": "attending", "text": f"Plan: start heparin at {10 + i}:00."}],
             "reference_response": f"Platelets have halved ({i}); check for HIT first."} for i in range(n)]


def write_cases(path: Path, cases: list[dict]) -> Path:
    path.write_text("".join(json.dumps(case) + "\n" for case in cases))
    return path


def adapter_difference(a: Path, b: Path) -> tuple[float, float]:
    """The largest absolute difference between two adapters' weights, and their largest weight."""
    from safetensors.torch import load_file

    first, second = load_file(a / "adapter_model.safetensors"), load_file(b / "adapter_model.safetensors")
    assert sorted(first) == sorted(second)
    return (max((first[k] - second[k]).abs().max().item() for k in first),
            max(first[k].abs().max().item() for k in first))
