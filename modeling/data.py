"""Chat formatting of BehaviorBench cases for each arm and assistant-only loss masks.

The case format itself (JSON Lines, schema, validation) lives in :mod:`modeling.cases`
and is shared with the portal's import, as is the train/dev/test split
(:mod:`modeling.splits`); this module turns a case into chat messages and token ids.

Arms:

- ``baseline``: the instruct model as is, with the plain system prompt.
- ``fewshot``: the same, preceded by k=3 solved cases (user/assistant turns) from a
  pool of training cases.
- ``instructed``: the system prompt tells the model explicitly to be proactive.
- ``general_sft``: a LoRA adapter trained on ``reference_response`` (plain prompt).
- ``behavior_sft``: a LoRA adapter trained on ``<|behavior|>`` + ``reference_response``.

Every change to what the model sees must bump :data:`PROMPT_TEMPLATE_VERSION`: it is
recorded with each response and each adapter.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence

from modeling.behavior import DEFAULT_BEHAVIOR_TOKENS, BehaviorTokens
from modeling.case_text import render_case_context
from modeling.cases import case_fingerprint
from modeling.task_types import CATEGORIES

ARMS = ("baseline", "fewshot", "instructed", "general_sft", "behavior_sft")
TRAINABLE_ARMS = ("general_sft", "behavior_sft")
PROMPT_TEMPLATE_VERSION = "evalportal-chat-v1"
FEWSHOT_K = 3
IGNORE_INDEX = -100

SYSTEM_PROMPT = (
    "You are a clinical AI assistant taking part in a hospital care team's conversation. "
    "Speak as a colleague would: concise, specific and safe."
)
INSTRUCTED_SUFFIX = (
    " Be proactive: even when nobody asks you, point out any omission, error or "
    "inconsistency you notice in the conversation or the data, and say what should be done."
)
NO_QUESTION_PROMPT = (
    "Nobody has asked you anything. Contribute only if something in this conversation "
    "needs raising (an omission, an error, an inconsistency): then say it briefly and "
    "specifically. If nothing needs raising, say so in one short sentence."
)

# A ChatML template for tokenizers that have none (base models).
FALLBACK_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def render_case(case: Mapping) -> str:
    """The user-turn text for a case: the team conversation with speakers and roles,
    tables and image descriptions, then the question (or the invitation to speak up
    only if something needs raising)."""
    parts = render_case_context(case, heading="Team conversation:")
    question = case.get("question")
    parts.append(f"You are asked: {question}" if question else NO_QUESTION_PROMPT)
    return "\n\n".join(parts)


def system_prompt(arm: str) -> str:
    _check_arm(arm)
    return SYSTEM_PROMPT + (INSTRUCTED_SUFFIX if arm == "instructed" else "")


def _check_arm(arm: str) -> None:
    if arm not in ARMS:
        raise ValueError(f"unknown arm {arm!r} (known: {', '.join(ARMS)})")


def _rank(case_id: str, other_id: str) -> str:
    return hashlib.sha256(f"{case_id}\x00{other_id}".encode()).hexdigest()


def select_fewshot(case: Mapping, pool: Iterable[Mapping], k: int = FEWSHOT_K) -> list[Mapping]:
    """k solved examples for ``case``, deterministic: the best-ranked example of the
    same task first, then one of each other category, then the best-ranked rest.
    The case itself and examples without a reference response are never chosen."""
    candidates = [c for c in pool
                  if c.get("external_id") != case.get("external_id") and c.get("reference_response") is not None]
    candidates.sort(key=lambda c: _rank(str(case.get("external_id")), str(c.get("external_id"))))
    chosen: list[Mapping] = []

    def take(predicate) -> None:
        for c in candidates:
            if len(chosen) < k and predicate(c) and all(c is not x for x in chosen):
                chosen.append(c)
                return

    take(lambda c: c["task"] == case["task"])
    for category in sorted(CATEGORIES, key=lambda cat: cat == case.get("category")):
        take(lambda c, cat=category: c["category"] == cat)
    for c in candidates:
        if len(chosen) >= k:
            break
        if all(c is not x for x in chosen):
            chosen.append(c)
    return chosen


def build_messages(case: Mapping, arm: str, fewshot_pool: Sequence[Mapping] | None = None,
                   k: int = FEWSHOT_K) -> list[dict]:
    """Chat messages (system, [few-shot user/assistant pairs], user) for one case."""
    _check_arm(arm)
    messages = [{"role": "system", "content": system_prompt(arm)}]
    if arm == "fewshot":
        if fewshot_pool is None:
            raise ValueError("the fewshot arm needs a fewshot_pool of solved (training) cases")
        examples = select_fewshot(case, fewshot_pool, k)
        if len(examples) < k:
            raise ValueError(f"the fewshot pool has only {len(examples)} usable example(s); {k} are needed")
        for example in examples:
            messages.append({"role": "user", "content": render_case(example)})
            messages.append({"role": "assistant", "content": example["reference_response"]})
    messages.append({"role": "user", "content": render_case(case)})
    return messages


def target_text(case: Mapping, arm: str, behavior_tokens: BehaviorTokens = DEFAULT_BEHAVIOR_TOKENS) -> str:
    """What the assistant should say: the reference response, preceded by the gold
    behavior token for BehaviorSFT."""
    if arm not in TRAINABLE_ARMS:
        raise ValueError(f"arm {arm!r} is not trained (trainable: {', '.join(TRAINABLE_ARMS)})")
    reference = case.get("reference_response")
    if reference is None:
        raise ValueError(f"case {case.get('external_id')!r} has no reference_response to train on")
    if arm == "behavior_sft":
        return behavior_tokens.token_for(case["gold_behavior"]) + reference
    return reference


# -- chat template and token ids ------------------------------------------------------

def apply_template(tokenizer, messages: list[dict], add_generation_prompt: bool) -> str:
    """The tokenizer's chat template as text; a system message is folded into the first
    user message for templates that refuse the system role; ChatML when none."""
    template = None if getattr(tokenizer, "chat_template", None) else FALLBACK_CHAT_TEMPLATE
    try:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt,
                                             chat_template=template)
    except Exception as exc:  # jinja2 raises TemplateError for "System role not supported"
        if messages and messages[0]["role"] == "system" and "system" in str(exc).lower():
            merged = [dict(m) for m in messages[1:]]
            merged[0]["content"] = messages[0]["content"] + "\n\n" + merged[0]["content"]
            return tokenizer.apply_chat_template(merged, tokenize=False,
                                                 add_generation_prompt=add_generation_prompt, chat_template=template)
        raise


def prompt_ids(tokenizer, messages: list[dict]) -> list[int]:
    """Token ids of the prompt, ending with the assistant header (generation prompt)."""
    text = apply_template(tokenizer, messages, add_generation_prompt=True)
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _end_of_turn_ids(tokenizer) -> set[int]:
    ids = set()
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    for name in ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>"):
        token_id = tokenizer.get_vocab().get(name)
        if token_id is not None:
            ids.add(token_id)
    return ids


def encode_for_training(case: Mapping, arm: str, tokenizer, *,
                        behavior_tokens: BehaviorTokens = DEFAULT_BEHAVIOR_TOKENS,
                        max_length: int | None = None) -> dict:
    """Token ids for one training example with the loss on the assistant's tokens only.

    ``input_ids`` = prompt (system + user, generation header) + target + end-of-turn
    token. ``labels`` are -100 everywhere except the target and the end-of-turn token,
    so the model learns what to say and when to stop, never the prompt. The prompt is
    tokenized exactly as at generation time. Raises ValueError when the example is
    longer than ``max_length``.
    """
    messages = build_messages(case, arm)
    target = target_text(case, arm, behavior_tokens)
    prompt_text = apply_template(tokenizer, messages, add_generation_prompt=True)
    full_text = apply_template(tokenizer, messages + [{"role": "assistant", "content": target}],
                               add_generation_prompt=False)
    if not full_text.startswith(prompt_text):
        raise ValueError("the chat template renders the prompt differently once the answer is added; "
                         "cannot build an assistant-only loss mask")
    completion_text = full_text[len(prompt_text):]
    prompt = tokenizer(prompt_text, add_special_tokens=False)["input_ids"]
    completion = tokenizer(completion_text, add_special_tokens=False)["input_ids"]
    # Learn up to and including the end-of-turn token; whatever the template adds after
    # it (a newline) is input only.
    end_ids = _end_of_turn_ids(tokenizer)
    learn = len(completion)
    for i, token_id in enumerate(completion):
        if token_id in end_ids:
            learn = i + 1
            break
    input_ids = prompt + completion
    labels = [IGNORE_INDEX] * len(prompt) + completion[:learn] + [IGNORE_INDEX] * (len(completion) - learn)
    if max_length is not None and len(input_ids) > max_length:
        raise ValueError(f"case {case.get('external_id')!r} is {len(input_ids)} tokens long, "
                         f"more than max_length={max_length}")
    return {"input_ids": input_ids, "labels": labels, "attention_mask": [1] * len(input_ids)}


# -- what the training data was ------------------------------------------------------

def data_hash(cases: Iterable[Mapping], arm: str | None = None,
              behavior_tokens: BehaviorTokens | None = None) -> str:
    """sha256 over the cases' content (order-independent), the arm, the behavior token
    strings and the prompt template version: what the training data was."""
    fingerprints = sorted(case_fingerprint(c) for c in cases)
    payload = {"cases": fingerprints, "arm": arm, "template": PROMPT_TEMPLATE_VERSION,
               "behavior_tokens": behavior_tokens.as_dict() if behavior_tokens else None}
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()
