"""The training examples of a run: cases turned into token ids with the loss on the
assistant's tokens only, as the dataset :class:`trl.SFTTrainer` takes.

Each example is a prompt-completion pair already tokenized by
:func:`modeling.data.encode_for_training`: the prompt exactly as generation tokenizes it
(the model's chat template, a system message folded into the user's for templates that
refuse one, ChatML for a tokenizer without a template), the completion up to and
including the end-of-turn token, and ``labels`` of -100 over the prompt. SFTTrainer uses
a dataset with ``input_ids`` and ``labels`` as it is, so what it trains on is what this
module built. BehaviorSFT and GeneralSFT examples of a case differ only in the behavior
token that starts BehaviorSFT's completion.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from modeling.behavior import DEFAULT_BEHAVIOR_TOKENS, BehaviorTokens
from modeling.data import encode_for_training

log = logging.getLogger(__name__)


@dataclass
class TrainingExamples:
    examples: list[dict] = field(default_factory=list)  # input_ids and labels
    used: list[Mapping] = field(default_factory=list)  # the cases the examples came from, in order
    skipped: list[dict] = field(default_factory=list)  # {"external_id", "reason"}: no reference, too long

    def dataset(self):
        """The examples as a :class:`datasets.Dataset` (columns ``input_ids`` and ``labels``)."""
        from datasets import Dataset

        return Dataset.from_dict({"input_ids": [e["input_ids"] for e in self.examples],
                                  "labels": [e["labels"] for e in self.examples]})


def training_examples(cases: Iterable[Mapping], arm: str, tokenizer, *, max_length: int,
                      behavior_tokens: BehaviorTokens = DEFAULT_BEHAVIOR_TOKENS) -> TrainingExamples:
    """Tokenized examples of ``cases`` for ``arm``; a case without a reference response,
    or longer than ``max_length`` tokens, is skipped and listed (never cut: a cut example
    would teach an answer without its end)."""
    cases = list(cases)
    result = TrainingExamples()
    for case in cases:
        if case.get("reference_response") is None:
            result.skipped.append({"external_id": case.get("external_id"), "reason": "no reference_response"})
            continue
        try:
            result.examples.append(encode_for_training(case, arm, tokenizer, behavior_tokens=behavior_tokens,
                                                       max_length=max_length))
            result.used.append(case)
        except ValueError as exc:
            result.skipped.append({"external_id": case.get("external_id"), "reason": str(exc)})
    if not result.examples:
        raise ValueError(f"none of the {len(cases)} case(s) can be trained on: {result.skipped[:3]}")
    if result.skipped:
        log.warning("skipped %d case(s): %s", len(result.skipped), result.skipped[:5])
    return result
