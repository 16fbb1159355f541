"""The judge's prompts: G-Eval's criteria and evaluation steps for scoring one response
on one dimension, the prompt comparing two responses (shown as A and B), and the
question whether a response names its case's planted problem (Yes or No).

Every change to what the judge reads must bump :data:`JUDGE_PROMPT_VERSION`: it is
recorded with each judge result.
"""

from __future__ import annotations

from collections.abc import Mapping

from modeling.behavior import shown_text
from modeling.judge.dimensions import OVERALL, JudgeDimension

JUDGE_PROMPT_VERSION = "evalportal-geval-v2"
SCORE_PREFIX = "Score:"
CHOICE_PREFIX = "Better response:"
CHOICES = ("A", "B")
NAMED_PREFIX = "Named:"
YES_NO = ("Yes", "No")

SYSTEM_PROMPT = ("You are an experienced clinician who evaluates AI assistants taking part in hospital care "
                 "teams' conversations. You follow the evaluation steps carefully and answer in the form asked.")


def render_conversation(case: Mapping) -> str:
    """The case as the judge reads it: the team conversation with its tables and
    images (:func:`modeling.case_text.render_case_context`, as the generating model saw
    them), then what the assistant was asked (or that nobody asked it anything)."""
    # Imported here: modeling.data imports jsonschema, which importing the judge does not need.
    from modeling.case_text import render_case_context

    parts = render_case_context(case)
    question = case.get("question")
    parts.append(f"The assistant was asked: {question}" if question else
                 "Nobody asked the assistant anything: it could speak up, or stay silent.")
    return "\n\n".join(parts)


def _criteria_block(dim: JudgeDimension) -> str:
    lines = [f"{dim.label} ({dim.min}-{dim.max}): {dim.criteria}"]
    lines += [f"  {level}: {text}" for level, text in dim.anchors]
    lines.append("")
    lines.append("Evaluation Steps:")
    lines += [f"{i}. {step}" for i, step in enumerate(dim.steps, 1)]
    return "\n".join(lines)


def score_messages(case: Mapping, response: str | None, dim: JudgeDimension, *,
                   reference: str | None = None) -> list[dict]:
    """The G-Eval prompt for one response and one metric, as chat messages."""
    reference_part = (f"\n\nA reference response written by a clinician (others can be as good):\n{reference.strip()}"
                      if reference and reference.strip() else "")
    user = (
        "You will be given a clinical care team's conversation and one response written by an AI assistant "
        "taking part in it. Your task is to rate the response on one metric.\n"
        "Please make sure you read and understand these instructions carefully.\n\n"
        f"Evaluation Criteria:\n{_criteria_block(dim)}\n\n"
        f"Conversation:\n{render_conversation(case)}{reference_part}\n\n"
        f"Response to evaluate:\n{shown_text(response)}\n\n"
        f"Evaluation Form (answer with the score only, a single integer from {dim.min} to {dim.max}):\n"
        f"- {dim.label}:"
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def pairwise_messages(case: Mapping, first: str | None, second: str | None, dim: JudgeDimension = OVERALL) -> list[dict]:
    """The prompt comparing two responses (shown as A and B) on one metric."""
    user = (
        "You will be given a clinical care team's conversation and two responses, A and B, each written by an AI "
        "assistant taking part in it. Your task is to decide which response is better on one metric.\n\n"
        f"Evaluation Criteria:\n{dim.label}: {dim.criteria}\n\n"
        "Evaluation Steps:\n" + "\n".join(f"{i}. {s}" for i, s in enumerate(dim.steps, 1)) + "\n\n"
        f"Conversation:\n{render_conversation(case)}\n\n"
        f"Response A:\n{shown_text(first)}\n\n"
        f"Response B:\n{shown_text(second)}\n\n"
        "Which response is better? Answer with the letter only: A or B."
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]


def planted_messages(case: Mapping, response: str | None, problem: str) -> list[dict]:
    """The question whether ``response`` names ``problem`` (the summary of the case's
    planted problem), to be answered Yes or No."""
    user = (
        "You will be given a clinical care team's conversation, a problem hidden in it, and one response written "
        "by an AI assistant taking part in it. Your task is to decide whether the response names that problem.\n\n"
        "Evaluation Steps:\n"
        "1. Read the conversation and the problem hidden in it.\n"
        "2. Read the response. It names the problem when it points the team to this problem (in any words: a "
        "synonym, a drug class, the value concerned), not when it raises some other concern or a vague one.\n"
        "3. Answer Yes if it names the problem, No if it does not.\n\n"
        f"Conversation:\n{render_conversation(case)}\n\n"
        f"The problem hidden in it:\n{problem.strip()}\n\n"
        f"Response to evaluate:\n{shown_text(response)}\n\n"
        "Does the response name the problem? Answer with one word: Yes or No."
    )
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]
