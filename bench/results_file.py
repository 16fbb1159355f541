"""Writes a benchmark's figures to bench/results/<name>.json with what a reader needs to
weigh them: when they were recorded (ISO 8601, UTC), the command that produced them, the
git commit, and the machine (platform, CPUs, memory, GPU). bench/report.py turns the
files into bench/RESULTS.md."""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
RESERVED = ("recorded_at", "command", "git_commit", "git_dirty", "machine")


def write_results(name: str, payload: dict, path: str | Path | None = None) -> Path:
    """Write ``payload`` and the run's context to ``path`` (default
    bench/results/<name>.json) and return the path."""
    clash = [key for key in RESERVED if key in payload]
    if clash:
        raise ValueError(f"write_results adds {', '.join(clash)} itself; rename them in the payload")
    commit, dirty = git_state()
    record = {"benchmark": payload.get("benchmark", name),
              "recorded_at": datetime.now(UTC).isoformat(timespec="seconds"),
              "command": command_line(), "git_commit": commit, "git_dirty": dirty, "machine": machine(),
              **payload}
    out = Path(path) if path else RESULTS_DIR / f"{name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(json.dumps(record, indent=2) + "\n")
    tmp.replace(out)
    print(f"wrote {out}")
    return out


def command_line() -> str:
    """The command as typed from the repository root, e.g. ``.venv/bin/python bench/web.py --clients 20``."""
    script = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0] else None
    if script is None or not script.is_file():
        return ""
    try:
        script_arg = str(script.relative_to(ROOT))
    except ValueError:
        script_arg = str(script)
    return shlex.join([".venv/bin/python", script_arg, *sys.argv[1:]])


def git_state() -> tuple[str | None, bool | None]:
    """The checked-out commit and whether tracked files differ from it."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                                check=True, timeout=10).stdout.strip()
        changed = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                                 capture_output=True, text=True, check=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None, None
    return commit, bool(changed)


def machine() -> dict:
    return {"platform": platform.platform(), "cpu_count": os.cpu_count(), "cpu_model": cpu_model(),
            "memory_gib": memory_gib(), "gpu": gpu_name()}


def cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def memory_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def gpu_name() -> str | None:
    try:
        import torch
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    count = torch.cuda.device_count()
    name = torch.cuda.get_device_name(0)
    return name if count == 1 else f"{count} x {name}"
