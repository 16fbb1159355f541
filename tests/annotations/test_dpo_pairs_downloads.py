"""Where researchers get the DPO pairs: the study page's form (JSON Lines or Parquet,
streamed, written to the audit log) and the read-only API route, both researcher-only;
rules out of bounds are a form error or a 400 that names the field, never a 500."""

from __future__ import annotations

import io
import json

import pyarrow.parquet as pq
import pytest
import yaml
from django.core.management import call_command
from rest_framework.test import APIClient

from annotations.analysis.dpo_pairs import DpoRules
from annotations.models import AuditEvent
from annotations.selectors.preference_pairs import DpoPairPages, dpo_pairs
from tests.annotations.test_preference_pairs import REVERSED, ranked_study, submit_all

pytestmark = pytest.mark.django_db


@pytest.fixture
def pairs_study(db):
    """c0, c1: three raters agree on every pair; c2: r2 reverses (2 of 3); c3: only r0 submitted."""
    study = ranked_study("downloads", 4)
    submit_all(study, {("r2", "c2"): REVERSED}, skip={("r1", "c3"), ("r2", "c3")})
    return study


def _body(response) -> bytes:
    return b"".join(response.streaming_content)


def _url(study, **query) -> str:
    return f"/studies/{study.slug}/export/dpo-pairs/?" + "&".join(f"{k}={v}" for k, v in query.items())


def test_the_study_page_offers_the_form_with_the_default_rules(pairs_study, researcher_client):
    page = researcher_client.get(f"/studies/{pairs_study.slug}/").content.decode()
    assert 'id="dpo-pairs-form"' in page and f'action="/studies/{pairs_study.slug}/export/dpo-pairs/"' in page
    assert 'name="min_raters" value="1"' in page and 'name="min_agreement" value="0.5"' in page
    assert '<option value="true" selected>' in page and '<option value="parquet">Parquet</option>' in page


def test_json_lines_download_holds_the_pairs_and_is_audited(pairs_study, researcher_client):
    response = researcher_client.get(_url(pairs_study, format="jsonl"))
    assert response.status_code == 200 and response["Content-Type"] == "application/x-ndjson"
    assert response["Content-Disposition"].startswith('attachment; filename="downloads-dpo-pairs-')
    rows = [json.loads(line) for line in _body(response).decode().splitlines()]
    assert rows == list(dpo_pairs(pairs_study, rules=DpoRules()))
    assert len(rows) == 12  # four cases, three pairs each
    event = AuditEvent.objects.get(action="export.dpo_pairs")
    assert "jsonl, at least 1 rater(s), agreement at least 0.5" in event.summary


def test_parquet_download_with_rules(pairs_study, researcher_client):
    response = researcher_client.get(_url(pairs_study, format="parquet", min_raters=2, min_agreement="0.75",
                                          exclude_harm_flagged="false"))
    assert response.status_code == 200
    table = pq.read_table(io.BytesIO(_body(response)))
    rules = DpoRules(min_raters=2, min_agreement=0.75, exclude_harm_flagged=False)
    assert table.to_pylist() == list(dpo_pairs(pairs_study, rules=rules))
    assert sorted(set(table.column("case_id").to_pylist())) == ["c0", "c1"]
    assert str(table.schema.field("prompt").type) == "list<element: struct<role: string, content: string>>"


@pytest.mark.parametrize("query, field", [
    ({"format": "jsonl", "min_agreement": "0.3"}, "min_agreement"),
    ({"format": "jsonl", "min_agreement": "nan"}, "min_agreement"),
    ({"format": "jsonl", "min_raters": "0"}, "min_raters"),
    ({"format": "jsonl", "min_raters": "two"}, "min_raters"),
    ({"format": "jsonl", "exclude_harm_flagged": "maybe"}, "exclude_harm_flagged"),
    ({"format": "csv"}, "format"),
    ({}, "format"),
])
def test_bad_rules_are_a_form_error_and_export_nothing(pairs_study, researcher_client, query, field):
    response = researcher_client.get(_url(pairs_study, **query))
    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="dpo-pairs-errors"' in page and "Nothing was exported." in page
    assert response.context["dpo_pairs_form"].errors.keys() == {field}
    assert not AuditEvent.objects.filter(action="export.dpo_pairs").exists()


def test_clinicians_and_strangers_get_no_pairs(pairs_study, clinician_client, client):
    assert clinician_client.get(_url(pairs_study, format="jsonl")).status_code == 403
    assert client.get(_url(pairs_study, format="jsonl")).status_code == 302  # to the login page


# --- the API ------------------------------------------------------------------------------

@pytest.fixture
def researcher_api(researcher) -> APIClient:
    client = APIClient()
    client.force_login(researcher)
    return client


def test_the_api_pages_through_the_pairs(pairs_study, researcher_api):
    answer = researcher_api.get(f"/api/studies/{pairs_study.slug}/dpo-pairs/?min_raters=2&min_agreement=0.75")
    assert answer.status_code == 200
    body = answer.json()
    expected = list(dpo_pairs(pairs_study, rules=DpoRules(min_raters=2, min_agreement=0.75)))
    assert body["count"] == len(expected) == 6 and body["results"] == expected
    everything = researcher_api.get(f"/api/studies/{pairs_study.slug}/dpo-pairs/").json()
    assert everything["count"] == 12 and {r["case_id"] for r in everything["results"]} == {"c0", "c1", "c2", "c3"}


def test_a_page_reads_only_its_own_slice(pairs_study):
    whole = list(dpo_pairs(pairs_study, rules=DpoRules()))
    pages = DpoPairPages(pairs_study, rules=DpoRules())
    assert pages.count() == len(pages) == 12
    assert pages[3:7] == whole[3:7] and pages[10:100] == whole[10:]


@pytest.mark.parametrize("query, field", [
    ("min_agreement=1.5", "min_agreement"), ("min_agreement=0.2", "min_agreement"),
    ("min_raters=51", "min_raters"), ("min_raters=1.5", "min_raters"),
    ("exclude_harm_flagged=maybe", "exclude_harm_flagged"),
])
def test_the_api_answers_bad_rules_with_a_400_naming_the_field(pairs_study, researcher_api, query, field):
    answer = researcher_api.get(f"/api/studies/{pairs_study.slug}/dpo-pairs/?{query}")
    assert answer.status_code == 400
    assert list(answer.json()) == [field]


def test_the_api_answers_404_for_a_study_it_does_not_know(pairs_study, researcher_api):
    answer = researcher_api.get("/api/studies/nope/dpo-pairs/")
    assert answer.status_code == 404 and "detail" in answer.json()


def test_the_api_is_for_researchers_and_admins(pairs_study, clinician):
    client = APIClient()
    assert client.get(f"/api/studies/{pairs_study.slug}/dpo-pairs/").status_code == 401
    client.force_login(clinician)
    assert client.get(f"/api/studies/{pairs_study.slug}/dpo-pairs/").status_code == 403


def test_the_schema_documents_the_route(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    route = yaml.safe_load(out.read_text())["paths"]["/api/studies/{slug}/dpo-pairs/"]["get"]
    assert {p["name"] for p in route["parameters"]} == {"slug", "min_raters", "min_agreement",
                                                        "exclude_harm_flagged", "page"}
    assert "400" in route["responses"]
    page = route["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert page.endswith("/PaginatedDpoPairList")
