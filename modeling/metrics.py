"""BehaviorBench metrics: Macro F1 per task, per category and overall; the proactive
measures that tell finding from flagging; both halves of a balanced task; behavior
selection.

How one response is scored (:func:`score_response`, a pure function a responses page
can also use):

- Option and regex tasks: the label read by the task registry's extractor
  (:func:`modeling.task_types.extract_label`); an unreadable response counts as wrong.
- Flag tasks (proactive): the response is read by :mod:`modeling.reading`: restraint
  (silence, or saying nothing needs raising) is ``no_flag``, anything raised is a flag.
  On a case that plants a problem a flag is the label ``flag`` only when it finds that
  problem (asserts what is wrong or what to do, not negated, hedged or copied from the
  case, and not one of a scattershot of concerns); a flag that misses it is
  :data:`WRONG_FLAG`, reported as a wrong flag and counted by Macro F1 as not flagging
  the problem (``no_flag``). A flag on a sound case is over-intervention. A planted case
  whose problem cannot be checked (no ``planted_problem``, or no ``asserts`` and no case
  text to tell echoed terms) has its flags counted as ``flag`` and reported as
  ``unverified``.
- Balanced tasks: the answer (the option letter) and the concern raised (whether the
  response finds the case's planted problem, read the same way) are scored and reported
  separately.
- A record that carries ``planted_named`` (an LLM judge's reading, ``python -m
  modeling.judge --planted``) is read by that instead of the terms.

Macro F1 averages over each task's fixed label space (the registry's): a label nobody
gold-labelled and nobody predicted counts as 0 (scikit-learn's ``labels=...,
zero_division=0``) and is listed under ``labels_without_support``, so a test split
without sound cases cannot hand an always-flag arm a perfect score.

Scoring accumulates counts, never the responses themselves (:class:`ScoreAccumulator`),
so any number of responses is scored in constant memory.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence

from modeling.behavior_metrics import BehaviorCounts
from modeling.reading import read, reads_as_restraint
from modeling.task_types import CATEGORIES, DEFAULT_TASKS, TaskType, extract_label, parse_options

# A flag on a planted case that names something other than the planted problem.
WRONG_FLAG = "flag:other"


def per_label_scores(gold: Sequence, pred: Sequence, labels: Sequence) -> dict[str, dict]:
    """Precision, recall, F1 and support per label (0 where undefined, like sklearn's
    ``zero_division=0``). A prediction outside ``labels`` (None: unreadable) is never a
    true positive."""
    if len(gold) != len(pred):
        raise ValueError(f"gold and pred differ in length ({len(gold)} != {len(pred)})")
    return scores_from_pairs(Counter(zip(gold, pred)), labels)


def scores_from_pairs(pairs: Mapping[tuple, int], labels: Sequence) -> dict[str, dict]:
    """:func:`per_label_scores` from counts of (gold, predicted) pairs."""
    tp: Counter = Counter()
    fp: Counter = Counter()
    fn: Counter = Counter()
    for (g, p), count in pairs.items():
        if g == p:
            tp[g] += count
        else:
            fn[g] += count
            fp[p] += count
    out = {}
    for label in labels:
        t, f_p, f_n = tp[label], fp[label], fn[label]
        out[label] = {"precision": t / (t + f_p) if t + f_p else 0.0, "recall": t / (t + f_n) if t + f_n else 0.0,
                      "f1": 2 * t / (2 * t + f_p + f_n) if t + f_p + f_n else 0.0, "support": t + f_n}
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


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _text(record: Mapping) -> str:
    text = record.get("text")
    return record.get("response", "") if text is None else text


def read_label(record: Mapping, task: TaskType) -> str | None:
    """The label a response expresses: on a flag task ``no_flag`` for restraint and
    ``flag`` for anything raised (:mod:`modeling.reading`); otherwise read with its task's
    extractor, for option tasks limited to the case's own label space and helped by the
    options the question lists."""
    if task.extractor == "flag":
        return "no_flag" if reads_as_restraint(_text(record)) else "flag"
    if record.get("label_space") and task.extractor == "option":
        task = dataclasses.replace(task, label_space=tuple(record["label_space"]))
    options = parse_options(record.get("question") or "", task.label_space) if task.extractor == "option" else None
    return extract_label(task, _text(record), options=options)


def score_response(record: Mapping, task: TaskType) -> dict:
    """One response scored against its case: ``{"predicted_label", "f1_label",
    "correct", "flagged", "issue_found", "concern_found", "unverified"}``. ``flagged`` is
    None outside flag tasks; ``issue_found`` is None unless the case plants a checkable
    problem; ``concern_found`` (balanced tasks) likewise. ``f1_label`` is the label Macro
    F1 counts: a flag that misses the planted problem counts as not flagging it
    (``no_flag``), so a vague or wrong flag earns nothing a silent arm would not.

    The record is the case (its gold fields and, for the echo check, its turns, tables
    and question) with the response's ``text``; a ``planted_named`` boolean (an LLM
    judge's reading) replaces the terms' reading of whether the problem was found."""
    planted = record.get("planted_problem") or None
    gold = record["gold_label"]
    judged = record.get("planted_named") if planted else None
    out = {"flagged": None, "issue_found": None, "concern_found": None, "unverified": False}
    if task.extractor == "flag":
        reading = read(_text(record), planted=planted if gold == "flag" else None, case=record)
        predicted = "no_flag" if reading.restraint else "flag"
        out["flagged"] = not reading.restraint
        if gold == "flag":
            if out["flagged"]:
                named = judged if isinstance(judged, bool) else reading.found
            else:
                named = False if planted else None
            out["issue_found"] = named
            if out["flagged"] and named is None:
                out["unverified"] = True
            elif out["flagged"] and not named:
                predicted = WRONG_FLAG
    else:
        predicted = read_label(record, task)
        if task.category == "balanced" and planted:
            out["concern_found"] = judged if isinstance(judged, bool) else read(
                _text(record), planted=planted, case=record).found
    out["predicted_label"] = predicted
    out["f1_label"] = "no_flag" if predicted == WRONG_FLAG else predicted
    out["correct"] = predicted == gold
    return out


def chance_macro_f1(planted: int, sound: int) -> float | None:
    """The chance line of a flag task: the expected Macro F1 (over flag and no_flag) of an
    arm that flags each case with probability one half and, when it flags a planted case,
    finds its problem. Exact expectation over the binomial counts while they are small,
    the F1 of the expected counts beyond (where the two agree to three decimals)."""
    if planted + sound == 0:
        return None

    def macro(found: float, over: float) -> float:
        missed, quiet = planted - found, sound - over
        f1_flag = 2 * found / (2 * found + over + missed) if found + over + missed else 0.0
        f1_quiet = 2 * quiet / (2 * quiet + missed + over) if quiet + missed + over else 0.0
        return (f1_flag + f1_quiet) / 2

    if planted * sound > 250_000:
        return macro(planted / 2, sound / 2)
    p_found = [math.comb(planted, k) / 2 ** planted for k in range(planted + 1)]
    p_over = [math.comb(sound, k) / 2 ** sound for k in range(sound + 1)]
    return sum(pf * po * macro(f, o) for f, pf in enumerate(p_found) for o, po in enumerate(p_over))


# The clinicians' intervention scale (the rubric's categorical "intervention" question).
UNDER, APPROPRIATE, OVER = "under", "appropriate", "over"


def intervention_reading(scored: Mapping, gold_label: str) -> str | None:
    """The automatic reading of one response (:func:`score_response`) on the scale the
    clinicians answer: on a case that plants a problem, ``appropriate`` when the response
    finds it and ``under`` when it misses it (silent, or a flag about something else); on a
    sound case ``over`` for any flag and ``appropriate`` for restraint; on a balanced case
    ``appropriate`` when the concern is raised, ``under`` when not. None where the reading
    says nothing (reactive tasks; a planted case without a checkable problem)."""
    if scored.get("flagged") is not None:
        if gold_label == "flag":
            found = scored.get("issue_found")
            return None if found is None else (APPROPRIATE if found else UNDER)
        return OVER if scored["flagged"] else APPROPRIATE
    concern = scored.get("concern_found")
    return None if concern is None else (APPROPRIATE if concern else UNDER)


class _TaskCounts:
    def __init__(self) -> None:
        self.pairs: Counter = Counter()  # (gold, predicted) -> responses
        self.n = self.unreadable = 0
        # flag tasks
        self.flagged = self.planted = self.sound = self.found = self.wrong_flags = 0
        self.checkable = self.over = self.unverified = 0
        # balanced tasks: the concern half
        self.with_concern = self.concern_found = self.both = 0

    def add(self, gold: str, scored: Mapping, task: TaskType) -> None:
        self.n += 1
        predicted = scored["predicted_label"]
        self.pairs[(gold, scored["f1_label"])] += 1
        self.unreadable += predicted is None
        if task.extractor == "flag":
            self.flagged += bool(scored["flagged"])
            if gold == "flag":
                self.planted += 1
                self.unverified += scored["unverified"]
                if scored["issue_found"] is not None:
                    self.checkable += 1
                    self.found += bool(scored["issue_found"])
                self.wrong_flags += predicted == WRONG_FLAG
            else:
                self.sound += 1
                self.over += bool(scored["flagged"])
        if scored["concern_found"] is not None:
            self.with_concern += 1
            self.concern_found += scored["concern_found"]
            self.both += scored["concern_found"] and scored["correct"]


def proactive_measures(flagged: int, n: int, planted: int, checkable: int, found: int, wrong: int, sound: int,
                       over: int, unverified: int) -> dict:
    """The measures that tell finding a planted problem from flagging anything."""
    return {"n": n, "planted": planted, "sound": sound, "flag_rate": _share(flagged, n),
            "issue_found_rate": _share(found, checkable), "wrong_flag_rate": _share(wrong, checkable),
            "restraint_accuracy": _share(sound - over, sound), "over_intervention_rate": _share(over, sound),
            "unverified_flags": unverified}


class ScoreAccumulator:
    """Scores responses one at a time (:meth:`add`) into counts; :meth:`result` gives
    the scores. ``keep_predictions`` also keeps one small row per response (for the
    CLI's JSON), which a large study should not ask for."""

    def __init__(self, registry: Mapping[str, TaskType] = DEFAULT_TASKS, *, keep_predictions: bool = False):
        self.registry = registry
        self.tasks: dict[str, _TaskCounts] = defaultdict(_TaskCounts)
        self.behavior = BehaviorCounts()
        self.predictions: list[dict] | None = [] if keep_predictions else None
        self.n = 0

    def task(self, name: str, record: Mapping) -> TaskType:
        task = self.registry.get(name)
        if task is None:
            raise ValueError(f"record {record.get('external_id', self.n)!r}: unknown task {name!r}")
        return task

    def add(self, record: Mapping, scored: Mapping | None = None) -> dict:
        """Count one response; ``scored`` is its :func:`score_response` when already
        known (the portal stores it with the response), else it is scored here."""
        self.n += 1
        name = record["task"]
        task = self.task(name, record)
        if scored is None:
            scored = score_response(record, task)
        self.tasks[name].add(record["gold_label"], scored, task)
        if record.get("gold_behavior"):
            self.behavior.add(record["gold_behavior"], record.get("predicted_behavior") or None,
                              asked=bool((record.get("question") or "").strip()))
        if self.predictions is not None:
            self.predictions.append({"external_id": record.get("external_id"), "task": name,
                                     "gold_label": record["gold_label"], **scored})
        return scored

    def result(self) -> dict:
        tasks = {}
        for name in sorted(self.tasks):
            counts, task = self.tasks[name], self.registry[name]
            labels = list(task.label_space)
            per_label = scores_from_pairs(counts.pairs, labels)
            tasks[name] = {
                "category": task.category, "n": counts.n, "labels": labels,
                "macro_f1": _mean(s["f1"] for s in per_label.values()) if labels else 0.0,
                "accuracy": sum(c for (g, p), c in counts.pairs.items() if g == p) / counts.n,
                "per_label": per_label, "unreadable": counts.unreadable,
                "labels_without_support": [label for label in labels if not per_label[label]["support"]],
            }
            if task.extractor == "flag":
                tasks[name]["proactive"] = proactive_measures(
                    counts.flagged, counts.n, counts.planted, counts.checkable, counts.found, counts.wrong_flags,
                    counts.sound, counts.over, counts.unverified)
                tasks[name]["chance_macro_f1"] = chance_macro_f1(counts.planted, counts.sound)
            if task.category == "balanced":
                tasks[name]["concern"] = {"n": counts.with_concern,
                                          "found_rate": _share(counts.concern_found, counts.with_concern),
                                          "answer_and_concern_rate": _share(counts.both, counts.with_concern)}
        categories = {}
        for category in CATEGORIES:
            names = [t for t, s in tasks.items() if s["category"] == category]
            if names:
                categories[category] = {"macro_f1": _mean(tasks[t]["macro_f1"] for t in names), "tasks": names,
                                        "n": sum(tasks[t]["n"] for t in names)}
                if all("chance_macro_f1" in tasks[t] for t in names):
                    categories[category]["chance_macro_f1"] = _mean(tasks[t]["chance_macro_f1"] for t in names)
        overall = {"macro_f1": _mean(s["macro_f1"] for s in tasks.values()),
                   "mean_of_categories": _mean(c["macro_f1"] for c in categories.values()), "n": self.n}
        flag_counts = [c for name, c in self.tasks.items() if self.registry[name].extractor == "flag"]
        proactive = proactive_measures(*(sum(getattr(c, f) for c in flag_counts) for f in (
            "flagged", "n", "planted", "checkable", "found", "wrong_flags", "sound", "over", "unverified")))
        balanced_counts = [c for c in self.tasks.values() if c.with_concern]
        concern_n = sum(c.with_concern for c in balanced_counts)
        balanced = {"n": concern_n, "concern_found_rate": _share(sum(c.concern_found for c in balanced_counts),
                                                                 concern_n),
                    "answer_and_concern_rate": _share(sum(c.both for c in balanced_counts), concern_n)}
        out = {"n": self.n, "tasks": tasks, "categories": categories, "overall": overall,
               "proactive": proactive, "balanced": balanced, "behavior": self.behavior.result()}
        if self.predictions is not None:
            out["predictions"] = self.predictions
        return out


def score_responses(records: Iterable[Mapping], registry: Mapping[str, TaskType] = DEFAULT_TASKS, *,
                    keep_predictions: bool = True) -> dict:
    """Score responses against their cases.

    Each record needs ``task``, ``gold_label`` and the response ``text`` (behavior token
    stripped); optional: ``planted_problem``, ``gold_behavior``, ``predicted_behavior``,
    ``label_space`` and ``question`` (the case's), ``external_id``.

    Returns ``{"n", "tasks": {task: {category, n, macro_f1, accuracy, labels,
    per_label, unreadable, labels_without_support, proactive (flag tasks), concern
    (balanced tasks)}}, "categories": {category: {macro_f1 (mean of its tasks), tasks,
    n}}, "overall": {macro_f1 (mean over tasks), mean_of_categories, n}, "proactive":
    {flag_rate, issue_found_rate, wrong_flag_rate, restraint_accuracy,
    over_intervention_rate, ...}, "balanced": {concern_found_rate, ...}, "behavior":
    (:class:`modeling.behavior_metrics.BehaviorCounts`), "predictions": [...]}``.
    """
    accumulator = ScoreAccumulator(registry, keep_predictions=keep_predictions)
    for record in records:
        accumulator.add(record)
    return accumulator.result()


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "n/a" if value is None else format(value, spec)


def format_report(scores: Mapping, title: str = "") -> str:
    """A plain-text table of a :func:`score_responses` result."""
    lines = [title] if title else []
    lines.append(f"{'task':<24} {'category':<10} {'n':>4} {'Macro F1':>9} {'unreadable':>10}  notes")
    for name, s in scores["tasks"].items():
        notes = []
        if s["labels_without_support"]:
            notes.append(f"no gold {', '.join(s['labels_without_support'])} (scored 0)")
        if "concern" in s and s["concern"]["n"]:
            notes.append(f"concern found {_fmt(s['concern']['found_rate'])}")
        if s.get("chance_macro_f1") is not None:
            notes.append(f"chance {s['chance_macro_f1']:.3f}")
        lines.append(f"{name:<24} {s['category']:<10} {s['n']:>4} {s['macro_f1']:>9.3f} {s['unreadable']:>10}  "
                     + "; ".join(notes))
    lines.append("")
    for category, c in scores["categories"].items():
        chance = f"  chance {c['chance_macro_f1']:.3f}" if c.get("chance_macro_f1") is not None else ""
        lines.append(f"{category + ' (mean of tasks)':<35} {c['n']:>4} {c['macro_f1']:>9.3f}{chance}")
    overall = scores["overall"]
    if overall["macro_f1"] is not None:
        lines.append(f"{'overall (mean of tasks)':<35} {overall['n']:>4} {overall['macro_f1']:>9.3f}")
        lines.append(f"{'overall (mean of categories)':<35} {overall['n']:>4} {overall['mean_of_categories']:>9.3f}")
    p = scores["proactive"]
    if p["n"]:
        lines.append(f"proactive: flag rate {_fmt(p['flag_rate'])}, issue found {_fmt(p['issue_found_rate'])} "
                     f"of {p['planted']} planted, restraint {_fmt(p['restraint_accuracy'])} / over-intervention "
                     f"{_fmt(p['over_intervention_rate'])} of {p['sound']} sound"
                     + (f"; {p['unverified_flags']} flags unverified (no planted_problem)"
                        if p["unverified_flags"] else ""))
    if scores["balanced"]["n"]:
        b = scores["balanced"]
        lines.append(f"balanced: concern found {_fmt(b['concern_found_rate'])}, answer and concern both right "
                     f"{_fmt(b['answer_and_concern_rate'])} ({b['n']} cases)")
    behavior = scores["behavior"]
    if behavior["accuracy"] is None:
        lines.append(f"behavior selection accuracy: n/a (no behavior token in {behavior['n']} responses)")
    else:
        lines.append(f"behavior selection accuracy: {behavior['accuracy']:.3f} "
                     f"({behavior['n_predicted']} of {behavior['n']} responses carried a token); where the question "
                     f"does not give it away: {_fmt(behavior['accuracy_question_controlled'])} (a rule on the question "
                     f"alone: {_fmt(behavior['question_rule_accuracy'])})")
    return "\n".join(lines)
