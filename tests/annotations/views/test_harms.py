"""Every "potentially harmful" flag reaches the adjudication queue; researchers and admins
record decisions with notes; the dashboard counts confirmed harms per arm and the export
carries each decision."""

import pytest

from annotations.exports import export_rows
from annotations.models import Assignment, AuditEvent, HarmDecision, Rating, Response
from annotations.services.planner import assignments_plan
from annotations.services.rating import assignment_submit
from evalportal.roles import CLINICIAN
from tests.conftest import complete_rating
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def flagged(rated_study):
    """Two raters, each flagging the Baseline response of every case as harmful."""
    raters = [UserFactory(username=f"flagger{i}", role=CLINICIAN) for i in range(2)]
    assignments_plan(study=rated_study, raters=raters)
    arm_of = dict(Response.objects.values_list("id", "arm__name"))
    for assignment in Assignment.objects.filter(study=rated_study).select_related("study", "rater"):
        data = complete_rating(3, rated_study.rubric)
        for slot, response_id in enumerate(assignment.slots):
            if arm_of[response_id] == "Baseline":
                data[f"r{slot}_harmful"] = "on"
                data[f"r{slot}_harmful_reason"] = "Continues heparin despite falling platelets"
        assignment_submit(assignment=assignment, rater=assignment.rater, data=data)
    return rated_study


def _flags(study):
    return list(Rating.objects.filter(submission__assignment__study=study, dimension="harmful", choice="yes")
                .order_by("id"))


def test_every_flag_is_in_the_queue_unblinded(flagged, researcher_client):
    flags = _flags(flagged)
    assert len(flags) == 12  # 6 cases x 2 raters
    body = researcher_client.get(f"/studies/{flagged.slug}/harms/").content.decode()
    assert body.count('class="card harm-flag"') == 12
    assert "Continues heparin despite falling platelets" in body and "(Baseline)" in body
    assert "12 of 12 flags still to decide" in body


def test_a_decision_with_a_note_leaves_the_open_queue_and_counts_per_arm(flagged, researcher, researcher_client):
    first, second = _flags(flagged)[:2]
    url = f"/studies/{flagged.slug}/harms/"
    researcher_client.post(f"{url}{first.pk}/", {"decision": "confirmed", "note": "Real risk of HIT"})
    researcher_client.post(f"{url}{second.pk}/", {"decision": "not_harmful", "note": ""})
    decision = HarmDecision.objects.get(rating=first)
    assert (decision.decision, decision.note, decision.decided_by) == ("confirmed", "Real risk of HIT", researcher)
    assert researcher_client.get(url).content.decode().count('class="card harm-flag"') == 10
    assert researcher_client.get(f"{url}?show=all").content.decode().count('class="card harm-flag"') == 12

    dashboard = researcher_client.get(f"/studies/{flagged.slug}/dashboard/")
    rows = {r["arm"]: r for r in dashboard.context["by_arm"]}
    assert rows["Baseline"] == {"arm": "Baseline", "flags": 12, "decided": 2, "confirmed": 1,
                                "responses_confirmed": 1}
    assert rows["BehaviorSFT"]["flags"] == 0

    # A changed decision replaces the row; the audit log keeps both.
    researcher_client.post(f"{url}{first.pk}/", {"decision": "unclear", "note": "Ask the haematologist"})
    assert HarmDecision.objects.get(rating=first).decision == "unclear"
    events = AuditEvent.objects.filter(action="harm.decide", object_id=str(decision.pk)).order_by("id")
    assert [e.after["decision"] for e in events] == ["confirmed", "unclear"]
    assert events.last().before == {"decision": "confirmed", "note": "Real risk of HIT"}


def test_the_export_carries_each_decision(flagged, researcher):
    from annotations.services.harms import harm_decide

    flag = _flags(flagged)[0]
    harm_decide(study=flagged, rating_id=flag.pk, decision="confirmed", note="=HYPERLINK(x)", actor=researcher)
    rows = list(export_rows(flagged))
    decided = [r for r in rows if r["rating_id"] == flag.pk][0]
    assert (decided["harm_decision"], decided["harm_note"], decided["harm_decided_by"]) == \
        ("confirmed", "=HYPERLINK(x)", researcher.username)
    assert decided["harm_decided_at"] is not None
    assert all(r["harm_decision"] is None for r in rows if r["rating_id"] != flag.pk)


@pytest.mark.parametrize(("target", "data", "message"), [
    ("flag", {"decision": "maybe"}, "Choose a decision"),
    ("flag", {"decision": "confirmed", "note": "x" * 5001}, "the limit is 5,000"),
    ("not-a-flag", {"decision": "confirmed"}, None),  # a realism rating is no flag: 404
])
def test_a_bad_decision_is_refused_and_records_nothing(flagged, researcher_client, target, data, message):
    flag = _flags(flagged)[0]
    rating_id = flag.pk if target == "flag" else Rating.objects.filter(dimension="realism").first().pk
    page = researcher_client.post(f"/studies/{flagged.slug}/harms/{rating_id}/", data, follow=True)
    if message is None:
        assert page.status_code == 404
    else:
        assert page.status_code == 200 and message in page.content.decode()
    assert not HarmDecision.objects.exists()


def test_clinicians_never_reach_the_queue(flagged, clinician_client):
    flag = _flags(flagged)[0]
    assert clinician_client.get(f"/studies/{flagged.slug}/harms/").status_code == 403
    assert clinician_client.post(f"/studies/{flagged.slug}/harms/{flag.pk}/", {"decision": "confirmed"}
                                 ).status_code == 403
    assert not HarmDecision.objects.exists()


def test_the_ratings_api_carries_each_decision(flagged, researcher):
    from rest_framework.test import APIClient

    from annotations.services.harms import harm_decide

    flag = _flags(flagged)[0]
    harm_decide(study=flagged, rating_id=flag.pk, decision="confirmed", note="Held too late", actor=researcher)
    api = APIClient()
    api.force_authenticate(researcher)
    rows = api.get(f"/api/ratings/?study={flagged.slug}&dimension=harmful").json()["results"]
    by_id = {r["id"]: r for r in rows}
    assert (by_id[flag.pk]["harm_decision"], by_id[flag.pk]["harm_note"]) == ("confirmed", "Held too late")
    assert by_id[flag.pk]["harm_decided_by"] == researcher.username
    assert all(r["harm_decision"] is None for r in rows if r["id"] != flag.pk)


def test_each_flag_shows_its_case_beside_the_response(flagged, researcher_client):
    case = flagged.cases.get(external_id="rc-0")
    case.specialty = "Haematology"
    case.tables = [{"title": "Platelets", "columns": ["day", "count"], "rows": [["Mon", 240], ["Wed", 118]]}]
    case.save()
    body = researcher_client.get(f"/studies/{flagged.slug}/harms/").content.decode()
    flag = body.split('id="flag-')[1:]
    shown = next(f for f in flag if "Case rc-0 ·" in f)
    case_part = shown.split('<details class="harm-case">')[1].split("</details>")[0]
    assert "The case (Haematology): the conversation the rater read" in case_part
    assert "Plan: start the heparin infusion at 18:00." in case_part and "Dr. Amari" in case_part
    assert "<figcaption>Platelets</figcaption>" in case_part and "<td>118</td>" in case_part
    assert '<details open class="harm-response">' in shown
