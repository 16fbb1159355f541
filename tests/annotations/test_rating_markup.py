"""The rating page's radio buttons and rubric dimensions (built in one pass by
annotations.rating_markup): every value from the study's rubric is escaped, exactly the
saved answer is checked, each radio says which response and question it answers, and a
response's Markdown shows its HTML as text."""

import re

from annotations.rating_markup import (
    better_choice,
    choice_options,
    likert_options,
    rank_options,
    rating_dimension,
    response_html,
    responses_intro,
)


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


CANNOT_JUDGE_RUBRIC = [
    {"key": "realism", "label": "Realism", "scale": "likert", "min": 1, "max": 5, "required": True,
     "cannot_judge": True, "anchors": {"1": "Nobody would say this", "4": "Like a colleague", "5": "Exactly right"}},
    {"key": "intervention", "label": "Intervention", "scale": "categorical", "required": True, "cannot_judge": True,
     "choices": [["under", "Under"], ["over", "Over"]]},
    {"key": "helpfulness", "label": "Helpfulness", "scale": "likert", "min": 1, "max": 3, "required": True},
]


def test_each_radio_is_named_by_its_response_and_question_for_a_screen_reader():
    likert, choice, _ = (str(rating_dimension(d, {})) for d in _rows(CANNOT_JUDGE_RUBRIC, {})[0]["dims"])
    assert 'aria-label="Response A, Realism, 4: Like a colleague" name="r0_realism" value="4"' in likert
    assert 'aria-label="Response A, Realism, 3" name="r0_realism" value="3"' in likert  # a point without anchor
    assert 'aria-label="Response A, Intervention, Over" name="r0_intervention" value="over"' in choice
    hostile = str(rating_dimension(_rows(HOSTILE_RUBRIC, {})[0]["dims"][0], {}))
    assert 'aria-label="Response A, Real&lt;b&gt;ism&lt;/b&gt;, 2: &quot;quoted&quot;"' in hostile
    ranks = str(rank_options({"rank_name": "rank_1", "slot": _rows(HOSTILE_RUBRIC, {})[0]["slot"], "ranks": [
        {"value": "1", "checked": False}, {"value": "2", "checked": False}]}))
    assert 'aria-label="Response A, rank 1 of 2 (best)"' in ranks and 'aria-label="Response A, rank 2 of 2"' in ranks


def test_a_scale_always_shows_its_two_end_anchors_and_the_chosen_one_in_full():
    likert = str(rating_dimension(_rows(CANNOT_JUDGE_RUBRIC, {"r0_realism": "4"})[0]["dims"][0], {}))
    assert '<p class="ends" aria-hidden="true"><span>1 = Nobody would say this</span><span>5 = Exactly right</span></p>' \
        in likert
    assert '<p class="anchor" aria-live="polite">4: Like a colleague</p>' in likert
    hostile = str(rating_dimension(_rows(HOSTILE_RUBRIC, {})[0]["dims"][0], {}))
    assert "<span>1 = a &amp; b</span><span>2 = &quot;quoted&quot;</span>" in hostile
    no_anchors = str(rating_dimension(_rows(CANNOT_JUDGE_RUBRIC, {})[0]["dims"][2], {}))
    assert 'class="ends"' not in no_anchors


def test_cannot_judge_is_offered_where_the_rubric_says_and_shows_when_chosen():
    dims = _rows(CANNOT_JUDGE_RUBRIC, {"r0_realism": "na", "r0_intervention": "na"})[0]["dims"]
    likert, choice, plain = (str(rating_dimension(d, {})) for d in dims)
    for html in (likert, choice):
        assert re.findall(r'value="(\w+)"[^>]*checked', html) == ["na"]
        assert "Cannot judge</label>" in html
    assert '<p class="anchor" aria-live="polite">Cannot judge</p>' in likert
    assert 'aria-label="Response A, Intervention, Cannot judge"' in choice
    assert 'value="na"' not in plain  # a question without "cannot_judge" does not offer it
    assert [d["shown"] for d in dims] == ["Cannot judge", "Cannot judge", ""]


def test_two_responses_rank_as_a_choice_read_from_and_written_as_ranks():
    from annotations.selectors.rating import CaseView, RatingPage, SlotView, rating_form_rows

    page = RatingPage(assignment_id=1, case=CaseView("", [], [], []), slots=[SlotView(0, "A", ""), SlotView(1, "B", "")],
                      rubric=[], draft={}, position=1, total=1, submitted=False, instructions="")
    for ranks, chosen in (((1, 2), ["A"]), ((1, 1), ["tie"]), ((2, 1), ["B"]), ((2, 2), ["tie"]), ((1, None), [])):
        values = {f"rank_{slot}": str(rank) for slot, rank in enumerate(ranks) if rank}
        html = str(better_choice(rating_form_rows(page, values)))
        assert re.findall(r'value="(\w+)" checked', html) == chosen, ranks
    assert 'aria-label="Response B is better" name="better" value="B"' in html


def test_the_instructions_say_how_many_responses_each_case_shows():
    from annotations.selectors.rating import SlotView

    slots = [SlotView(i, letter, "") for i, letter in enumerate("ABC")]
    assert responses_intro(slots).startswith("You see 3 responses to each case, labelled A, B and C.")
    assert responses_intro(slots[:2]).startswith("You see 2 responses to each case, labelled A and B.")
    assert responses_intro(slots[:1]).startswith("You see 1 response to each case, labelled A.")


def test_a_response_is_markdown_with_its_html_shown_as_text():
    html = str(response_html('<script>alert(1)</script> **Hold** the <b>heparin</b>\n\n# Plan\n\n'
                             '[a](javascript:alert(1)) ![x](https://example.org/x.png)\n\n'
                             '| test | day 1 |\n|---|---|\n| platelets | 80 |'))
    assert "<script>" not in html and "<b>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;b&gt;heparin&lt;/b&gt;" in html
    assert "<strong>Hold</strong>" in html
    assert "<h3>Plan</h3>" in html and "<h1>" not in html  # under the response's own heading
    assert 'href="javascript' not in html and "<img" not in html
    assert html.count('<div class="table-scroll"><table>') == 1 and html.count("</table></div>") == 1
    # A table written as text is text, not a wrapper.
    assert "table-scroll" not in str(response_html("<table><tr><td>x</td></tr></table>"))
