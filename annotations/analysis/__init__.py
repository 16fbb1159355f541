"""Statistics of a rating study: pure functions over pandas frames
and numpy arrays; no Django import, so a notebook, a Celery task or a benchmark can
call them alike.

Entry point: :func:`summarize_study` (one JSON-serialisable dict for the dashboard).
The parts, usable alone:

- :mod:`.bootstrap`: a study's cluster bootstrap over cases (its case index over the
  weights of :mod:`modeling.bootstrap`; every resampled statistic is computed from
  ``weights @ per_case_totals``).
- :mod:`.descriptives`: n, mean, median, sd, distribution per arm x dimension (overall,
  per category, per task) with bootstrap CIs, and arm differences.
- :mod:`.paired`: a rank test across arms (:mod:`.rank_tests`: Friedman, Durbin, Skillings-Mack), pairwise Wilcoxon (Pratt) with Holm, rank-biserial.
- :mod:`.judgments`: shares of categorical judgments (intervention) with Wilson CIs.
- :mod:`.preferences`: win/tie/loss from rankings, Bradley-Terry with a position term.
- :mod:`.style_control`: Bradley-Terry with style covariates (length, Markdown), as
  Chatbot Arena controls for style; both fitted by :mod:`.logistic`.
- :mod:`.agreement`: Krippendorff's alpha with bootstrap CI, rater severity.
- :mod:`.position`: position-bias audit (first choices by slot, Likert by slot).
- :mod:`.reading_agreement`: the automatic reading of responses against the clinicians'
  intervention answers (agreement, Cohen's kappa with bootstrap CIs, harm flags).
"""

from annotations.analysis._common import to_jsonable
from annotations.analysis.agreement import alpha_by_dimension, krippendorff_alpha, rater_severity
from annotations.analysis.bootstrap import CaseBootstrap
from annotations.analysis.descriptives import describe_ratings
from annotations.analysis.judgments import categorical_shares, choice_shares
from annotations.analysis.paired import paired_tests, rank_biserial
from annotations.analysis.position import first_choice_by_slot, likert_by_slot
from annotations.analysis.preferences import (
    bradley_terry,
    fit_bradley_terry,
    pairwise_outcomes,
    ranking_comparisons,
)
from annotations.analysis.summary import summarize_study

__all__ = [
    "CaseBootstrap",
    "alpha_by_dimension",
    "bradley_terry",
    "categorical_shares",
    "choice_shares",
    "describe_ratings",
    "first_choice_by_slot",
    "fit_bradley_terry",
    "krippendorff_alpha",
    "likert_by_slot",
    "paired_tests",
    "pairwise_outcomes",
    "rank_biserial",
    "ranking_comparisons",
    "rater_severity",
    "summarize_study",
    "to_jsonable",
]
