"""Behavior tokens: the special tokens that BehaviorSFT puts in front of each target
response to name where it sits on the reactive-proactive spectrum.

The token strings are configurable (a study may use its own); the defaults are
``<|reactive|>``, ``<|balanced|>`` and ``<|proactive|>``, one per task category.
This module adds them to a tokenizer and a model, and parses and strips them from
generated text so that no clinician ever sees one. It also says how a response that
says nothing is shown (:func:`shown_text`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from modeling.task_types import CATEGORIES

DEFAULT_TOKEN_STRINGS: dict[str, str] = {
    "reactive": "<|reactive|>",
    "balanced": "<|balanced|>",
    "proactive": "<|proactive|>",
}

# What a reader (a clinician rating, the judge) is shown for a response that says nothing.
SILENT_TEXT = "(stays silent)"


def shown_text(text: str | None) -> str:
    """A response as it is shown: the text stripped, or :data:`SILENT_TEXT` when that
    leaves nothing (no response, or only blanks)."""
    return (text or "").strip() or SILENT_TEXT


@dataclass(frozen=True)
class BehaviorTokens:
    """The mapping behavior (a task category) -> token string."""

    mapping: tuple[tuple[str, str], ...] = tuple(DEFAULT_TOKEN_STRINGS.items())

    def __post_init__(self) -> None:
        behaviors = [b for b, _ in self.mapping]
        strings = [s for _, s in self.mapping]
        if sorted(behaviors) != sorted(CATEGORIES):
            raise ValueError(f"behavior tokens must cover exactly {list(CATEGORIES)}, got {behaviors}")
        if len(set(strings)) != len(strings) or any(not s or s.strip() != s for s in strings):
            raise ValueError(f"behavior token strings must be distinct, non-empty, without spaces: {strings}")
        for a in strings:
            for b in strings:
                if a != b and a in b:
                    raise ValueError(f"behavior token {a!r} is contained in {b!r}")

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, str] | None) -> BehaviorTokens:
        if mapping is None:
            return cls()
        return cls(tuple((b, mapping[b]) for b in CATEGORIES if b in mapping) or tuple(mapping.items()))

    def as_dict(self) -> dict[str, str]:
        return dict(self.mapping)

    @property
    def strings(self) -> list[str]:
        return [s for _, s in self.mapping]

    def token_for(self, behavior: str) -> str:
        try:
            return self.as_dict()[behavior]
        except KeyError:
            raise ValueError(f"unknown behavior {behavior!r} (known: {list(CATEGORIES)})") from None

    def behavior_for(self, token: str) -> str | None:
        for behavior, string in self.mapping:
            if string == token:
                return behavior
        return None

    # -- tokenizer and model --------------------------------------------------------

    def add_to_tokenizer(self, tokenizer) -> list[int]:
        """Add the tokens as special tokens (never split, skipped when decoding with
        ``skip_special_tokens``); returns their ids in ``CATEGORIES`` order."""
        missing = [s for s in self.strings if s not in tokenizer.get_vocab()]
        if missing:
            tokenizer.add_special_tokens({"extra_special_tokens": missing},
                                         replace_extra_special_tokens=False)
        return self.token_ids(tokenizer)

    def token_ids(self, tokenizer) -> list[int]:
        """Ids of the tokens in ``CATEGORIES`` order; raises if one is missing."""
        vocab = tokenizer.get_vocab()
        ids = []
        for behavior in CATEGORIES:
            string = self.token_for(behavior)
            if string not in vocab:
                raise ValueError(f"behavior token {string!r} is not in the tokenizer's vocabulary")
            ids.append(vocab[string])
        return ids

    def in_tokenizer(self, tokenizer) -> bool:
        vocab = tokenizer.get_vocab()
        return all(s in vocab for s in self.strings)

    def add_to_model(self, model, tokenizer) -> list[int]:
        """Add the tokens to ``tokenizer`` and make room for them in ``model``.

        The embedding matrix grows when the tokenizer outgrows it (models whose
        vocabulary is padded, like Qwen2.5, already have the rows). Rows of newly added
        tokens start at the mean of the real vocabulary's rows, in the input embeddings
        and in the output embeddings when those are not tied, so a token the model has
        not been trained on yet is neither favoured nor impossible to learn.
        """
        old_len = len(tokenizer)
        ids = self.add_to_tokenizer(tokenizer)
        new_ids = [i for i in ids if i >= old_len]
        if len(tokenizer) > model.get_input_embeddings().weight.shape[0]:
            # transformers' own mean_resizing samples from a multivariate normal: slow
            # for big vocabularies, and random.
            model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        if new_ids:
            embeddings = model.get_input_embeddings().weight
            _mean_init(embeddings, new_ids, old_len)
            output = model.get_output_embeddings()
            if output is not None and output.weight.data_ptr() != embeddings.data_ptr():
                _mean_init(output.weight, new_ids, old_len)
        return ids

    # -- text -----------------------------------------------------------------------

    @cached_property
    def _any_pattern(self) -> re.Pattern:
        return re.compile("|".join(re.escape(s) for s in sorted(self.strings, key=len, reverse=True)))

    def parse(self, text: str) -> tuple[str | None, str]:
        """Split generated text into (behavior named by a leading token, clean text).

        The clean text has the leading token removed and any other occurrence of a
        behavior token string deleted, so it never contains one.
        """
        behavior = None
        stripped = text.lstrip()
        for candidate, string in self.mapping:
            if stripped.startswith(string):
                behavior = candidate
                stripped = stripped[len(string):]
                break
        else:
            stripped = text
        return behavior, self.strip(stripped)

    def strip(self, text: str) -> str:
        """Remove every behavior token string from ``text`` (and surrounding blanks
        that the removal leaves at either end)."""
        cleaned = self._any_pattern.sub("", text)
        # Repeat: removing one token may join the halves of another ("<|pro<|reactive|>active|>").
        while self._any_pattern.search(cleaned):
            cleaned = self._any_pattern.sub("", cleaned)
        return cleaned.strip()

    def contains_any(self, text: str) -> bool:
        return bool(self._any_pattern.search(text))


def _mean_init(weight, rows: list[int], real_rows: int) -> None:
    import torch

    with torch.no_grad():
        mean = weight[:real_rows].float().mean(dim=0).to(weight.dtype)
        weight[rows] = mean


DEFAULT_BEHAVIOR_TOKENS = BehaviorTokens()
