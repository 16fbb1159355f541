"""The rating form's repeated markup, built in Python for the rating form
(templates/annotations/_rating_form.html, through the tags in
annotations/templatetags/rating_form.py): radio buttons, rubric dimensions and the
ranking."""

import html
import re
from functools import lru_cache

from django.template.defaultfilters import pluralize
from django.utils.safestring import SafeString
from django.utils.text import get_text_list

from annotations.markdown import render_markdown
from annotations.rating_input import MAX_TEXT
from annotations.rubric import CANNOT_JUDGE_LABEL, CANNOT_JUDGE_VALUE

# The rating page prints a few hundred radio buttons; built here in one pass they cost a
# fraction of what the same markup costs as nested template loops (the page is the
# hottest one in the portal). Every interpolated value goes through escape(): the
# standard library's, as Django's own does, without Django's per-call lazy-string check,
# which cost more than the escaping on this page; for the same reason the markup is
# returned as SafeString rather than through mark_safe().


@lru_cache(maxsize=4096)
def _escape_short(text: str) -> str:
    return html.escape(text)


def escape(value) -> str:
    # Rubric labels, anchors and field names come back for every response on every page:
    # short texts are escaped once per process.
    text = str(value)
    return _escape_short(text) if len(text) <= 200 else html.escape(text)


# Per option: the markup up to where " checked" goes, and the rest. A question's options
# differ between responses and pages only in which one is checked: their markup is built
# once per process for each field name and rubric question, and joined per page.
Pieces = tuple[tuple[str, str], ...]


def _join(pieces: Pieces, checked: list[bool]) -> str:
    return "".join(f"{head} checked{tail}" if on else head + tail for (head, tail), on in zip(pieces, checked))


def _spoken(prefix: str, answer: str) -> str:
    return f"{prefix}, {answer}" if prefix else answer


def _prefix(entry: dict) -> str:
    # Each radio's accessible name says which response and question it answers: a screen
    # reader moving through the form hears "Response A, Realism, 4: ..." rather than "4".
    letter, dim = entry.get("letter"), entry.get("dim")
    return ", ".join(part for part in (f"Response {letter}" if letter else "", dim["label"] if dim else "") if part)


def _cannot_judge_piece(name: str, prefix: str) -> tuple[str, str]:
    return (f'<label class="opt na"><input type="radio" aria-label="{_spoken(prefix, CANNOT_JUDGE_LABEL)}" '
            f'name="{name}" value="{CANNOT_JUDGE_VALUE}" data-shown="{CANNOT_JUDGE_LABEL}"',
            f">{CANNOT_JUDGE_LABEL}</label>")


@lru_cache(maxsize=2048)
def _likert_pieces(name: str, prefix: str, points: tuple[tuple[str, str], ...], cannot_judge: bool) -> tuple[Pieces, str]:
    """A Likert scale's options (``points``: value and anchor of each) and its two end
    anchors, always shown under its buttons."""
    name, prefix = escape(name), escape(prefix)
    pieces = []
    for raw_value, raw_anchor in points:
        value, anchor = escape(raw_value), escape(raw_anchor)
        spoken = _spoken(prefix, f"{value}: {anchor}" if anchor else value)
        pieces.append((f'<label class="opt" title="{value}: {anchor}"><input type="radio" aria-label="{spoken}" '
                       f'name="{name}" value="{value}" data-anchor="{anchor}"', f'><span class="num">{value}</span></label>'))
    if cannot_judge:
        pieces.append(_cannot_judge_piece(name, prefix))
    (first, first_anchor), (last, last_anchor) = points[0], points[-1]
    ends = (f'<p class="ends" aria-hidden="true"><span>{escape(first)} = {escape(first_anchor)}</span>'
            f'<span>{escape(last)} = {escape(last_anchor)}</span></p>') if first_anchor or last_anchor else ""
    return tuple(pieces), ends


def _likert(entry: dict) -> tuple[str, str]:
    """The options of a Likert entry, with the checked one, and its end anchors."""
    points, cannot_judge = entry["points"], bool(entry.get("cannot_judge"))
    pieces, ends = _likert_pieces(entry["name"], _prefix(entry), tuple((p["value"], p["anchor"]) for p in points),
                                  cannot_judge)
    checked = [p["checked"] for p in points]
    if cannot_judge:
        checked.append(entry["value"] == CANNOT_JUDGE_VALUE)
    return _join(pieces, checked), ends


def likert_options(entry: dict):
    return SafeString(_likert(entry)[0])  # every interpolated value is escaped


@lru_cache(maxsize=2048)
def _choice_pieces(name: str, prefix: str, choices: tuple[tuple[str, str, int], ...], cannot_judge: bool) -> Pieces:
    name, prefix = escape(name), escape(prefix)
    pieces = [(f'<label class="opt wide"><input type="radio" aria-label="{_spoken(prefix, escape(label))}" '
               f'name="{name}" value="{escape(value)}"', f'><span class="num">{number}</span> {escape(label)}</label>')
              for value, label, number in choices]
    if cannot_judge:
        pieces.append(_cannot_judge_piece(name, prefix))
    return tuple(pieces)


def _choices(entry: dict) -> str:
    choices, cannot_judge = entry["choices"], bool(entry.get("cannot_judge"))
    pieces = _choice_pieces(entry["name"], _prefix(entry),
                            tuple((c["value"], c["label"], c["number"]) for c in choices), cannot_judge)
    checked = [c["checked"] for c in choices]
    if cannot_judge:
        checked.append(entry["value"] == CANNOT_JUDGE_VALUE)
    return _join(pieces, checked)


def choice_options(entry: dict):
    return SafeString(_choices(entry))  # every interpolated value is escaped


def _invalid(errors: dict, name: str) -> str:
    return " invalid" if errors.get(name) else ""


@lru_cache(maxsize=2048)
def _question_head(name: str, label: str, question: str) -> str:
    return (f'id="f-{escape(name)}"><legend>{escape(label)}</legend><p class="question">{escape(question)}</p>'
            f'<div class="options">')


def rating_dimension(entry: dict, errors: dict):
    """One rubric dimension of one response: a Likert scale, a choice or a harm flag with
    its reason."""
    dim = entry["dim"]
    if dim["scale"] in ("likert", "categorical"):
        head = _question_head(entry["name"], dim["label"], dim.get("question", ""))
        if dim["scale"] == "categorical":
            return SafeString(f'<fieldset class="choice{_invalid(errors, entry["name"])}" {head}'
                              f'{_choices(entry)}</div></fieldset>')
        options, ends = _likert(entry)
        return SafeString(f'<fieldset class="scale{_invalid(errors, entry["name"])}" {head}{options}</div>{ends}'
                          f'<p class="anchor" aria-live="polite">{escape(entry.get("shown", ""))}</p></fieldset>')
    reason = escape(entry["reason_name"])
    return SafeString(
        f'<div class="flag{_invalid(errors, entry["reason_name"])}" id="f-{reason}"><label class="flag-toggle">'
        f'<input type="checkbox" name="{escape(entry["name"])}" value="1" class="flag-box"'
        f'{" checked" if entry["checked"] else ""}> {escape(dim["label"])}'
        f'</label><label class="reason-label" for="id_{reason}">Why could it harm the patient? '
        f'<span class="muted">(up to {MAX_TEXT} characters)</span></label>'
        f'<textarea name="{reason}" id="id_{reason}" rows="2" class="reason" data-limit="{MAX_TEXT}">'
        f'{escape(entry["reason"])}</textarea><p class="muted text-count" aria-live="polite"></p></div>')


@lru_cache(maxsize=1024)
def _rank_pieces(name: str, letter: str, values: tuple[str, ...]) -> Pieces:
    name, letter, last = escape(name), escape(letter), len(values)
    return tuple((f'<label class="opt"><input type="radio" aria-label="Response {letter}, rank {escape(value)} of {last}'
                  f'{" (best)" if value == "1" else ""}" name="{name}" value="{escape(value)}"',
                  f'><span class="num">{escape(value)}</span></label>') for value in values)


def rank_options(row: dict):
    ranks = row["ranks"]
    pieces = _rank_pieces(row["rank_name"], row["slot"].letter if "slot" in row else "",
                          tuple(r["value"] for r in ranks))
    return SafeString(_join(pieces, [r["checked"] for r in ranks]))  # every interpolated value is escaped


BETTER_CHOICES = (("A", "A", "Response A is better"), ("tie", "Tie", "Tie: as good as each other"),
                  ("B", "B", "Response B is better"))


def better_choice(rows: list[dict]):
    """With two responses, the ranking as one question, "Which is better overall?": A,
    a tie or B. The page's script shows it in place of the two rank fields (the fallback
    without a script) and sets those from it, so the form posts ranks (1, 2), (1, 1) or
    (2, 1) as with any other number of responses."""
    ranks = [next((int(r["value"]) for r in row["ranks"] if r["checked"]), 0) for row in rows]
    chosen = ""
    if len(ranks) == 2 and all(ranks):
        chosen = "A" if ranks[0] < ranks[1] else "tie" if ranks[0] == ranks[1] else "B"
    return SafeString("".join(  # constant labels
        f'<label class="opt"><input type="radio" aria-label="{spoken}" name="better" value="{value}"'
        f'{" checked" if value == chosen else ""}><span class="num">{shown}</span></label>'
        for value, shown, spoken in BETTER_CHOICES))


def responses_intro(slots: list) -> str:
    """What the instructions panel opens with: how many responses each case shows, and
    their letters."""
    letters = [slot.letter for slot in slots]
    if not letters:
        return ""
    return (f"You see {len(letters)} response{pluralize(len(letters))} to each case, labelled "
            f"{get_text_list(letters, 'and')}. Read the case, rate each response "
            f"on every question, then rank them overall.")


_HEADING_TAG = re.compile(r"<(/?)h([1-6])>")
TABLE_SCROLL_OPEN = '<div class="table-scroll">'


def _heading_below_response(found: re.Match) -> str:
    return f"<{found[1]}h{min(int(found[2]) + 2, 6)}>"


def response_html(text: str) -> SafeString:
    """A response (blinded by ``selectors/rating.py`` before it gets here) as Markdown:
    :func:`render_markdown`'s HTML, in which whatever HTML the response holds is shown as
    text. Its tables scroll inside a wrapper rather than widen the page, and its headings
    sit under the response's own (h2)."""
    rendered = str(render_markdown(text))
    # Raw HTML is off, so every "<table>" or "<h1>" here is one Markdown made, never the
    # response's own text (that arrives escaped).
    if "<table>" in rendered:
        rendered = rendered.replace("<table>", f"{TABLE_SCROLL_OPEN}<table>").replace("</table>", "</table></div>")
    if "<h" in rendered:
        rendered = _HEADING_TAG.sub(_heading_below_response, rendered)
    return SafeString(rendered)  # render_markdown's output, with tags of its own added
