"""The Jinja2 environment of the rating form behaves as Django's templates do where a case
leaves a field out, escapes what it prints, and offers Django's helpers."""

import jinja2

from evalportal.jinja2 import environment, percent


def _env(**options):
    # What Django's Jinja2 backend passes with DEBUG on (as under `make run`).
    return environment(loader=jinja2.DictLoader({}), autoescape=True, undefined=jinja2.DebugUndefined, **options)


def test_a_missing_field_prints_nothing_even_in_debug():
    template = _env().from_string("[{{ turn.role|slugify }}|{{ image.title or 'Image' }}|{{ case.a.b }}|"
                                  "{% for t in turn.tables %}x{% endfor %}]")
    assert template.render(turn={"text": "hi"}, image={}, case={}) == "[|Image||]"


def test_printed_text_is_escaped_and_line_breaks_kept():
    template = _env().from_string("{{ text }}/{{ text|linebreaksbr }}")
    assert template.render(text="<b>a</b>\nb") == "&lt;b&gt;a&lt;/b&gt;\nb/&lt;b&gt;a&lt;/b&gt;<br>b"


def test_helpers_match_djangos():
    env = _env()
    assert env.globals["url"]("rate-draft", 7) == "/rate/7/draft/"
    assert env.globals["static"]("js/rating.js").endswith("js/rating.js")
    assert [percent(1, 6), percent(6, 6), percent(0, 0)] == [17, 100, 0]  # widthratio's rounding, 0 of nothing
