"""The typed columns of every split of a study's Hugging Face dataset
(:mod:`annotations.hf_dataset`): one ``datasets.Features`` per split, closed sets as
``ClassLabel``, lists as ``List``. The ratings split is the ratings export's row
(``annotations/rating_row.py``), its Arrow schema read as features."""

from __future__ import annotations

from datasets import ClassLabel, Features, List, Value

from annotations.exports import EXPORTS
from annotations.models import Case, HarmDecision, ModelArm
from annotations.models.case import Category

_TEXT, _INT64, _INT32, _FLOAT, _BOOL = Value("string"), Value("int64"), Value("int32"), Value("float64"), Value("bool")
_TIME = Value("timestamp[us, tz=UTC]")

CATEGORY = ClassLabel(names=list(Category.values))
CASE_ROLE = ClassLabel(names=list(Case.Role.values))
SPLIT = ClassLabel(names=list(Case.Split.values))
ARM_METHOD = ClassLabel(names=list(ModelArm.Method.values))
HARM_DECISION = ClassLabel(names=list(HarmDecision.Decision.values))
WINNER = ClassLabel(names=["a", "b", "tie"])
_MESSAGE = {"role": _TEXT, "content": _TEXT}

CASES = Features({
    "case_id": _INT64,
    "external_id": _TEXT,
    "task": _TEXT,
    "category": CATEGORY,
    "specialty": _TEXT,
    "split": SPLIT,
    "role": CASE_ROLE,
    "in_rating_sample": _BOOL,
    "turns": List({"speaker": _TEXT, "role": _TEXT, "text": _TEXT}),
    "question": _TEXT,
    "case_text": _TEXT,  # the case as every prompt shows it (modeling/case_text.py)
    "gold_behavior": CATEGORY,
    "label_space": List(_TEXT),
    "gold_label": _TEXT,
    "reference_response": _TEXT,
    "planted_problem_summary": _TEXT,
    "planted_problem": _TEXT,  # JSON ({"summary", "terms", "asserts"}); null on a sound case
    "case_json": _TEXT,  # the whole case in the case file's format (tables, images, metadata included)
})

RESPONSES = Features({
    "response_id": _INT64,
    "case_id": _INT64,
    "case_external_id": _TEXT,
    "arm": _TEXT,
    "arm_method": ARM_METHOD,
    "job_id": _INT64,
    "text": _TEXT,  # what raters saw (behavior token stripped; "(stays silent)" for an empty one)
    "raw_text": _TEXT,
    "predicted_behavior": _TEXT,
    "prompt_tokens": _INT32,
    "completion_tokens": _INT32,
    "latency_s": _FLOAT,
    "provenance": _TEXT,  # JSON: checkpoint hashes, decoding, seed, template version, host, device
    "correct": _BOOL,
    "created_at": _TIME,
})

RATINGS = Features.from_arrow_schema(EXPORTS["ratings"].schema)

# ``case_id`` of the preference splits is the case's external id, as the pairs' module
# (annotations/selectors/preference_pairs.py) names it.
PAIRWISE_PREFERENCES = Features({
    "case_id": _TEXT,
    "case_role": CASE_ROLE,
    "rater": _TEXT,
    "submission": _INT64,
    "arm_a": _TEXT,
    "arm_b": _TEXT,
    "response_a": _INT64,
    "response_b": _INT64,
    "rank_a": _INT32,
    "rank_b": _INT32,
    "winner": WINNER,
})

DPO_PAIRS = Features({
    "prompt": List(_MESSAGE),
    "chosen": List(_MESSAGE),
    "rejected": List(_MESSAGE),
    "case_id": _TEXT,
    "chosen_arm": _TEXT,
    "rejected_arm": _TEXT,
    "chosen_response": _INT64,
    "rejected_response": _INT64,
    "raters": _INT32,
    "agreement": _FLOAT,
    "rater_ids": List(_TEXT),
})

HARMS = Features({
    "rating_id": _INT64,
    "case_id": _INT64,
    "case_external_id": _TEXT,
    "response_id": _INT64,
    "arm": _TEXT,
    "dimension": _TEXT,
    "rater": _TEXT,
    "reason": _TEXT,  # the rater's reason for the flag, as typed
    "decision": HARM_DECISION,
    "decision_note": _TEXT,
    "decided_by": _TEXT,
    "decided_at": _TIME,
})

# In the order of the dataset's splits.
SPLIT_FEATURES: dict[str, Features] = {
    "cases": CASES, "responses": RESPONSES, "ratings": RATINGS, "pairwise_preferences": PAIRWISE_PREFERENCES,
    "dpo_pairs": DPO_PAIRS, "harms": HARMS,
}
