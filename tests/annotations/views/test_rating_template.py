"""The rating form's templates print what a case gives them, escaped, and nothing where a
case leaves a field out (case files come from outside)."""

from django.template.loader import render_to_string

from annotations.selectors.rating import CaseView


def _case_html(case: CaseView) -> str:
    return render_to_string("annotations/_case.html", {"page": {"case": case}})


def test_a_case_that_leaves_fields_out_prints_no_placeholder():
    html = _case_html(CaseView(specialty="", turns=[{"speaker": "Dr. Amari", "text": "Start the infusion."}],
                               tables=[{"columns": ["day 0"], "rows": [[None]]}], images=[{"description": "CXR"}]))
    assert "Dr. Amari" in html and "Start the infusion." in html
    for placeholder in ("None", "undefined", "{{", "role-None"):
        assert placeholder not in html
    assert '<figcaption>Image' in html and "<td></td>" in html  # an image without title, an empty cell


def test_case_text_is_escaped_and_keeps_its_line_breaks():
    html = _case_html(CaseView(specialty="<i>x</i>", turns=[{"speaker": "<b>A</b>", "role": "nurse",
                                                             "text": "<script>alert(1)</script>\nsecond line"}],
                               tables=[], images=[]))
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;<br>second line" in html
    assert "&lt;b&gt;A&lt;/b&gt;" in html and "&lt;i&gt;x&lt;/i&gt;" in html
