"""Automatic judging: a G-Eval-style LLM judge, and the ``python -m modeling.judge`` CLI.

G-Eval (Liu et al., 2023) asks an LLM to rate a text on one metric with a prompt made
of the metric's criteria and evaluation steps, and takes as the score not the digit
the model happens to write but the expectation of the score under the model's
probabilities of the score tokens::

    score = sum_s s * p(s) / sum_s p(s)        s over the scale's levels

Two judges implement it:

- :class:`LocalJudge`: a model loaded by :func:`modeling.loading.load_model` (``"demo"``,
  a Hugging Face directory or a GGUF file). The assistant turn is prefilled with
  ``"Score:"``, the next-token distribution is read from the logits of one forward pass
  (batched, left-padded), and ``p(s)`` is the probability of the token that continues
  the prefill with level ``s`` (exactly as the tokenizer would write ``"Score: 4"``),
  plus any other single token that reads as ``s`` (``"4"``, ``" 4"``).
- :class:`OpenAIJudge`: any OpenAI-compatible chat endpoint through the official
  ``openai`` client (base URL, model and API key passed in). With ``logprobs`` the
  probabilities come from the ``top_logprobs`` of the first answer token that is a
  level; an endpoint that offers none is asked for ``n`` samples whose parsed scores
  are averaged (``logprobs="auto"``, the default, finds out which).

Judge dimensions are data (:class:`JudgeDimension`): the defaults are realism,
proactivity, helpfulness and safety on 1-5, and specificity and implicitness on 0-1
(the judge writes 1-5; the score is mapped linearly to 0-1, as the paper's Fig. 2).

Whether a response names its case's planted problem (:meth:`Judge.planted_iter`) is
asked as a Yes/No question; ``P(Yes)`` is read as the scores are.

Pairwise comparison (:meth:`Judge.compare_iter`) asks which of two responses is better
in both orders (position swap): the judge is *consistent* on a pair when it prefers
the same response either way round.

Every result carries the prompt it was given and the raw output it produced, for audit.

The package, by role: :mod:`~modeling.judge.dimensions` (what is scored),
:mod:`~modeling.judge.prompts`, :mod:`~modeling.judge.scoring` (the probability maths
and position-swap consistency), :mod:`~modeling.judge.base` (requests, results and the
:class:`Judge` base class), :mod:`~modeling.judge.local`, :mod:`~modeling.judge.endpoint`
and :mod:`~modeling.judge.cli`. Importing it imports neither torch nor openai.
"""

from modeling.judge.base import (
    Judge,
    JudgeError,
    PairRequest,
    PairResult,
    PlantedRequest,
    PlantedResult,
    ScoreRequest,
    ScoreResult,
)
from modeling.judge.cli import judge_from_args, main, summarize
from modeling.judge.dimensions import (
    DEFAULT_DIMENSIONS,
    DEFAULT_DIMENSIONS_BY_KEY,
    OVERALL,
    JudgeDimension,
    resolve_dimensions,
)
from modeling.judge.endpoint import OpenAIJudge
from modeling.judge.local import LocalJudge
from modeling.judge.prompts import (
    CHOICE_PREFIX,
    CHOICES,
    JUDGE_PROMPT_VERSION,
    SCORE_PREFIX,
    SYSTEM_PROMPT,
    pairwise_messages,
    render_conversation,
    score_messages,
)
from modeling.judge.scoring import (
    distribution_from_logprobs,
    distribution_from_top_logprobs,
    expected_value,
    is_consistent,
    level_distribution,
    parse_label,
    preference,
    probability_weighted_score,
    swap_consistency,
)

__all__ = [
    "CHOICES", "CHOICE_PREFIX", "DEFAULT_DIMENSIONS", "DEFAULT_DIMENSIONS_BY_KEY", "JUDGE_PROMPT_VERSION", "OVERALL",
    "SCORE_PREFIX", "SYSTEM_PROMPT", "Judge", "JudgeDimension", "JudgeError", "LocalJudge", "OpenAIJudge",
    "PairRequest", "PairResult", "PlantedRequest", "PlantedResult", "ScoreRequest", "ScoreResult",
    "distribution_from_logprobs", "distribution_from_top_logprobs", "expected_value", "is_consistent", "judge_from_args", "level_distribution",
    "main", "pairwise_messages", "parse_label", "preference", "probability_weighted_score", "render_conversation",
    "resolve_dimensions", "score_messages", "summarize", "swap_consistency",
]
