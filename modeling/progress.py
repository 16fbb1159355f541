"""Progress reporting shared by training and generation.

Long-running functions take ``progress`` (a callable receiving :class:`Progress`) and
``should_stop`` (a callable returning True to cancel). The Celery tasks pass a callback
that writes done/total to the job row and a ``should_stop`` that reads the job's
cancel flag; the CLIs pass :func:`tqdm_progress`, which draws a bar on a terminal.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


@dataclass(frozen=True)
class Progress:
    done: int  # units finished (generation: prompts; training: optimizer steps)
    total: int
    tokens: int  # tokens processed so far (generation: new tokens; training: input tokens)
    elapsed_s: float
    tokens_per_s: float
    eta_s: float | None  # None until something is done
    loss: float | None = None  # training only: the latest step's loss
    stage: str = ""  # "generate", "train", ...

    @property
    def fraction(self) -> float:
        return self.done / self.total if self.total else 1.0


ProgressCallback = Callable[[Progress], None]
StopCheck = Callable[[], bool]


class Cancelled(Exception):
    """Raised by training when ``should_stop`` asked it to stop; nothing was saved."""


class ProgressTracker:
    """Counts units and tokens, and calls ``callback`` with a :class:`Progress`."""

    def __init__(self, total: int, callback: ProgressCallback | None = None, stage: str = ""):
        self.total = total
        self.callback = callback
        self.stage = stage
        self.done = 0
        self.tokens = 0
        self.loss: float | None = None
        self.start = time.perf_counter()

    def snapshot(self) -> Progress:
        elapsed = time.perf_counter() - self.start
        rate = self.tokens / elapsed if elapsed > 0 else 0.0
        eta = None
        if self.done:
            eta = elapsed / self.done * max(self.total - self.done, 0)
        return Progress(self.done, self.total, self.tokens, elapsed, rate, eta, self.loss, self.stage)

    def update(self, done: int = 0, tokens: int = 0, loss: float | None = None) -> Progress:
        self.done += done
        self.tokens += tokens
        if loss is not None:
            self.loss = loss
        snapshot = self.snapshot()
        if self.callback is not None:
            self.callback(snapshot)
        return snapshot


@contextmanager
def tqdm_progress(desc: str, unit: str, enabled: bool | None = None) -> Iterator[ProgressCallback | None]:
    """A progress callback that draws a tqdm bar, only when stdout is a terminal
    (``enabled=None``); yields None otherwise."""
    if enabled is None:
        enabled = sys.stdout.isatty()
    if not enabled:
        yield None
        return
    from tqdm import tqdm

    bar = tqdm(desc=desc, unit=unit, total=None, dynamic_ncols=True)

    def callback(p: Progress) -> None:
        if bar.total != p.total:
            bar.total = p.total
        bar.n = p.done
        postfix = {"tok/s": f"{p.tokens_per_s:,.0f}"}
        if p.loss is not None:
            postfix["loss"] = f"{p.loss:.4f}"
        bar.set_postfix(postfix, refresh=False)
        bar.refresh()

    try:
        yield callback
    finally:
        bar.close()
