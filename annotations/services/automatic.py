"""The automatic metrics of a study, for the dashboard: every arm's newest responses to
the test cases scored (Macro F1, the proactive measures, both halves of balanced tasks,
behavior selection, length), and the arms compared with cluster-bootstrap CIs.

Memory stays bounded whatever the study's size: responses stream from the database in
chunks (``automatic_rows``) and are reduced to counts as they come (one
``ScoreAccumulator`` per arm; for the comparison, each case's labels across arms reduced
to a pattern count); no response text is kept once scored."""

from __future__ import annotations

from collections.abc import Iterator

from annotations.models import Study
from annotations.selectors.analysis import automatic_record, automatic_rows
from modeling.comparison import PatternCounts, compare_arms, default_pairs
from modeling.metrics import ScoreAccumulator


class _Length:
    def __init__(self) -> None:
        self.n = self.tokens_n = self.tokens = self.words = self.silent = 0

    def add(self, record: dict) -> None:
        self.n += 1
        text = record["text"] or ""
        self.words += len(text.split())
        self.silent += not text.strip()
        if record["completion_tokens"] is not None:
            self.tokens_n += 1
            self.tokens += record["completion_tokens"]

    def result(self) -> dict:
        return {"n": self.n, "mean_tokens": self.tokens / self.tokens_n if self.tokens_n else None,
                "mean_words": self.words / self.n if self.n else None, "silent": self.silent}


def _by_case(rows) -> Iterator[list[dict]]:
    """Consecutive rows of one case (the rows come ordered by case)."""
    group: list[dict] = []
    for row in rows:
        if group and row["case_id"] != group[0]["case_id"]:
            yield group
            group = []
        group.append(row)
    if group:
        yield group


def study_automatic_metrics(*, study: Study, n_boot: int = 1000, chunk_size: int = 5000) -> dict:
    """``{"arms": {arm name: scores + "length"}, "comparison": compare_arms(...)}``; arms
    without a response are left out."""
    registry = study.task_registry()
    names, rows = automatic_rows(study, chunk_size=chunk_size)
    order = list(names.values())
    scores = {name: ScoreAccumulator(registry) for name in order}
    lengths = {name: _Length() for name in order}
    patterns = PatternCounts(order)
    for group in _by_case(rows):
        labels = {}
        for row in group:
            name = names[row["arm_id"]]
            record = automatic_record(row)
            labels[name] = scores[name].add(record)["predicted_label"]
            lengths[name].add(record)
        patterns.add_case(group[0]["case__task"], group[0]["case__gold_label"], labels)
    arms = {}
    for name in order:
        if lengths[name].n:
            arms[name] = {**scores[name].result(), "length": lengths[name].result()}
    answered = [name for name in order if name in arms]
    comparison = None
    if answered:
        subset = PatternCounts(answered)
        index = [order.index(name) for name in answered]
        for (task, gold, labels), count in patterns.counts.items():
            subset.counts[(task, gold, tuple(labels[i] for i in index))] += count
        comparison = compare_arms(subset, registry, n_boot=n_boot, seed=study.seed % (2**32),
                                  pairs=default_pairs(answered))
    return {"arms": arms, "comparison": comparison}

