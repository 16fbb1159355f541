"""A study's rankings as pairs: every two responses one submission ranked
(:func:`pairwise_preferences`), and the pairs a researcher's rules keep, in TRL's
conversational preference format (:func:`dpo_pairs`; the rules are
``annotations/analysis/dpo_pairs.py``'s). Both stream from a chunked cursor ordered by
case, so memory stays bounded whatever the size of the study."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations, groupby, islice
from operator import itemgetter

import pandas as pd

from annotations.analysis.dpo_pairs import DpoRules, harm_excluded_responses, pairs_kept
from annotations.models import Case, Preference, Response, Study
from annotations.rating_row import rating_paths
from annotations.selectors.arms import study_arm_ids
from annotations.selectors.harms import harm_flags_all
from modeling.behavior import DEFAULT_BEHAVIOR_TOKENS
from modeling.data import build_messages

CHUNK_ROWS = 5_000
# Comparisons aggregated at once (whole cases: a batch ends on a case's last row once it
# holds this many), so that a study's pairs never live in memory all together.
BATCH_ROWS = 10_000
# The fields of the rankings row read for each ranked response, then its arm's id.
_RANKED_FIELDS = ("submission_id", "response_id", "rank", "case_external_id", "case_role", "rater", "arm")
PAIR_KEYS = ("case_id", "case_role", "rater", "submission", "arm_a", "arm_b", "response_a", "response_b",
             "rank_a", "rank_b", "winner")
# The arm that DPO pairs are prompted as: the instruct model's plain prompt, no examples.
PROMPT_ARM = "baseline"


def _ranked_responses(study: Study, *, current_only: bool, chunk_rows: int) -> Iterator[tuple]:
    preferences = Preference.objects.filter(submission__assignment__study=study)
    if current_only:
        preferences = preferences.filter(submission__is_current=True)
    return (preferences.order_by("submission__assignment__case_id", "submission_id", "slot")
            .values_list(*rating_paths(_RANKED_FIELDS), "response__arm_id").iterator(chunk_size=chunk_rows))


def _winner(rank_a: int, rank_b: int) -> str:
    return "a" if rank_a < rank_b else "b" if rank_b < rank_a else "tie"  # rank 1 is the best


def pairwise_preferences(study: Study, *, current_only: bool = True, chunk_rows: int = CHUNK_ROWS) -> Iterator[dict]:
    """One dict per (submission, pair of the responses it ranked), by case, submission and
    screen order (``PAIR_KEYS``): the case's external id and role, the rater (as the
    ratings export names them), the submission, both arms and responses with their ranks
    (``a`` is the arm that comes first in the study's arm order), and the ``winner``: "a",
    "b" or "tie". Current revisions only unless asked."""
    position = {arm_id: i for i, arm_id in enumerate(study_arm_ids(study))}

    def order(row: tuple) -> tuple:
        return position.get(row[7], len(position)), row[7], row[1]

    rows = _ranked_responses(study, current_only=current_only, chunk_rows=chunk_rows)
    for submission, ranked in groupby(rows, key=itemgetter(0)):
        for first, second in combinations(list(ranked), 2):
            a, b = sorted((first, second), key=order)
            yield {"case_id": a[3], "case_role": a[4], "rater": a[5], "submission": submission,
                   "arm_a": a[6], "arm_b": b[6], "response_a": a[1], "response_b": b[1],
                   "rank_a": a[2], "rank_b": b[2], "winner": _winner(a[2], b[2])}


def _case_batches(preferences: Iterator[dict], size: int) -> Iterator[list[dict]]:
    """``preferences`` (ordered by case) in lists of whole cases, each of about ``size``."""
    batch: list[dict] = []
    for _, rows in groupby(preferences, key=itemgetter("case_id")):
        batch.extend(rows)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def excluded_by_harm(study: Study) -> set[int]:
    """The responses the harm rule leaves out of pairs (``analysis/dpo_pairs.py``)."""
    return harm_excluded_responses(harm_flags_all(study).values_list("response_id", "harm_decision__decision"))


def assistant_text(text: str) -> str:
    """A response as the raters saw it (``selectors/rating.py`` ``blind_text``: no behavior
    token), but silence as an empty message rather than the page's "(stays silent)"."""
    return DEFAULT_BEHAVIOR_TOKENS.strip(text or "")


def _kept_batches(study: Study, *, rules: DpoRules, batch_rows: int) -> Iterator[list[dict]]:
    excluded = excluded_by_harm(study) if rules.exclude_harm_flagged else set()
    for batch in _case_batches(pairwise_preferences(study), batch_rows):
        kept = pairs_kept(pd.DataFrame(batch, columns=PAIR_KEYS), rules=rules, excluded_responses=excluded)
        if not kept.empty:
            yield [{"case_id": pair.case_id, "chosen_arm": pair.chosen_arm, "rejected_arm": pair.rejected_arm,
                    "chosen_response": int(pair.chosen_response), "rejected_response": int(pair.rejected_response),
                    "raters": int(pair.raters), "agreement": float(pair.agreement),
                    "rater_ids": list(pair.rater_ids)} for pair in kept.itertuples(index=False)]


def kept_pairs(study: Study, *, rules: DpoRules, batch_rows: int = BATCH_ROWS) -> Iterator[dict]:
    """Where each kept pair of the study's current submissions comes from, by case
    (``analysis/dpo_pairs.py`` ``KEPT_COLUMNS``), without its texts."""
    for batch in _kept_batches(study, rules=rules, batch_rows=batch_rows):
        yield from batch


def with_texts(study: Study, pairs: list[dict]) -> list[dict]:
    """``kept_pairs`` rows in TRL's conversational preference format: ``prompt`` (the chat
    messages the Baseline arm is prompted with for the case), ``chosen`` and ``rejected``
    (each one assistant message: the response as the raters saw it), then the row."""
    response_ids = {p["chosen_response"] for p in pairs} | {p["rejected_response"] for p in pairs}
    texts = {response: assistant_text(text)
             for response, text in Response.objects.filter(id__in=response_ids).values_list("id", "text")}
    prompts = {case.external_id: build_messages(case.as_case_dict(), PROMPT_ARM)
               for case in Case.objects.filter(study=study, external_id__in={p["case_id"] for p in pairs})}
    return [{"prompt": prompts[pair["case_id"]],
             "chosen": [{"role": "assistant", "content": texts[pair["chosen_response"]]}],
             "rejected": [{"role": "assistant", "content": texts[pair["rejected_response"]]}],
             **pair} for pair in pairs]


def dpo_pair_batches(study: Study, *, rules: DpoRules, batch_rows: int = BATCH_ROWS) -> Iterator[list[dict]]:
    """:func:`dpo_pairs` in lists, one per batch of whole cases."""
    for batch in _kept_batches(study, rules=rules, batch_rows=batch_rows):
        yield with_texts(study, batch)


def dpo_pairs(study: Study, *, rules: DpoRules, batch_rows: int = BATCH_ROWS) -> Iterator[dict]:
    """One dict per kept (case, chosen, rejected) pair of the study's current submissions,
    by case, in TRL's conversational preference format (``prompt``, ``chosen``,
    ``rejected``: see :func:`with_texts`), with where the pair comes from (``case_id``,
    ``chosen_arm``, ``rejected_arm``, ``chosen_response``, ``rejected_response``,
    ``raters``, ``agreement``, ``rater_ids``)."""
    for batch in dpo_pair_batches(study, rules=rules, batch_rows=batch_rows):
        yield from batch


class DpoPairPages:
    """The kept pairs as a sequence a paginator pages through (the API): ``count()`` and
    each page's slice each run the aggregation again, and only the page's pairs are read
    with their texts, so a page costs a pass over the study's rankings, not its memory."""

    def __init__(self, study: Study, *, rules: DpoRules):
        self.study, self.rules = study, rules

    def count(self) -> int:
        return sum(1 for _ in kept_pairs(self.study, rules=self.rules))

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index: slice) -> list[dict]:
        if not isinstance(index, slice) or index.step not in (None, 1):
            raise TypeError("DpoPairPages takes a slice of consecutive pairs")
        return with_texts(self.study, list(islice(kept_pairs(self.study, rules=self.rules), index.start, index.stop)))
