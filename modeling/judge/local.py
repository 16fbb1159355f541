"""The judge run by our own model: the score read from the next-token logits of one
forward pass."""

from __future__ import annotations

import math
from collections.abc import Sequence

from modeling.judge.base import Judge, JudgeError, _Answer, _Query
from modeling.judge.prompts import CHOICE_PREFIX, NAMED_PREFIX, SCORE_PREFIX
from modeling.judge.scoring import distribution_from_logprobs


class LocalJudge(Judge):
    """A judge run by our own model (:class:`modeling.loading.LoadedModel`): one forward
    pass per prompt, the score read from the next-token logits.

    The assistant turn is prefilled (``"Score:"``, ``"Better response:"``, ``"Named:"``); the prompt
    ends where the tokenizer's rendering of ``prefill + " " + level`` differs between
    levels, so each level is the single token the model would write next (a scale whose
    levels are not single tokens raises :class:`JudgeError`). With ``token_variants``
    every other single token that reads as the level (``"4"``, ``" 4"``) counts too.
    Batches are packed within ``token_budget`` tokens (padded), longest prompts first,
    by the generation engine's planner, then cut so that no forward pass holds more than
    ``max_forward_tokens`` padded tokens: the planner sizes batches for generation's KV
    cache, but a judge's forward runs every prompt token at once, and its activations
    (not a cache) are what fills the memory. A forward that still runs out of memory is
    retried in halves."""

    method = "logits"

    def __init__(self, loaded, *, token_budget: int | None = None, max_batch_size: int | None = None,
                 score_prefix: str = SCORE_PREFIX, choice_prefix: str = CHOICE_PREFIX, token_variants: bool = True,
                 use_reference: bool = False, top_k_audit: int = 5, max_forward_tokens: int = 16384):
        from modeling.generate import GenerationEngine

        super().__init__(use_reference=use_reference)
        self.loaded = loaded
        self.model = loaded.model
        self.tokenizer = loaded.tokenizer
        # The engine is only used for its batch planner and padding defaults.
        self._engine = GenerationEngine(loaded, max_new_tokens=1, token_budget=token_budget,
                                        max_batch_size=max_batch_size)
        self.pad_token_id = self._engine.pad_token_id
        self.score_prefix, self.choice_prefix = score_prefix, choice_prefix
        self.token_variants = token_variants
        self.top_k_audit = top_k_audit
        if max_forward_tokens < 1:
            raise ValueError("max_forward_tokens must be at least 1")
        self.max_forward_tokens = int(max_forward_tokens)
        self.name = loaded.base + (f"+{loaded.adapter}" if loaded.adapter else "")
        self._variants: dict[str, list[int]] = {}
        self._encoded: dict[int, tuple[list[int], dict[str, list[int]]]] = {}

    def describe(self) -> dict:
        return {**super().describe(), **self.loaded.provenance(), "method": self.method,
                "score_prefix": self.score_prefix, "choice_prefix": self.choice_prefix,
                "token_variants": self.token_variants, "token_budget": self._engine.token_budget,
                "max_forward_tokens": self.max_forward_tokens}

    def _prefill(self, kind: str) -> str:
        return {"score": self.score_prefix, "choice": self.choice_prefix, "planted": NAMED_PREFIX}[kind]

    # -- tokens ---------------------------------------------------------------------------
    def _label_variants(self, labels: Sequence[str]) -> dict[str, list[int]]:
        """Every single token id that reads as each label once stripped (one pass over
        the vocabulary, remembered)."""
        missing = [label for label in labels if label not in self._variants]
        if missing:
            wanted = set(missing)
            found: dict[str, list[int]] = {label: [] for label in missing}
            vocab_size = len(self.tokenizer)
            pieces = self.tokenizer.batch_decode([[i] for i in range(vocab_size)], skip_special_tokens=False)
            for token_id, piece in enumerate(pieces):
                stripped = piece.strip()
                if stripped in wanted:
                    found[stripped].append(token_id)
            self._variants.update(found)
        return {label: list(self._variants[label]) for label in labels}

    def encode(self, query: _Query) -> tuple[list[int], dict[str, list[int]]]:
        """The prompt's token ids and, per label, the token ids that read as it (the
        first is the canonical continuation)."""
        from modeling.data import apply_template

        text = apply_template(self.tokenizer, query.messages, add_generation_prompt=True) + query.prefill
        sep = " " if query.prefill else ""
        variants = [self.tokenizer(text + sep + label, add_special_tokens=False)["input_ids"] for label in query.labels]
        common = 0
        shortest = min(len(v) for v in variants)
        while common < shortest and all(v[common] == variants[0][common] for v in variants):
            common += 1
        tails = [v[common:] for v in variants]
        if any(len(t) != 1 for t in tails):
            bad = [label for label, t in zip(query.labels, tails) if len(t) != 1]
            raise JudgeError(f"the levels {', '.join(bad)} are not single tokens of this tokenizer after "
                             f"{query.prefill!r}; use levels that are (e.g. 1-5 or 0-9)")
        ids = {label: [t[0]] for label, t in zip(query.labels, tails)}
        if self.token_variants:
            for label, extra in self._label_variants(query.labels).items():
                ids[label] += [i for i in extra if i not in ids[label]]
        return variants[0][:common], ids

    def _encoded_query(self, query: _Query) -> tuple[list[int], dict[str, list[int]]]:
        key = id(query)
        if key not in self._encoded:
            self._encoded[key] = self.encode(query)
        return self._encoded[key]

    # -- batches ---------------------------------------------------------------------------
    def _plan(self, queries: list[_Query]) -> list[list[int]]:
        self._encoded = {}
        lengths = [len(self._encoded_query(q)[0]) for q in queries]
        return cap_forward_tokens(self._engine.plan_batches(lengths), lengths, self.max_forward_tokens)

    def next_token_logprobs(self, prompts: list[list[int]]):
        """``(len(prompts), vocab)`` float32 log-probabilities of the next token after
        each prompt (one left-padded forward pass)."""
        import torch

        device = torch.device(self.loaded.device)
        longest = max(len(p) for p in prompts)
        ids = torch.full((len(prompts), longest), self.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(prompts), longest), dtype=torch.long)
        for row, p in enumerate(prompts):
            ids[row, longest - len(p):] = torch.tensor(p, dtype=torch.long)
            mask[row, longest - len(p):] = 1
        ids, mask = ids.to(device), mask.to(device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0).masked_fill(mask == 0, 1)
        with torch.inference_mode():
            logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False,
                                logits_to_keep=1).logits[:, -1, :]
            return torch.log_softmax(logits.float(), dim=-1).cpu()

    def _logprobs_in_halves(self, prompts: list[list[int]]):
        """:meth:`next_token_logprobs`, the batch halved (recursively) when the device
        runs out of memory; a single prompt that does not fit raises."""
        import torch

        try:
            return self.next_token_logprobs(prompts)
        except torch.OutOfMemoryError:
            if len(prompts) == 1:
                raise
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        half = len(prompts) // 2
        return torch.cat([self._logprobs_in_halves(prompts[:half]), self._logprobs_in_halves(prompts[half:])])

    def _answer(self, queries: list[_Query]) -> list[_Answer]:
        import torch

        encoded = [self._encoded_query(q) for q in queries]
        logprobs = self._logprobs_in_halves([ids for ids, _ in encoded])
        answers = []
        for row, (prompt, level_ids) in enumerate(encoded):
            dist = distribution_from_logprobs(logprobs[row], level_ids)
            top = torch.topk(logprobs[row], self.top_k_audit)
            raw = {"level_token_ids": level_ids, "prompt_tokens": len(prompt),
                   "top_tokens": [[self.tokenizer.decode([int(i)]), round(math.exp(float(v)), 6)]
                                  for v, i in zip(top.values, top.indices)],
                   "level_probs_unnormalised": {label: round(p * dist["mass"], 8) for label, p in dist["probs"].items()}}
            answers.append(_Answer(dist["probs"], dist["mass"], self.method, raw=raw, tokens=len(prompt)))
        return answers


def cap_forward_tokens(batches: list[list[int]], lengths: list[int], max_tokens: int) -> list[list[int]]:
    """``batches`` cut so that each holds at most ``max_tokens`` padded tokens (batch
    size x its longest prompt); a prompt longer than that goes alone."""
    out = []
    for batch in batches:
        current: list[int] = []
        longest = 0
        for i in batch:
            widest = max(longest, lengths[i])
            if current and (len(current) + 1) * widest > max_tokens:
                out.append(current)
                current, widest = [], lengths[i]
            current.append(i)
            longest = widest
        if current:
            out.append(current)
    return out
