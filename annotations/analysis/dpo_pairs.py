"""Preference pairs for DPO from the clinicians' rankings: which (case, response pair)
comparisons a researcher keeps, and which response is chosen. Pure: the comparisons come
in as ``selectors/preference_pairs.py`` ``pairwise_preferences`` rows.

The rules, for one case and one pair of its responses:

- the raters who compared the pair are those whose current submission of the case ranked
  both responses on one screen (a pairwise study's choice is a ranking of two);
- the agreement is the share of them who ranked the same response better: the larger of
  the two sides' votes over all who compared the pair, so a tie counts against agreement
  as a vote for neither;
- a pair is kept when at least ``min_raters`` compared it and its agreement is at least
  ``min_agreement`` and more than one half (a strict majority, whatever the setting: at
  the default 0.5 two raters who disagree, or one who prefers and one who ties, give no
  pair); the side the majority preferred is chosen, the other rejected;
- ties are never pairs, and only study cases give pairs (gold and practice cases are
  there to check the raters, not to be trained on);
- with ``exclude_harm_flagged``, a response a rater flagged as potentially harmful
  leaves every pair it is in, chosen or rejected, unless each flag on it was adjudicated
  "not harmful": a confirmed harm, a flag still open and one judged "unclear" all exclude
  it (see :func:`harm_excluded_responses`). A lab that wants harmful texts as rejected
  examples turns the rule off and reads the harm columns of the ratings export.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd

MIN_RATERS_RANGE = (1, 50)  # no study plans more raters per case (annotations/models/bounds.py RATERS_PER_ITEM)
MIN_AGREEMENT_RANGE = (0.5, 1.0)
STUDY_ROLE = "study"  # Case.Role.STUDY: the only cases whose comparisons become pairs
NOT_HARMFUL = "not_harmful"  # HarmDecision.Decision.NOT_HARMFUL: the one decision that clears a flag
# A share compared with a typed bound: 2 of 3 must pass "0.6666666666666666".
_EPSILON = 1e-9

KEPT_COLUMNS = ["case_id", "chosen_arm", "rejected_arm", "chosen_response", "rejected_response", "raters",
                "agreement", "rater_ids"]


@dataclass(frozen=True)
class DpoRules:
    """Which comparisons become DPO pairs (see the module's rules)."""

    min_raters: int = 1
    min_agreement: float = 0.5
    exclude_harm_flagged: bool = True

    def __post_init__(self):
        low, high = MIN_RATERS_RANGE
        if isinstance(self.min_raters, bool) or not isinstance(self.min_raters, int) \
                or not low <= self.min_raters <= high:
            raise ValueError(f"min_raters must be a whole number from {low} to {high}.")
        low, high = MIN_AGREEMENT_RANGE
        if isinstance(self.min_agreement, bool) or not isinstance(self.min_agreement, int | float) \
                or not low <= self.min_agreement <= high:  # NaN fails the comparison too
            raise ValueError(f"min_agreement must be a number from {low} to {high}.")


def harm_excluded_responses(flags: Iterable[tuple[int, str | None]]) -> set[int]:
    """The responses the harm rule leaves out, from (response id, the flag's decision or
    None) of every "potentially harmful" flag of the current submissions: a response with
    any flag not adjudicated "not harmful"."""
    return {response for response, decision in flags if decision != NOT_HARMFUL}


def pairs_kept(preferences: pd.DataFrame, *, rules: DpoRules, excluded_responses=frozenset()) -> pd.DataFrame:
    """The kept pairs of ``preferences`` (``pairwise_preferences`` rows: one per
    submission and pair of its responses; every comparison of a case must be in the same
    frame), one row per (case, chosen, rejected) with ``KEPT_COLUMNS``, in the order the
    pairs first appear. ``excluded_responses``: the harm rule's
    (:func:`harm_excluded_responses`), ignored when the rules do not exclude."""
    if preferences.empty:
        return pd.DataFrame(columns=KEPT_COLUMNS)
    rows = preferences[preferences["case_role"] == STUDY_ROLE]
    if rules.exclude_harm_flagged and excluded_responses:
        excluded = list(excluded_responses)
        rows = rows[~rows["response_a"].isin(excluded) & ~rows["response_b"].isin(excluded)]
    rows = rows.assign(votes_a=rows["winner"] == "a", votes_b=rows["winner"] == "b",
                       rater_id=rows["rater"].fillna("").astype(str))
    grouped = rows.groupby(["case_id", "response_a", "response_b"], sort=False)
    pairs = grouped.agg(arm_a=("arm_a", "first"), arm_b=("arm_b", "first"), raters=("submission", "size"),
                        votes_a=("votes_a", "sum"), votes_b=("votes_b", "sum"),
                        rater_ids=("rater_id", list)).reset_index()
    winner_votes = pairs[["votes_a", "votes_b"]].max(axis=1)
    agreement = winner_votes / pairs["raters"]
    keep = ((pairs["raters"] >= rules.min_raters) & (2 * winner_votes > pairs["raters"])
            & (agreement >= rules.min_agreement - _EPSILON))
    pairs, agreement = pairs[keep], agreement[keep]
    a_chosen = pairs["votes_a"] > pairs["votes_b"]
    kept = pd.DataFrame({
        "case_id": pairs["case_id"],
        "chosen_arm": pairs["arm_a"].where(a_chosen, pairs["arm_b"]),
        "rejected_arm": pairs["arm_b"].where(a_chosen, pairs["arm_a"]),
        "chosen_response": pairs["response_a"].where(a_chosen, pairs["response_b"]),
        "rejected_response": pairs["response_b"].where(a_chosen, pairs["response_a"]),
        "raters": pairs["raters"],
        "agreement": agreement.astype(float),
        "rater_ids": pairs["rater_ids"],
    }, columns=KEPT_COLUMNS)
    return kept.reset_index(drop=True)
