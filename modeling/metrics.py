"""BehaviorBench metrics: Macro F1 per task, per category and overall, and behavior
selection accuracy.

Labels are read from each response with the task registry's extractor
(:func:`modeling.task_types.extract_label`). A response whose label cannot be read counts
as wrong: it is a false negative for its gold label and a false positive for nothing.

Which labels a task's Macro F1 averages over: every label that occurs as a gold label
or as a (readable) prediction in that task's records, the same set scikit-learn's
``f1_score(average="macro")`` uses when given no ``labels``. A label of the task's
label space that nobody used does not drag the score down.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence

from modeling.task_types import CATEGORIES, DEFAULT_TASKS, TaskType, extract_label, parse_options


def per_label_scores(gold: Sequence, pred: Sequence, labels: Sequence) -> dict[str, dict]:
    """Precision, recall, F1 and support per label (0 where undefined, like sklearn's
    ``zero_division=0``). A prediction outside ``labels`` (None: unreadable) is never a
    true positive."""
    if len(gold) != len(pred):
        raise ValueError(f"gold and pred differ in length ({len(gold)} != {len(pred)})")
    tp: Counter = Counter()
    fp: Counter = Counter()
    fn: Counter = Counter()
    for g, p in zip(gold, pred):
        if g == p:
            tp[g] += 1
        else:
            fn[g] += 1
            fp[p] += 1
    out = {}
    for label in labels:
        t, f_p, f_n = tp[label], fp[label], fn[label]
        precision = t / (t + f_p) if t + f_p else 0.0
        recall = t / (t + f_n) if t + f_n else 0.0
        f1 = 2 * t / (2 * t + f_p + f_n) if t + f_p + f_n else 0.0
        out[label] = {"precision": precision, "recall": recall, "f1": f1, "support": t + f_n}
    return out


def macro_f1(gold: Sequence, pred: Sequence, labels: Sequence | None = None) -> float:
    """Unweighted mean of per-label F1 over ``labels`` (default: every label seen in
    ``gold`` or ``pred``, None excluded). Equals
    ``sklearn.metrics.f1_score(gold, pred, labels=labels, average="macro", zero_division=0)``."""
    if labels is None:
        labels = sorted({x for x in list(gold) + list(pred) if x is not None}, key=str)
    if not len(labels):
        return 0.0
    scores = per_label_scores(gold, pred, labels)
    return sum(s["f1"] for s in scores.values()) / len(labels)


def _mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None


def read_label(record: Mapping, task: TaskType) -> str | None:
    """The label a response expresses, read with its task's extractor; for option tasks
    limited to the case's own label space, and helped by the options the question lists."""
    text = record.get("text")
    if text is None:
        text = record.get("response", "")
    if record.get("label_space") and task.extractor == "option":
        task = dataclasses.replace(task, label_space=tuple(record["label_space"]))
    options = parse_options(record.get("question") or "", task.label_space) if task.extractor == "option" else None
    return extract_label(task, text, options=options)


def score_responses(records: Iterable[Mapping], registry: Mapping[str, TaskType] = DEFAULT_TASKS) -> dict:
    """Score responses against gold labels and behaviors.

    Each record needs ``task``, ``gold_label`` and the response ``text`` (behavior token
    stripped); optional: ``gold_behavior``, ``predicted_behavior``, ``label_space`` and
    ``question`` (the case's), ``external_id``.

    Returns ``{"n", "tasks": {task: {category, n, macro_f1, labels, per_label,
    unreadable}}, "categories": {category: {macro_f1 (mean of its tasks' Macro F1),
    tasks, n}}, "overall": {macro_f1 (mean over tasks), mean_of_categories, n},
    "behavior": {accuracy, n, n_predicted, confusion}, "predictions": [...]}``.
    Accuracy is None when no response carried a behavior token (arms without them).
    """
    by_task: dict[str, list[tuple[str, str | None]]] = defaultdict(list)
    predictions = []
    behavior_pairs = []
    n = 0
    for record in records:
        n += 1
        name = record["task"]
        task = registry.get(name)
        if task is None:
            raise ValueError(f"record {record.get('external_id', n)!r}: unknown task {name!r}")
        predicted = read_label(record, task)
        by_task[name].append((record["gold_label"], predicted))
        predictions.append({"external_id": record.get("external_id"), "task": name,
                            "gold_label": record["gold_label"], "predicted_label": predicted})
        if record.get("gold_behavior"):
            behavior_pairs.append((record["gold_behavior"], record.get("predicted_behavior")))

    tasks = {}
    for name in sorted(by_task):
        pairs = by_task[name]
        gold = [g for g, _ in pairs]
        pred = [p for _, p in pairs]
        labels = sorted({x for x in gold + pred if x is not None}, key=str)
        tasks[name] = {
            "category": registry[name].category,
            "n": len(pairs),
            "macro_f1": macro_f1(gold, pred, labels),
            "accuracy": sum(g == p for g, p in pairs) / len(pairs),
            "labels": labels,
            "per_label": per_label_scores(gold, pred, labels),
            "unreadable": sum(p is None for p in pred),
        }
    categories = {}
    for category in CATEGORIES:
        names = [t for t, s in tasks.items() if s["category"] == category]
        if names:
            categories[category] = {"macro_f1": _mean(tasks[t]["macro_f1"] for t in names), "tasks": names,
                                    "n": sum(tasks[t]["n"] for t in names)}
    overall = {"macro_f1": _mean(s["macro_f1"] for s in tasks.values()),
               "mean_of_categories": _mean(c["macro_f1"] for c in categories.values()), "n": n}

    confusion: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for gold, predicted in behavior_pairs:
        confusion[gold][predicted or "none"] += 1
    n_predicted = sum(p is not None for _, p in behavior_pairs)
    behavior = {
        "accuracy": (sum(g == p for g, p in behavior_pairs) / len(behavior_pairs))
        if behavior_pairs and n_predicted else None,
        "n": len(behavior_pairs),
        "n_predicted": n_predicted,
        "confusion": {g: dict(row) for g, row in confusion.items()},
    }
    return {"n": n, "tasks": tasks, "categories": categories, "overall": overall, "behavior": behavior,
            "predictions": predictions}


def format_report(scores: Mapping, title: str = "") -> str:
    """A plain-text table of a :func:`score_responses` result."""
    lines = []
    if title:
        lines.append(title)
    lines.append(f"{'task':<24} {'category':<10} {'n':>4} {'Macro F1':>9} {'unreadable':>10}")
    for name, s in scores["tasks"].items():
        lines.append(f"{name:<24} {s['category']:<10} {s['n']:>4} {s['macro_f1']:>9.3f} {s['unreadable']:>10}")
    lines.append("")
    for category, c in scores["categories"].items():
        lines.append(f"{category + ' (mean of tasks)':<35} {c['n']:>4} {c['macro_f1']:>9.3f}")
    overall = scores["overall"]
    if overall["macro_f1"] is not None:
        lines.append(f"{'overall (mean of tasks)':<35} {overall['n']:>4} {overall['macro_f1']:>9.3f}")
        lines.append(f"{'overall (mean of categories)':<35} {overall['n']:>4} {overall['mean_of_categories']:>9.3f}")
    behavior = scores["behavior"]
    if behavior["accuracy"] is None:
        lines.append(f"behavior selection accuracy: n/a (no behavior token in {behavior['n']} responses)")
    else:
        lines.append(f"behavior selection accuracy: {behavior['accuracy']:.3f} "
                     f"({behavior['n_predicted']} of {behavior['n']} responses carried a token)")
    return "\n".join(lines)
