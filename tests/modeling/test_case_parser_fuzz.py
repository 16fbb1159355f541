"""The case-file parser takes any bytes: it returns cases or raises CaseFileError naming
lines and fields, never anything else, and never passes on what a database cannot store
(deep nesting, NUL characters, unpaired surrogates, NaN, out-of-range numbers)."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modeling.cases import MAX_ERRORS_KEPT, MAX_NESTING, CaseFileError, parse_cases

GOOD = {"external_id": "c-1", "task": "omission_detection", "category": "proactive",
        "turns": [{"speaker": "Dr. A", "role": "attending", "text": "Start heparin."}],
        "question": None, "gold_behavior": "proactive", "label_space": ["flag", "no_flag"], "gold_label": "flag"}


def _problems(data: bytes) -> list[str]:
    with pytest.raises(CaseFileError) as info:
        parse_cases(data)
    return [str(e) for e in info.value.errors]


def _line(case) -> bytes:
    return json.dumps(case, ensure_ascii=True).encode()


def test_a_good_line_parses():
    assert parse_cases(_line(GOOD))[0]["external_id"] == "c-1"


@pytest.mark.parametrize("depth", [MAX_NESTING + 5, 900, 5000, 100_000])
def test_deep_nesting_is_refused_at_any_depth(depth):
    nested = "[" * depth + "]" * depth
    line = _line(GOOD)[:-1] + b', "metadata": {"x": ' + nested.encode() + b"}}"
    [problem] = _problems(line)
    assert problem.startswith("line 1") and f"nested more than {MAX_NESTING} levels deep" in problem


@pytest.mark.parametrize(("patch", "field", "message"), [
    ({"turns": [{"speaker": "Dr. A", "role": "attending", "text": "a\x00b"}]}, "turns[0].text", "NUL"),
    ({"metadata": {"note\x00": 1}}, "metadata", "NUL"),
    ({"turns": [{"speaker": "\ud800", "role": "attending", "text": "x"}]}, "turns[0].speaker", "surrogate"),
])
def test_text_no_database_can_store_is_refused_naming_its_field(patch, field, message):
    [problem] = _problems(_line({**GOOD, **patch}))
    assert f"field '{field}'" in problem and message in problem


@pytest.mark.parametrize(("extra", "key"), [
    (b', "external_id": "c-2"', "external_id"),
    (b', "metadata": {"site": 1, "site": 2}', "site"),
    (b', "turns": [{"speaker": "A", "speaker": "B", "role": "r", "text": "x"}]', "speaker"),
])
def test_a_key_given_twice_in_one_object_is_refused_naming_it(extra, key):
    """The reader would keep the last silently: which of two ids or texts the author
    meant is theirs to say."""
    [problem] = _problems(_line(GOOD)[:-1] + extra + b"}")
    assert problem.startswith("line 1: not valid JSON") and f"the key '{key}' appears twice" in problem


def test_a_field_named_by_an_unpaired_surrogate_key_is_shown_escaped():
    """A problem inside a key that is itself not UTF-8 still names its place in text an
    error page can encode."""
    problems = _problems(_line({**GOOD, "metadata": {"\ud800": "a\x00b"}}))
    assert problems and all(p.encode("utf-8") for p in problems)
    assert any("\\ud800" in p for p in problems)


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e999", "9" * 5000])
def test_numbers_that_are_not_finite_or_too_long_are_refused(number):
    line = _line(GOOD)[:-1] + b', "metadata": {"x": ' + number.encode() + b"}}"
    [problem] = _problems(line)
    assert problem.startswith("line 1: not valid JSON")


@pytest.mark.parametrize("data", [b"\xef\xbb\xbf", b"\xef\xbb\xbf \n\n\t\n", b"  \n"])
def test_a_file_of_only_a_byte_order_mark_and_blanks_is_empty(data):
    assert _problems(data) == ["file: the file is empty: expected one JSON case per line"]


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32", "latin-1"])
def test_other_encodings_are_named(encoding):
    data = json.dumps({**GOOD, "question": "Gewürz? ½"}, ensure_ascii=False).encode(encoding)
    assert "not UTF-8 text" in _problems(data)[0]


def test_thousands_of_bad_lines_keep_a_bounded_list_and_the_whole_count():
    with pytest.raises(CaseFileError) as info:
        parse_cases(b"{}\n" * 10_000)
    assert len(info.value.errors) == MAX_ERRORS_KEPT and info.value.total > 10_000
    assert len(str(info.value)) < 10_000 and f"{info.value.total - 50:,} more" in str(info.value)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=5), children, max_size=4),
    max_leaves=30)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_any_bytes_give_cases_or_a_case_file_error(data):
    try:
        parse_cases(data)
    except CaseFileError as exc:
        assert exc.errors and all(e.line >= 0 for e in exc.errors)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(sorted(GOOD) + ["metadata", "tables", "split", "reference_response"]),
                       json_values, max_size=6))
def test_any_json_fields_give_a_valid_case_or_named_problems(patch):
    case = {**GOOD, **patch}
    try:
        line = json.dumps(case, ensure_ascii=True, allow_nan=True).encode()
    except (ValueError, RecursionError):
        return
    try:
        [parsed] = parse_cases(line)
    except CaseFileError as exc:
        assert all(str(e).startswith("line 1") for e in exc.errors)
    else:  # what is accepted can be stored: no NUL, no surrogate, no NaN anywhere
        text = json.dumps(parsed, allow_nan=False, ensure_ascii=False)
        assert "\\u0000" not in text and not any("\ud800" <= ch <= "\udfff" for ch in text)
