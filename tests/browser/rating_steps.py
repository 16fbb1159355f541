"""Filling the rating form the way a clinician does, one click per answer, for the browser
tests and bench/rating_ux.py (which counts the clicks)."""

from dataclasses import dataclass

# The answers a careful clinician might give: a 4 on every scale, the middle choice
# ("Appropriate" in the default rubric) of a categorical dimension.
LIKERT_ANSWER = 4


@dataclass
class Effort:
    """What a clinician did to the page: clicks (a radio, a box, a button, a link) and
    keys pressed (characters typed count one each)."""

    clicks: int = 0
    keys: int = 0

    def __add__(self, other: "Effort") -> "Effort":
        return Effort(self.clicks + other.clicks, self.keys + other.keys)


def _answer_for(dim: dict) -> str | None:
    if dim["scale"] == "likert":
        return str(min(max(LIKERT_ANSWER, dim["min"]), dim["max"]))
    if dim["scale"] == "categorical":
        return dim["choices"][len(dim["choices"]) // 2][0]
    return None  # a flag is left unticked: it is for a response that could harm


def shown_slots(page) -> list[int]:
    """The slots (response indexes) of the rating form on the page, in the page's order."""
    names = page.eval_on_selector_all("#rating-form input[type=radio][name^='rank_']",
                                      "inputs => [...new Set(inputs.map(i => i.name))]")
    return [int(name.removeprefix("rank_")) for name in names]


def answer_every_required(page, rubric: list[dict], *, comment: str = "") -> Effort:
    """Answer every required field of the form on the page, response by response, and rank
    the responses (the first shown best); optionally type a comment. Returns the effort."""
    effort = Effort()
    slots = shown_slots(page)
    for slot in slots:
        for dim in rubric:
            value = _answer_for(dim)
            if value is None or not dim.get("required", True):
                continue
            page.locator(f"input[name=r{slot}_{dim['key']}][value='{value}']").check()
            effort.clicks += 1
    for rank, slot in enumerate(slots, start=1):
        page.locator(f"input[name=rank_{slot}][value='{rank}']").check()
        effort.clicks += 1
    if comment:
        page.locator("#id_comment").click()
        page.keyboard.type(comment)
        effort += Effort(clicks=1, keys=len(comment))
    return effort


def submit(page) -> Effort:
    page.locator("#submit-button").click()
    return Effort(clicks=1)
