"""The dataset card (``README.md``) of a study's Hugging Face dataset: the Hub's YAML
front matter written by ``huggingface_hub``'s ``DatasetCardData``, and a body stating the
protocol and the study's figures, rendered from ``templates/annotations/dataset_card.md``."""

from __future__ import annotations

from django.template.loader import render_to_string
from huggingface_hub import DatasetCard, DatasetCardData

from annotations.models import Study
from annotations.rubric import CATEGORICAL, FLAG, LIKERT
from annotations.selectors.dataset_rows import dataset_card_facts

TASK_CATEGORIES = ["text-classification", "text-generation"]
# The Hub's size buckets (its ``size_categories`` ids), each with the rows it stays under.
SIZE_CATEGORIES = (
    (1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
    (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"),
    (10_000_000_000, "1B<n<10B"), (100_000_000_000, "10B<n<100B"), (1_000_000_000_000, "100B<n<1T"),
)
SPLIT_DESCRIPTIONS = {
    "cases": "Every case of the study (study, practice and gold), its text and gold answers.",
    "responses": "Every response an arm wrote, with the text raters saw, the raw text and its generation "
                 "provenance.",
    "ratings": "Every current rating in long format (one row per response and rubric question), with the rank "
               "the rater gave the response; the same columns as the portal's ratings export.",
    "pairwise_preferences": "Each pair of responses a rater ranked on one screen, with the winner.",
    "dpo_pairs": "Chosen and rejected responses per case, aggregated over raters, in the chat format of TRL's "
                 "DPOTrainer.",
    "harms": "Every adjudicated \"potentially harmful\" flag and its decision.",
}


def size_category(rows: int) -> str:
    """The Hub's ``size_categories`` id of a split of ``rows`` rows."""
    for below, name in SIZE_CATEGORIES:
        if rows < below:
            return name
    return "n>1T"


def _rubric_lines(rubric: list[dict]) -> list[dict]:
    lines = []
    for dim in rubric:
        if dim.get("scale") == LIKERT:
            answer = f"{dim['min']} to {dim['max']}"
        elif dim.get("scale") == CATEGORICAL:
            answer = ", ".join(str(label) for _, label in dim.get("choices", []))
        elif dim.get("scale") == FLAG:
            answer = "yes or no, with a reason"
        else:
            answer = str(dim.get("scale"))
        lines.append({"key": dim.get("key"), "label": dim.get("label") or dim.get("key"),
                      "question": dim.get("question", ""), "answer": answer,
                      "cannot_judge": bool(dim.get("cannot_judge"))})
    return lines


def dataset_card(study: Study, *, license_id: str, rows: dict[str, int], repo_id: str = "") -> DatasetCard:
    """The card of ``study``'s dataset under ``license_id``, whose splits hold ``rows``
    (``repo_id``: the Hub repository it goes to, if any)."""
    data = DatasetCardData(
        license=license_id, language=["en"], size_categories=[size_category(max(rows.values(), default=0))],
        task_categories=TASK_CATEGORIES, pretty_name=study.name,
        configs=[{"config_name": split, "data_files": [{"split": "train", "path": f"data/{split}-*.parquet"}]}
                 for split, n in rows.items() if n])
    facts = dataset_card_facts(study)
    text = render_to_string("annotations/dataset_card.md", {
        "card_yaml": data.to_yaml(), "study": study, "license": license_id, "facts": facts, "repo_id": repo_id,
        "arms_per_screen": study.arms_per_screen or len(facts["arms"]),
        "rubric": _rubric_lines(study.rubric),
        "splits": [{"name": name, "rows": n, "description": SPLIT_DESCRIPTIONS.get(name, "")}
                   for name, n in rows.items()],
    })
    return DatasetCard(text)
