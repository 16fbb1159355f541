"""Assignments through the API: a clinician sees only their own, blinded; researchers and
admins see every assignment, unblinded."""

from __future__ import annotations

import json

import pytest

from annotations.models import Assignment, GenerationJob
from evalportal.roles import CLINICIAN
from tests.factories import CaseFactory, ModelArmFactory, ResponseFactory, StudyArmFactory, StudyFactory, UserFactory

pytestmark = pytest.mark.django_db

ARM_IDS = (870101, 870102, 870103)
RESPONSE_IDS = tuple(880100 + i for i in range(6))
JOB_IDS = tuple(890100 + i for i in range(6))
ARM_NAMES = ("ArmBaselineZed", "ArmGeneralZed", "ArmBehaviorZed")
MODEL_NAME = "/models/HiddenModel-7B-Instruct"
TASK_ID = "celery-task-secret-7f3a"
GOLD_LABEL = "gold_label_zz_flag"
TOKENS = ("<|reactive|>", "<|balanced|>", "<|proactive|>")


@pytest.fixture
def blinded(db, clinician):
    """Two cases x three arms with conspicuous ids and names; one assignment for the
    ``clinician`` fixture and one for another clinician."""
    study = StudyFactory(slug="blind-api", raters_per_item=2)
    arms = [ModelArmFactory(pk=pk, name=name, base_model=MODEL_NAME, adapter_path=f"/adapters/{name}",
                            checkpoint_hash="deadbeef" * 8) for pk, name in zip(ARM_IDS, ARM_NAMES)]
    for i, arm in enumerate(arms):
        StudyArmFactory(study=study, arm=arm, position=i)
    other = UserFactory(username="other-clin", role=CLINICIAN)
    assignments = {}
    n = 0
    for c, rater in enumerate((clinician, other)):
        case = CaseFactory(study=study, external_id=f"blind-api-{c}", gold_label=GOLD_LABEL, task="med_rec_zz")
        slots = []
        for arm, token in zip(arms, TOKENS):
            job = GenerationJob.objects.create(pk=JOB_IDS[n], study=study, arm=arm, celery_task_id=TASK_ID)
            response = ResponseFactory(pk=RESPONSE_IDS[n], case=case, arm=arm, job=job,
                                       raw_text=f"{token}Recheck the potassium, case {c}.",
                                       text=f"Recheck the potassium, case {c}. {token}",
                                       predicted_behavior=token.strip("<|>"),
                                       provenance={"model": MODEL_NAME, "job": JOB_IDS[n]})
            slots.append(response.pk)
            n += 1
        slots = slots[c:] + slots[:c]  # a different order for each rater
        assignments[rater.username] = Assignment.objects.create(study=study, case=case, rater=rater, slots=slots)
    # An empty response is shown as "(stays silent)", never blank.
    ResponseFactory._meta.model.objects.filter(pk=RESPONSE_IDS[0]).update(text="", raw_text="<|proactive|>")
    return study, assignments


def _assert_blind(payload) -> None:
    text = json.dumps(payload)
    for forbidden in (*ARM_NAMES, MODEL_NAME, "HiddenModel", *TOKENS, "<|", "deadbeef", "adapters/", TASK_ID,
                      GOLD_LABEL, "med_rec_zz", "blind-api-"):
        assert forbidden not in text, forbidden
    for number in (*ARM_IDS, *RESPONSE_IDS, *JOB_IDS):
        assert str(number) not in text, number
    for word in ("Baseline", "GeneralSFT", "BehaviorSFT", "predicted_behavior", "gold", "arm", "job",
                 "response", "provenance", "raw_text", "rater"):
        assert word not in text, word


def test_clinician_lists_only_their_own_blinded_assignments(blinded, clinician_api):
    study, assignments = blinded
    response = clinician_api.get("/api/assignments/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1 and [a["id"] for a in body["results"]] == [assignments["clin"].pk]
    item = body["results"][0]
    assert set(item) == {"id", "study", "status", "created_at", "shown_at", "first_input_at", "last_activity_at",
                         "submitted_at", "case", "slots"}
    assert item["study"] == "blind-api" and item["status"] == "pending"
    assert set(item["case"]) == {"specialty", "turns", "tables", "images"}
    assert item["slots"] == [{"letter": "A", "text": "(stays silent)"},
                             {"letter": "B", "text": "Recheck the potassium, case 0."},
                             {"letter": "C", "text": "Recheck the potassium, case 0."}]
    _assert_blind(body)


def test_clinician_reads_own_assignment_blinded_and_never_anothers(blinded, clinician_api):
    _, assignments = blinded
    own = clinician_api.get(f"/api/assignments/{assignments['clin'].pk}/")
    assert own.status_code == 200
    _assert_blind(own.json())
    other = clinician_api.get(f"/api/assignments/{assignments['other-clin'].pk}/")
    assert other.status_code == 404
    assert clinician_api.get("/api/assignments/?rater=other-clin").json()["count"] == 0


def test_clinician_is_refused_every_unblinded_endpoint(blinded, clinician_api):
    for path in ("/api/studies/", "/api/studies/blind-api/", "/api/arms/", f"/api/arms/{ARM_IDS[0]}/",
                 "/api/responses/", f"/api/responses/{RESPONSE_IDS[0]}/", "/api/cases/", "/api/ratings/", "/api/rankings/",
                 "/api/generation-jobs/", f"/api/generation-jobs/{JOB_IDS[0]}/", "/api/training-jobs/"):
        response = clinician_api.get(path)
        assert response.status_code == 403, path
        _assert_blind(response.json())


def test_clinician_with_a_token_is_blinded_too(blinded, clinician):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=clinician).key}")
    response = client.get("/api/assignments/")
    assert response.status_code == 200 and response.json()["count"] == 1
    _assert_blind(response.json())
    assert client.get("/api/arms/").status_code == 403


def test_researcher_sees_every_assignment_unblinded(blinded, researcher_api):
    _, assignments = blinded
    body = researcher_api.get("/api/assignments/").json()
    assert body["count"] == 2
    by_rater = {a["rater"]: a for a in body["results"]}
    other = by_rater["other-clin"]
    assert other["case_external_id"] == "blind-api-1"
    assert [s["response"] for s in other["slots"]] == assignments["other-clin"].slots
    assert [s["letter"] for s in other["slots"]] == ["A", "B", "C"]
    assert [s["arm_name"] for s in other["slots"]] == ["ArmGeneralZed", "ArmBehaviorZed", "ArmBaselineZed"]
    assert other["slots"][0]["arm"] == ARM_IDS[1]


def test_assignment_filters(blinded, researcher_api, admin_api):
    _, assignments = blinded
    assert researcher_api.get("/api/assignments/?rater=clin").json()["count"] == 1
    assert researcher_api.get("/api/assignments/?study=blind-api&status=pending").json()["count"] == 2
    assert researcher_api.get("/api/assignments/?status=submitted").json()["count"] == 0
    assert researcher_api.get("/api/assignments/?study=nope").json()["count"] == 0
    assert researcher_api.get("/api/assignments/?status=bogus").status_code == 400
    detail = admin_api.get(f"/api/assignments/{assignments['clin'].pk}/").json()
    assert detail["rater"] == "clin" and len(detail["slots"]) == 3


def test_assignment_list_queries_do_not_grow_with_rows(rated_study, researcher_api, clinician, clinician_api,
                                                      django_assert_max_num_queries):
    raters = [clinician] + [UserFactory(username=f"r{i}", role=CLINICIAN) for i in range(3)]
    for case in rated_study.cases.filter(split="test"):
        slots = list(case.responses.values_list("pk", flat=True))
        for rater in raters:
            Assignment.objects.create(study=rated_study, case=case, rater=rater, slots=slots)
    with django_assert_max_num_queries(8):
        assert researcher_api.get("/api/assignments/").json()["count"] == 24
    with django_assert_max_num_queries(8):
        assert clinician_api.get("/api/assignments/").json()["count"] == 6


def test_browsable_api_pages_are_blind_for_a_clinician(blinded, clinician_api):
    import html

    _, assignments = blinded
    for path in ("/api/assignments/", f"/api/assignments/{assignments['clin'].pk}/"):
        page = clinician_api.get(path, HTTP_ACCEPT="text/html")
        assert page.status_code == 200 and page["Content-Type"].startswith("text/html")
        text = html.unescape(page.content.decode())
        assert "Recheck the potassium, case 0." in text
        for forbidden in (*ARM_NAMES, "HiddenModel", *TOKENS, "deadbeef", TASK_ID, GOLD_LABEL, "blind-api-1",
                          *map(str, (*ARM_IDS, *RESPONSE_IDS, *JOB_IDS))):
            assert forbidden not in text, (path, forbidden)
    options = clinician_api.options("/api/assignments/")
    assert options.status_code == 200 and "actions" not in options.json()
