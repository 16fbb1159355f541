"""Fuzzing of the HTML forms, where the API's Schemathesis run cannot reach: every form a
clinician, a researcher or an admin is shown (the pages' own and the Django admin's) is
read from the page itself and posted back with hostile values in every field (numbers
past any column, text past any limit, bytes that are not UTF-8, escapes no column can
keep, deep JSON, a large quoted CSV field in every file). No answer is a server error."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from urllib.parse import quote_from_bytes, urljoin

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from annotations.models import Assignment
from annotations.services.onboarding import study_rater_consent
from annotations.services.planner import assignments_plan
from annotations.services.raters import study_rater_acknowledge_instructions
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.slow, pytest.mark.usefixtures("clean_broker"), pytest.mark.sqlite]

HOSTILE_TEXT = ["", " ", "0", "-1", "1.5", "2147483648", "9" * 40, "-9223372036854775809", "1e999", "nan",
                "Infinity", "true", "null", "[]", "{}", "x" * 70_000, "<script>alert(1)</script>", "../../etc/passwd",
                "\u202eevil", "é" * 10, '{"a": 1, "a": 2}', '{"\\ud800": 1}', '"\\u0000"', "[" * 5000 + "]" * 5000,
                "rated", "1", "2", "draft", "open", "closed"]
# Raw bytes a browser may send in an urlencoded body: invalid UTF-8, an encoded surrogate, NUL.
HOSTILE_BYTES = [b"\xff\xfe", b"\xed\xa0\x80", b"a\x00b", b"%", b"%zz"]
HOSTILE_FILES = [b"", b"\xff\xfe\x00", b'"' + b"x" * 200_000 + b'"\n', b"email,name\n" + b"a@b.c," * 5000,
                 b"[" * 5000 + b"]" * 5000 + b"\n", b'{"external_id": "a", "external_id": "b"}\n',
                 b"name,email\r\nDr A,\xff@example.org\r\n"]


class _Forms(HTMLParser):
    """The forms of a page: action, method, and each field's name and kind."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action") or "", "method": (attrs.get("method") or "get").lower(),
                               "fields": {}, "files": set()})
        elif self.forms and tag in ("input", "select", "textarea", "button") and attrs.get("name"):
            form = self.forms[-1]
            if attrs.get("type") == "file":
                form["files"].add(attrs["name"])
            else:
                form["fields"].setdefault(attrs["name"], attrs.get("value") or "")


def _forms_of(client, url: str) -> list[dict]:
    page = client.get(url)
    if page.status_code != 200 or "html" not in page.get("Content-Type", ""):
        return []
    parser = _Forms()
    parser.feed(page.content.decode("utf-8"))
    for form in parser.forms:
        form["action"] = urljoin(url, form["action"]) if form["action"] else url
    return [f for f in parser.forms if f["fields"] or f["files"]]


def _encode(pairs: list[tuple[str, bytes]]) -> bytes:
    return "&".join(f"{quote_from_bytes(name.encode())}={quote_from_bytes(value)}" for name, value in pairs).encode()


def _assert_no_server_error(answer, form, sent) -> None:
    assert answer.status_code < 500, (form["action"], answer.status_code, sent)


@pytest.fixture
def portal(rated_study, clinician, researcher, admin_user):
    """The open study with instructions and consent, planned for the clinician and another
    rater."""
    rated_study.instructions = "Rate each response."
    rated_study.consent_text = "I agree."
    rated_study.save()
    newcomer = UserFactory(username="fuzz-newcomer", role="clinician")
    assignments_plan(study=rated_study, raters=[clinician, newcomer])
    study_rater_acknowledge_instructions(study=rated_study, rater=clinician)
    study_rater_consent(study=rated_study, rater=clinician, agreed=True)
    assignment = Assignment.objects.filter(rater=clinician).order_by("queue_position").first()
    slug = rated_study.slug
    pages = {
        "clinician": ["/rate/", f"/rate/{assignment.pk}/", "/accounts/password/change/"],
        "newcomer": [f"/rate/studies/{rated_study.pk}/instructions/", f"/rate/studies/{rated_study.pk}/consent/"],
        "researcher": ["/studies/", "/studies/new/", f"/studies/{slug}/", f"/studies/{slug}/settings/",
                       f"/studies/{slug}/raters/", f"/studies/{slug}/responses/", f"/studies/{slug}/harms/",
                       f"/studies/{slug}/dashboard/", f"/studies/{slug}/judge/", f"/studies/{slug}/jobs/",
                       "/accounts/invitations/", "/accounts/password/change/"],
        "admin": [f"/studies/{slug}/jobs/", f"/studies/{slug}/judge/", "/admin/annotations/study/add/",
                  f"/admin/annotations/study/{rated_study.pk}/change/", "/admin/annotations/modelarm/add/",
                  "/admin/annotations/case/add/", "/admin/annotations/case/import/"],
        "anonymous": ["/accounts/login/", "/accounts/password/reset/"],
    }
    return {"study": rated_study, "pages": pages, "users": {"clinician": clinician, "newcomer": newcomer,
                                                              "researcher": researcher, "admin": admin_user}}


def _client(portal, role):
    from django.test import Client

    client = Client(raise_request_exception=True)
    if role != "anonymous":
        client.force_login(portal["users"][role])
    return client


def _all_forms(portal) -> list[tuple[str, dict]]:
    found = []
    for role, urls in portal["pages"].items():
        client = _client(portal, role)
        for url in urls:
            found += [(role, form) for form in _forms_of(client, url)]
    return found


def test_the_fuzzer_finds_the_forms_it_is_meant_to_cover(portal):
    """Guards the fuzzer itself: it reaches the pages' forms, the admin's and the rater's."""
    actions = {form["action"] for _, form in _all_forms(portal)}
    slug = portal["study"].slug
    for expected in ("/studies/new/", f"/studies/{slug}/settings/", f"/studies/{slug}/jobs/generation/",
                     f"/studies/{slug}/judge/queue/", "/accounts/invitations/", "/admin/annotations/modelarm/add/",
                     "/accounts/login/", "/accounts/password/reset/"):
        assert expected in actions, (expected, sorted(actions))
    assert any(re.fullmatch(r"/rate/\d+/submit/", a) for a in actions)
    assert any(re.fullmatch(r"/rate/studies/\d+/(instructions|consent)/", a) for a in actions)


@pytest.fixture
def forms(portal) -> list[tuple[str, dict]]:
    """Read once, before any post changes what the pages show."""
    return _all_forms(portal)


def _pick(values: list):
    """One of ``values`` by index, so a failure report names the index, not a 70 kB string."""
    return st.integers(0, len(values) - 1).map(values.__getitem__)


FIELD_VALUES = [v.encode() for v in HOSTILE_TEXT] + HOSTILE_BYTES


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(data=st.data())
def test_no_hostile_form_post_reaches_a_server_error(portal, forms, data):
    for role, form in forms:
        client = _client(portal, role)
        if form["files"]:
            values = {name: data.draw(_pick(HOSTILE_TEXT)) for name in form["fields"]}
            for name in form["files"]:
                values[name] = SimpleUploadedFile("upload.csv", data.draw(_pick(HOSTILE_FILES)))
            answer = client.post(form["action"], values)
            _assert_no_server_error(answer, form, sorted(values))
            continue
        pairs = [(name, data.draw(st.one_of(_pick(FIELD_VALUES), st.text(max_size=30).map(str.encode))))
                 for name in form["fields"]]
        if form["method"] == "post":
            answer = client.generic("POST", form["action"], _encode(pairs),
                                    content_type="application/x-www-form-urlencoded")
        else:
            answer = client.get(f"{form['action']}?{_encode(pairs).decode()}")
        _assert_no_server_error(answer, form, [(n, v[:40]) for n, v in pairs])
