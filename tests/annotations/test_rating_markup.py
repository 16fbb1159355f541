"""The rating page's radio buttons and rubric dimensions (built in one pass by
annotations.rating_markup): every value from the study's rubric is escaped, and exactly
the saved answer is checked."""

import re

from annotations.rating_markup import choice_options, likert_options, rank_options, rating_dimension


def test_likert_options_escape_the_rubric_and_check_the_saved_value():
    entry = {"name": "r0_realism", "points": [
        {"value": "1", "anchor": 'Not <b>at</b> all "real"', "checked": False},
        {"value": "2", "anchor": "<script>alert(1)</script>", "checked": True}]}
    html = str(likert_options(entry))
    assert "<script>" not in html and "<b>" not in html
    assert 'title="2: &lt;script&gt;alert(1)&lt;/script&gt;"' in html
    assert 'data-anchor="Not &lt;b&gt;at&lt;/b&gt; all &quot;real&quot;"' in html
    assert re.findall(r'value="(\d)"[^>]*checked', html) == ["2"]


def test_choice_and_rank_options_number_and_check():
    entry = {"name": "r1_intervention", "choices": [
        {"value": "under", "label": "Under-intervenes", "number": 1, "checked": False},
        {"value": "over", "label": "Over & above", "number": 2, "checked": True}]}
    html = str(choice_options(entry))
    assert '<span class="num">2</span> Over &amp; above' in html
    assert re.findall(r'value="(\w+)" checked', html) == ["over"]
    ranks = str(rank_options({"rank_name": "rank_0", "ranks": [
        {"value": "1", "checked": True}, {"value": "2", "checked": False}]}))
    assert ranks.count('name="rank_0"') == 2 and re.findall(r'value="(\d)" checked', ranks) == ["1"]


def _rows(rubric: list[dict], values: dict) -> list[dict]:
    from annotations.selectors.rating import CaseView, RatingPage, SlotView, rating_form_rows

    page = RatingPage(assignment_id=1, case=CaseView("", [], [], []), slots=[SlotView(0, "A", "text")],
                      rubric=rubric, draft={}, position=1, total=1, submitted=False, instructions="")
    return rating_form_rows(page, values)


HOSTILE_RUBRIC = [
    {"key": "realism", "label": "Real<b>ism</b>", "scale": "likert", "min": 1, "max": 2, "required": True,
     "question": "<script>alert(1)</script>?", "anchors": {"1": "a & b", "2": '"quoted"'}},
    {"key": "kind", "label": "<i>Kind</i>", "scale": "categorical", "required": True,
     "question": "Which <u>one</u>?", "choices": [["x", "X"], ["y", "Y"]]},
    {"key": "harmful", "label": "Harm<script>", "scale": "flag", "required": False, "requires_reason": True},
]


def test_each_rubric_dimension_is_escaped_and_shows_the_saved_answer():
    values = {"r0_realism": "2", "r0_kind": "y", "r0_harmful": "1", "r0_harmful_reason": "</textarea><script>x"}
    likert, choice, flag = (str(rating_dimension(d, {})) for d in _rows(HOSTILE_RUBRIC, values)[0]["dims"])
    for html in (likert, choice, flag):
        assert "<script>" not in html and "<b>" not in html and "<i>" not in html and "<u>" not in html
    assert "<legend>Real&lt;b&gt;ism&lt;/b&gt;</legend>" in likert
    assert '<p class="question">&lt;script&gt;alert(1)&lt;/script&gt;?</p>' in likert
    assert '<p class="anchor" aria-live="polite">2: &quot;quoted&quot;</p>' in likert  # the saved answer's anchor
    assert re.findall(r'value="(\w)"[^>]*checked', likert) == ["2"]
    assert "<legend>&lt;i&gt;Kind&lt;/i&gt;</legend>" in choice and re.findall(r'value="(\w)" checked', choice) == ["y"]
    assert 'class="flag-box" checked> Harm&lt;script&gt;</label>' in flag
    assert flag.count("</textarea>") == 1 and "&lt;/textarea&gt;&lt;script&gt;x</textarea>" in flag


def test_a_dimension_with_an_error_is_marked_and_others_are_not():
    likert, choice, flag = _rows(HOSTILE_RUBRIC, {})[0]["dims"]
    errors = {"r0_kind": "missing", "r0_harmful_reason": "say why"}
    assert 'class="scale" id="f-r0_realism"' in str(rating_dimension(likert, errors))
    assert 'class="choice invalid" id="f-r0_kind"' in str(rating_dimension(choice, errors))
    assert 'class="flag invalid" id="f-r0_harmful_reason"' in str(rating_dimension(flag, errors))
    assert 'class="flag-box">' in str(rating_dimension(flag, {}))  # unchecked without a saved answer
