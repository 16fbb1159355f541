"""Behavior selection: which behavior token an arm chose against the case's gold
behavior, as confusion matrices, and an accuracy that a question's presence cannot
earn.

Whether the agent was asked something separates proactive cases (nobody asks) from the
rest, so plain accuracy rewards a rule that looks only at the question. Hence
``accuracy_question_controlled``: within each stratum of question presence (asked / not
asked) that holds more than one gold behavior, the mean recall over its gold behaviors
(balanced accuracy), averaged over those strata. Any rule that looks only at the
question predicts one behavior per stratum and so scores 1/k in a stratum of k
behaviors. ``question_rule_accuracy`` is the plain accuracy of the best such rule (the
most common gold behavior of each stratum), the figure plain accuracy should be read
against. Both are None where no stratum mixes behaviors (the question then gives
everything away, and nothing is left to measure).
"""

from __future__ import annotations

from collections import Counter, defaultdict

NONE = "none"  # no behavior token in the response


class BehaviorCounts:
    def __init__(self) -> None:
        # (asked, gold, predicted) -> responses
        self.cells: Counter = Counter()

    def add(self, gold: str, predicted: str | None, *, asked: bool) -> None:
        self.cells[(asked, gold, predicted or NONE)] += 1

    def result(self) -> dict:
        n = sum(self.cells.values())
        n_predicted = sum(c for (_, _, p), c in self.cells.items() if p != NONE)
        confusion: dict[str, Counter] = defaultdict(Counter)
        by_question: dict[str, dict[str, Counter]] = {"asked": defaultdict(Counter),
                                                       "not_asked": defaultdict(Counter)}
        for (asked, gold, predicted), count in self.cells.items():
            confusion[gold][predicted] += count
            by_question["asked" if asked else "not_asked"][gold][predicted] += count
        correct = sum(c for (_, g, p), c in self.cells.items() if g == p)
        recalls_per_stratum = []
        rule_correct = 0
        for stratum in by_question.values():
            gold_totals = {g: sum(row.values()) for g, row in stratum.items()}
            if gold_totals:
                rule_correct += max(gold_totals.values())
            if len(gold_totals) > 1:
                recalls = [stratum[g][g] / total for g, total in gold_totals.items()]
                recalls_per_stratum.append(sum(recalls) / len(recalls))
        tokens = bool(n and n_predicted)
        return {
            "accuracy": correct / n if tokens else None,
            "n": n, "n_predicted": n_predicted,
            # rows: gold behavior (the case's category), columns: the token chosen ("none": no token)
            "confusion": {g: dict(row) for g, row in confusion.items()},
            "confusion_by_question": {k: {g: dict(row) for g, row in v.items()} for k, v in by_question.items()},
            "accuracy_question_controlled": (sum(recalls_per_stratum) / len(recalls_per_stratum)
                                             if tokens and recalls_per_stratum else None),
            "question_rule_accuracy": rule_correct / n if n and recalls_per_stratum else None,
        }
