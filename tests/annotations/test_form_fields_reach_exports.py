"""Everything a rater gives on the rating page reaches every export and the API, at the
row it belongs to.

The test renders the real rating page of a 3-response case with the default rubric (and
of a pairwise study's 2-response case, whose "which is better" is its ranking),
reads every input of its form from the HTML (no list of fields is written here), fills
each with a value of its own, submits through the real view, corrects the case through
the real correction page (a second set of values and a reason), and then reads the CSV,
JSON Lines and Parquet exports, ``/api/ratings/``, the rankings exports and
``/api/rankings/``: each value must be there, on the row of its revision, response (slot)
and dimension.

The rule for which inputs are a rater's: every input of the form is, except the
page's machinery named in ``NOT_RATER_INPUT`` with why. A new input the test cannot place
in the exports fails it, until it reaches them or is named there."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from html.parser import HTMLParser

import pyarrow.parquet as pq
import pytest
from django.utils import timezone

from annotations.models import Assignment, Response
from annotations.rating_row import FIELDS, RANKING_ROW, RATING_ROW
from annotations.rubric import CANNOT_JUDGE, CANNOT_JUDGE_VALUE
from annotations.services.planner import assignments_plan
from evalportal.roles import CLINICIAN
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]

# Inputs of the rating form that carry no answer of the rater's, and why.
NOT_RATER_INPUT = {
    "csrfmiddlewaretoken": "Django's protection against forged posts",
    "shown": "the page's signed token that the case was shown to this rater (claims it back from the pool)",
    "idempotency_key": "makes a resent submit store nothing twice",
    "base_revision": "the revision the correction form showed, so that a stale correction is refused",
}
# On the correction form only: a correction does not add to the time on task, which is the
# time spent rating the case (the assignment's, the same on every revision).
NOT_RATER_INPUT_ON_CORRECTION = {"active_seconds": "a correction adds nothing to the time on task"}

_DIMENSION_FIELD = re.compile(r"r(\d+)_(\w+?)(_reason)?")
_RANK_FIELD = re.compile(r"rank_(\d+)")


class FormInputs(HTMLParser):
    """The inputs of the form ``form_id``: name -> {"type", "values" (the options of a radio
    group or a select), "value" (a hidden input's)}, and the form's action."""

    def __init__(self, form_id: str):
        super().__init__()
        self.form_id, self.inside, self.action = form_id, False, None
        self.inputs: dict[str, dict] = {}
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.inside = attrs.get("id") == self.form_id
            if self.inside:
                self.action = attrs.get("action")
            return
        if not self.inside or "name" not in attrs and tag != "option":
            return
        if tag == "input":
            kind = attrs.get("type", "text")
            entry = self.inputs.setdefault(attrs["name"], {"type": kind, "values": []})
            assert entry["type"] == kind, f"{attrs['name']} is both a {entry['type']} and a {kind} input"
            entry["values"].append(attrs.get("value", "on"))
            entry["value"] = attrs.get("value", "")
        elif tag == "textarea":
            self.inputs[attrs["name"]] = {"type": "textarea", "values": []}
        elif tag == "select":
            self._select = attrs["name"]
            self.inputs[self._select] = {"type": "select", "values": []}
        elif tag == "option" and self._select and attrs.get("value"):
            self.inputs[self._select]["values"].append(attrs["value"])

    def handle_endtag(self, tag):
        if tag == "form":
            self.inside = False
        elif tag == "select":
            self._select = None


def form_inputs(html: str, form_id: str = "rating-form") -> FormInputs:
    parser = FormInputs(form_id)
    parser.feed(html)
    assert parser.inputs, f"no form #{form_id} with inputs on the page"
    return parser


class Expected:
    """What each export row of one revision must hold: (slot, dimension) -> {column: value}
    for the rating rows, slot -> {column: value} for the rankings rows, {column: value} on
    every row of the revision."""

    def __init__(self):
        self.ratings: dict[tuple[int, str], dict] = {}
        self.rankings: dict[int, dict] = {}
        self.every_row: dict = {}

    def rating(self, slot: int, dimension: str, **columns):
        self.ratings.setdefault((slot, dimension), {}).update(columns)

    def ranking(self, slot: int, **columns):
        self.rankings.setdefault(slot, {}).update(columns)


def ranks_given(n_slots: int, variant: int) -> list[int]:
    """Ranks with a tie: two responses of three tied for best, the third last (the tie
    moves with the variant); of two, A better, then a tie."""
    if n_slots == 2:
        return [[1, 2], [1, 1]][variant % 2]
    return [1 if (slot + variant) % 3 != 2 else n_slots for slot in range(n_slots)]


def fill(inputs: FormInputs, rubric: list[dict], *, variant: int, ignore: dict) -> tuple[dict, Expected]:
    """Post data answering every rater's input of the form, each with its own value
    (``variant`` shifts them, so a correction differs everywhere), and what the exports
    must then show. Fails on an input it cannot place."""
    scales = {dim["key"]: dim for dim in rubric}
    dimension_order = [dim["key"] for dim in rubric]
    data, expected = {}, Expected()
    n_slots = len({int(m[1]) for name in inputs.inputs if (m := _RANK_FIELD.fullmatch(name))})
    ranks = ranks_given(n_slots, variant)
    cannot_judge_given = False
    for name, entry in inputs.inputs.items():
        if name in NOT_RATER_INPUT or name in ignore:
            if entry["type"] == "hidden":
                data[name] = entry["value"]
            continue
        if name == "comment":
            data[name] = f"Comment {variant}: the ward's plan\nsecond line, ünïcode ✓"
            expected.every_row["comment"] = data[name]
        elif name == "reason":
            data[name] = f"Correction {variant}: response B was misread"
            expected.every_row["revision_reason"] = data[name]
        elif name == "active_seconds":
            data[name] = "123.5"
            expected.every_row["active_seconds"] = 123.5
        elif name == "better":
            # Two responses: the page's script sets the two rank fields from this answer
            # (they are the form's fallback without a script), so both are posted.
            data[name] = "A" if ranks[0] < ranks[1] else "tie" if ranks[0] == ranks[1] else "B"
            assert data[name] in entry["values"], entry["values"]
        elif found := _RANK_FIELD.fullmatch(name):
            slot = int(found[1])
            rank = ranks[slot]
            assert str(rank) in entry["values"], (name, entry["values"])
            data[name] = str(rank)
            expected.ranking(slot, rank=rank)
        elif found := _DIMENSION_FIELD.fullmatch(name):
            slot, key, is_reason = int(found[1]), found[2], bool(found[3])
            assert key in scales, f"{name}: no rubric dimension {key!r}"
            dim, index = scales[key], dimension_order.index(key)
            if is_reason:
                continue  # filled with its flag below: the page shows the box only for a flagged response
            if entry["type"] == "checkbox":  # a flag, raised on two responses of three, each with its reason
                if (slot + variant) % 3 != 1:
                    data[name] = entry["values"][0]
                    data[f"{name}_reason"] = f"Reason {variant}/{slot}: could delay the heparin stop"
                    expected.rating(slot, key, choice="yes", note=data[f"{name}_reason"], score=None)
                else:
                    expected.rating(slot, key, choice="no", note=None, score=None)
                continue
            options = [v for v in entry["values"] if v != CANNOT_JUDGE_VALUE]
            if (CANNOT_JUDGE_VALUE in entry["values"] and not cannot_judge_given
                    and slot == (1 + variant) % 3):
                data[name], cannot_judge_given = CANNOT_JUDGE_VALUE, True
                expected.rating(slot, key, score=None, choice=CANNOT_JUDGE)
                continue
            # Within a dimension the three responses get different answers, and each
            # response different answers on neighbouring dimensions.
            value = options[(2 * slot + index + variant) % len(options)]
            data[name] = value
            if dim["scale"] == "likert":
                expected.rating(slot, key, score=float(value), choice=None)
            else:
                expected.rating(slot, key, choice=value, score=None)
        else:
            pytest.fail(f"the form's input {name!r} ({entry['type']}) is none the test knows where to find in "
                        "the exports: make it reach them, or name it in NOT_RATER_INPUT with why")
    for slot in range(n_slots):
        for key in dimension_order:
            if scales[key]["scale"] != "flag":
                assert (slot, key) in expected.ratings, f"the form has no input for response {slot}'s {key}"
    return data, expected


# --- reading the exports back --------------------------------------------------------------

def _typed(value, kind: str):
    """A cell as the row's kind, empty as None (CSV cannot tell an empty text from none)."""
    if value is None or value == "":
        return None
    if kind in ("int16", "int32", "int64"):
        return int(value)
    if kind == "float":
        return float(value)
    if kind == "bool" and isinstance(value, str):
        return value.lower() == "true"
    return value


def _body(response) -> bytes:
    assert response.status_code == 200, response.status_code
    return b"".join(response.streaming_content)


def exported(client, study, rows: str, fmt: str) -> list[dict]:
    body = _body(client.get(f"/studies/{study.slug}/export/{rows}.{fmt}?revisions=all"))
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(body.decode("utf-8"))))
    if fmt == "jsonl":
        return [json.loads(line) for line in body.splitlines()]
    return pq.read_table(io.BytesIO(body)).to_pylist()


def from_api(client, rows: str) -> list[dict]:
    """Every row of ``/api/<rows>/?revisions=all``, page by page, under the exports' names."""
    row_fields = RATING_ROW if rows == "ratings" else RANKING_ROW
    found, url = [], f"/api/{rows}/?revisions=all"
    while url:
        page = client.get(url).json()
        found += [{field.name: item[field.key] for field in row_fields} for item in page["results"]]
        url = page["next"]
    return found


def check_rows(rows: list[dict], assignment: Assignment, revisions: dict[int, Expected], source: str) -> None:
    arms = dict(Response.objects.filter(pk__in=assignment.slots).values_list("id", "arm__name"))
    mine = [row for row in rows if _typed(row["assignment_id"], "int64") == assignment.pk]
    per_dimension = "dimension" in (rows[0] if rows else {})
    for revision, expected in revisions.items():
        of_revision = [row for row in mine if _typed(row["revision"], "int16") == revision]
        wanted = expected.ratings if per_dimension else expected.rankings
        keys = (lambda row: (_typed(row["slot"], "int16"), row["dimension"])) if per_dimension else (
            lambda row: _typed(row["slot"], "int16"))
        by_key = {keys(row): row for row in of_revision}
        assert len(by_key) == len(of_revision), f"{source}: a row twice in revision {revision}"
        assert set(by_key) >= set(wanted), f"{source}: revision {revision} lacks rows {set(wanted) - set(by_key)}"
        for key, row in by_key.items():
            slot = key[0] if per_dimension else key
            columns = {**expected.every_row, **wanted.get(key, {}), "is_current": revision == max(revisions),
                       "response_id": assignment.slots[slot], "arm": arms[assignment.slots[slot]],
                       "slot_letter": "ABC"[slot], "responses_shown": len(assignment.slots)}
            if per_dimension:
                columns.update(expected.rankings[slot])  # the response's rank, on each of its rating rows
            for column, value in columns.items():
                assert column in row, f"{source}: no column {column!r}"
                got = _typed(row[column], FIELDS[column].kind)
                assert got == _typed(value, FIELDS[column].kind), (
                    f"{source}, revision {revision}, row {key}: {column} is {got!r}, the rater gave {value!r}")


@pytest.mark.parametrize("arms_per_screen", [None, 2], ids=["all-3-arms", "pairwise"])
def test_every_input_of_the_rating_form_reaches_every_export_and_the_api(
        rated_study, clinician, clinician_client, researcher_client, arms_per_screen):
    study = rated_study
    study.arms_per_screen = arms_per_screen
    study.save(update_fields=["arms_per_screen"])
    assignments_plan(study=study, raters=[clinician, UserFactory(username="other", role=CLINICIAN)])
    url = clinician_client.get("/rate/next/")["Location"]
    assignment = Assignment.objects.get(pk=int(url.strip("/").split("/")[-1]))
    assert len(assignment.slots) == (arms_per_screen or 3)
    page = form_inputs(clinician_client.get(url).content.decode())
    assert ("better" in page.inputs) == (arms_per_screen == 2)
    # As if the rater had had the page open for ten minutes: the server adds at most the
    # time that passed since the case was shown.
    ten_minutes_ago = timezone.now() - timedelta(minutes=10)
    Assignment.objects.filter(pk=assignment.pk).update(shown_at=ten_minutes_ago, last_activity_at=ten_minutes_ago)
    first, expect_first = fill(page, study.rubric, variant=0, ignore={})
    answered = clinician_client.post(page.action, first)
    assert answered.status_code == 302, answered.content.decode()[-3000:]

    correction = form_inputs(clinician_client.get(f"/rate/{assignment.pk}/correct/").content.decode())
    assert "reason" in correction.inputs and "base_revision" in correction.inputs
    second, expect_second = fill(correction, study.rubric, variant=1, ignore=NOT_RATER_INPUT_ON_CORRECTION)
    corrected = clinician_client.post(correction.action, second)
    assert corrected.status_code == 302, corrected.content.decode()[-3000:]
    expect_second.every_row["active_seconds"] = expect_first.every_row["active_seconds"]
    expect_first.every_row["revision_reason"] = None
    revisions = {1: expect_first, 2: expect_second}
    assert any(CANNOT_JUDGE in [v.get("choice") for v in e.ratings.values()] for e in revisions.values()), (
        "the default rubric offers cannot judge: the form should too")

    for fmt in ("csv", "jsonl", "parquet"):
        check_rows(exported(researcher_client, study, "ratings", fmt), assignment, revisions, f"ratings.{fmt}")
        check_rows(exported(researcher_client, study, "rankings", fmt), assignment, revisions, f"rankings.{fmt}")
    check_rows(from_api(researcher_client, "ratings"), assignment, revisions, "/api/ratings/")
    check_rows(from_api(researcher_client, "rankings"), assignment, revisions, "/api/rankings/")
