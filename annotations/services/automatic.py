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
from annotations.selectors.analysis import automatic_record, automatic_rows, stored_reading
from annotations.selectors.arms import analysis_seed, study_arm_names
from annotations.selectors.readings import reading_source
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
    """``{"arms": {arm name: scores + "length"}, "comparison": compare_arms(...),
    "reading": what "was the planted problem named" was read from}``; arms without a
    response are left out. Where the study chose a judge job's planted reading
    (``Study.planted_reading_job``), scoring reads it for the responses it read, and
    the terms elsewhere."""
    registry = study.task_registry()
    planted_job = planted_reading_choice(study)
    names, rows = automatic_rows(study, chunk_size=chunk_size, planted_job=planted_job)
    order = list(names.values())
    scores = {name: ScoreAccumulator(registry) for name in order}
    lengths = {name: _Length() for name in order}
    patterns = PatternCounts(order)
    for group in _by_case(rows):
        labels = {}
        for row in group:
            name = names[row["arm_id"]]
            record = automatic_record(row)
            labels[name] = scores[name].add(record, stored_reading(record))["f1_label"]
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
        comparison = compare_arms(subset, registry, n_boot=n_boot, seed=analysis_seed(study),
                                  pairs=default_pairs(answered))
    return {"arms": arms, "comparison": comparison, "reading": reading_source(planted_job)}


def planted_reading_choice(study: Study):
    """The judge job the study's automatic metrics read "was the planted problem named"
    from, or None for the terms' reading."""
    from annotations.models.judge import JudgeJob

    job_id = Study.objects.filter(pk=study.pk).values_list("planted_reading_job_id", flat=True).first()
    return JudgeJob.objects.filter(pk=job_id).first() if job_id else None


def study_reading_agreement(*, study: Study, n_boot: int = 1000) -> dict:
    """The automatic reading of each rated response against the clinicians'
    intervention answers, per arm and overall, with the harm flags
    (:func:`annotations.analysis.reading_agreement.reading_agreement`); the judge's
    planted reading beside it where a judge job read the responses."""
    from annotations.analysis.reading_agreement import reading_agreement
    from annotations.selectors.readings import intervention_key, planted_reading_job, reading_units

    judge_job = planted_reading_job(study)
    units = reading_units(study, judge_job=judge_job)
    result = reading_agreement(units, arms=study_arm_names(study), n_boot=n_boot, seed=analysis_seed(study))
    result["meta"]["intervention_dimension"] = intervention_key(study.rubric)
    result["meta"]["judge"] = reading_source(judge_job) if judge_job is not None else None
    return result

