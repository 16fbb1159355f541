"""The rating page's radio buttons (built in one pass by portal_extras): every value from
the study's rubric is escaped, and exactly the saved answer is checked."""

import re

from annotations.templatetags.portal_extras import choice_options, likert_options, rank_options


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
