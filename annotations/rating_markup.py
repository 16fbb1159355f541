"""The rating form's repeated markup, built in Python for the rating form
(templates/annotations/_rating_form.html, through the tags in
annotations/templatetags/rating_form.py): radio buttons, rubric dimensions and the
ranking."""

import html
from functools import lru_cache

from django.utils.safestring import mark_safe

from annotations.rating_input import MAX_TEXT

# The rating page prints a few hundred radio buttons; built here in one pass they cost a
# fraction of what the same markup costs as nested template loops (the page is the
# hottest one in the portal). Every interpolated value goes through escape(): the
# standard library's, as Django's own does, without Django's per-call lazy-string check,
# which cost more than the escaping on this page.


@lru_cache(maxsize=4096)
def _escape_short(text: str) -> str:
    return html.escape(text)


def escape(value) -> str:
    # Rubric labels, anchors and field names come back for every response on every page:
    # short texts are escaped once per process.
    text = str(value)
    return _escape_short(text) if len(text) <= 200 else html.escape(text)


def _checked(option: dict) -> str:
    return " checked" if option["checked"] else ""


def likert_options(entry: dict):
    name = escape(entry["name"])
    parts = []
    for p in entry["points"]:
        value, anchor = escape(p["value"]), escape(p["anchor"])
        parts.append(f'<label class="opt" title="{value}: {anchor}"><input type="radio" name="{name}" '
                    f'value="{value}" data-anchor="{anchor}"{_checked(p)}><span class="num">{value}</span></label>')
    return mark_safe("".join(parts))  # every interpolated value is escaped above


def choice_options(entry: dict):
    name = escape(entry["name"])
    return mark_safe("".join(  # every interpolated value is escaped
        f'<label class="opt wide"><input type="radio" name="{name}" value="{escape(c["value"])}"{_checked(c)}>'
        f'<span class="num">{c["number"]}</span> {escape(c["label"])}</label>' for c in entry["choices"]))


def _invalid(errors: dict, name: str) -> str:
    return " invalid" if errors.get(name) else ""


def rating_dimension(entry: dict, errors: dict):
    """One rubric dimension of one response: a Likert scale, a choice or a harm flag with
    its reason."""
    dim = entry["dim"]
    label = escape(dim["label"])
    if dim["scale"] in ("likert", "categorical"):
        name = escape(entry["name"])
        head = (f'id="f-{name}"><legend>{label}</legend><p class="question">{escape(dim.get("question", ""))}</p>'
                f'<div class="options">')
        if dim["scale"] == "categorical":
            return mark_safe(f'<fieldset class="choice{_invalid(errors, entry["name"])}" {head}'
                             f'{choice_options(entry)}</div></fieldset>')
        anchor = escape(f"{entry['value']}: {entry['anchor']}") if entry["anchor"] else ""
        return mark_safe(f'<fieldset class="scale{_invalid(errors, entry["name"])}" {head}{likert_options(entry)}'
                         f'</div><p class="anchor" aria-live="polite">{anchor}</p></fieldset>')
    reason = escape(entry["reason_name"])
    return mark_safe(
        f'<div class="flag{_invalid(errors, entry["reason_name"])}" id="f-{reason}"><label class="flag-toggle">'
        f'<input type="checkbox" name="{escape(entry["name"])}" value="1" class="flag-box"{_checked(entry)}> {label}'
        f'</label><label class="reason-label" for="id_{reason}">Why could it harm the patient? '
        f'<span class="muted">(up to {MAX_TEXT} characters)</span></label>'
        f'<textarea name="{reason}" id="id_{reason}" rows="2" class="reason" data-limit="{MAX_TEXT}">'
        f'{escape(entry["reason"])}</textarea><p class="muted text-count" aria-live="polite"></p></div>')


def rank_options(row: dict):
    name = escape(row["rank_name"])
    return mark_safe("".join(  # every interpolated value is escaped
        f'<label class="opt"><input type="radio" name="{name}" value="{escape(r["value"])}"{_checked(r)}>'
        f'<span class="num">{escape(r["value"])}</span></label>' for r in row["ranks"]))
