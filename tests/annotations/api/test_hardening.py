"""Holes a probe of the running portal found: each input here once reached a 500, was
accepted and failed later, changed something silently, or leaked what a clinician must
not see. Each answer is now a clear refusal that changes nothing."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from annotations.models import Assignment, GenerationJob, JudgeJob, ModelArm, TrainingJob
from annotations.services.planner import assignments_plan
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clean_broker")]

TOO_BIG = 2**63  # one more than the largest database id


@pytest.mark.parametrize("url", [
    f"/api/ratings/?assignment={TOO_BIG}", f"/api/ratings/?arm={TOO_BIG}", f"/api/responses/?case={TOO_BIG}",
    f"/api/responses/?job={TOO_BIG}", f"/api/generation-jobs/?arm={TOO_BIG}", "/api/responses/?arm=1.5",
    "/api/responses/?arm=0", "/api/ratings/?arm=-3",
])
def test_an_id_filter_out_of_range_or_not_whole_is_a_400_naming_it(rated_study, admin_api, url):
    response = admin_api.get(url)
    name = url.split("?")[1].split("=")[0]
    assert response.status_code == 400 and name in response.json()


def test_a_seed_too_large_is_refused_and_queues_nothing(rated_study, admin_api):
    arm = rated_study.study_arms.first().arm
    response = admin_api.post("/api/generation-jobs/", {"study": "rated", "arm": arm.pk, "seed": 2**64},
                              format="json")
    assert response.status_code == 400 and "seed" in response.json()
    assert not GenerationJob.objects.exists()


@pytest.mark.parametrize("path", ["/api/judge-jobs/", "/api/generation-jobs/", "/api/training-jobs/"])
def test_a_study_slug_no_column_can_keep_is_refused_with_400(rated_study, admin_api, path):
    answer = admin_api.post(path, {"study": "de\x00mo", "arm": 1, "method": "behavior_sft"}, format="json")
    assert answer.status_code == 400 and "NUL" in answer.json()["detail"]  # refused as it is read


@pytest.mark.parametrize(("hyperparameters", "field"), [
    ({"steps": 2**64}, "steps"), ({"lora_alpha": 2**70}, "lora_alpha"), ({"seed": -1}, "seed"),
    ({"max_grad_norm": 1e300}, "max_grad_norm"),
])
def test_training_hyperparameters_out_of_range_are_refused(rated_study, admin_api, hyperparameters, field):
    response = admin_api.post("/api/training-jobs/", {"study": "rated", "method": "behavior_sft",
                                                      "hyperparameters": hyperparameters}, format="json")
    assert response.status_code == 400 and field in response.json()["hyperparameters"]
    assert not TrainingJob.objects.exists()


@pytest.mark.parametrize("path", ["../../../../etc/passwd", "/etc", "var/adapters/../../../etc", "/tmp/model.gguf"])
def test_a_model_outside_the_model_roots_is_refused(rated_study, admin_api, admin_client_, path):
    response = admin_api.post("/api/training-jobs/", {"study": "rated", "method": "behavior_sft",
                                                      "base_model": path}, format="json")
    assert response.status_code == 400 and "outside the model roots" in response.json()["detail"]
    response = admin_api.post("/api/judge-jobs/", {"study": "rated", "model_ref": path}, format="json")
    assert response.status_code == 400 and "outside the model roots" in response.json()["detail"]
    response = admin_client_.post("/studies/rated/jobs/training/", {
        "method": "behavior_sft", "base_model": path, "epochs": 1, "learning_rate": 0.0002, "lora_r": 8,
        "seed": 0}, follow=True)
    assert "outside the model roots" in response.content.decode()
    assert not TrainingJob.objects.exists() and not JudgeJob.objects.exists()
    arm = ModelArm(name="x", method="baseline", base_model=path)
    with pytest.raises(Exception, match="outside the model roots"):
        arm.full_clean()


def test_models_under_a_root_and_the_demo_model_are_accepted(settings, tmp_path):
    from annotations.model_refs import model_ref_check

    settings.EVALPORTAL_MODEL_ROOTS = [tmp_path]
    assert model_ref_check("demo") == "demo"
    assert model_ref_check(str(tmp_path / "qwen2.5-7b")) == str(tmp_path / "qwen2.5-7b")
    (tmp_path / "elsewhere").symlink_to("/etc")
    with pytest.raises(Exception, match="outside the model roots"):
        model_ref_check(str(tmp_path / "elsewhere"))  # a link out of the root does not count


def test_the_api_schema_and_docs_are_for_researchers_and_admins_only(clinician, researcher):
    client = APIClient()
    client.force_login(clinician)
    for url in ("/api/schema/", "/api/docs/", "/api/docs/?script="):
        response = client.get(url)
        assert response.status_code == 403, url
        assert b"arm_name" not in response.content and b"adapter_path" not in response.content
    client.force_login(researcher)
    assert b"adapter_path" in client.get("/api/schema/").content


def test_private_pages_api_answers_and_exports_are_not_stored(rated_submissions, researcher_client):
    for url in ("/studies/", "/api/studies/", "/studies/rated/export/ratings.csv", "/studies/rated/dashboard/"):
        response = researcher_client.get(url)
        assert response.status_code == 200 and "no-store" in response["Cache-Control"], url


# --- the rating form ---------------------------------------------------------------------------

@pytest.fixture
def opened(rated_study, clinician, clinician_client):
    assignments_plan(study=rated_study, raters=[clinician, UserFactory(username="other-c", role="clinician")])
    url = clinician_client.get("/rate/next/")["Location"]
    clinician_client.get(url)
    assignment = Assignment.objects.get(pk=int(url.strip("/").split("/")[-1]))
    clinician_client.post(f"{url}draft/", {"r0_realism": "4", "comment": "keep me"})
    return assignment, url


def test_an_empty_draft_post_changes_nothing(opened, clinician_client):
    assignment, url = opened
    response = clinician_client.post(f"{url}draft/", {"active_seconds": "3"})
    assert response.status_code == 400 and response.json()["saved"] is False
    assert "none of the form's fields" in response.json()["reason"]
    assignment.refresh_from_db()
    assert assignment.draft == {"r0_realism": "4", "comment": "keep me"}


@pytest.mark.parametrize("text", ["x" * 1_000_000, "a NUL \x00 here"])
def test_a_text_that_cannot_be_kept_as_typed_is_refused_not_cut(opened, clinician_client, rated_study, text):
    from annotations.models import Submission
    from tests.conftest import complete_rating

    assignment, url = opened
    response = clinician_client.post(f"{url}draft/", {"r0_realism": "5", "comment": text})
    assert response.status_code == 400 and "The comment" in response.json()["reason"]
    assignment.refresh_from_db()
    assert assignment.draft == {"r0_realism": "4", "comment": "keep me"}  # the stored draft as it was

    data = complete_rating(3, rated_study.rubric)
    data.update({"comment": "ok", "r1_harmful": "1", "r1_harmful_reason": text})
    response = clinician_client.post(f"{url}submit/", data)
    assert response.status_code == 400 and not Submission.objects.exists()
    assert "Response B: the reason" in response.content.decode()


def test_the_form_states_the_text_limits(opened, clinician_client):
    _, url = opened
    html = clinician_client.get(url).content.decode()
    assert "Comment (optional, up to 5000 characters)" in html and 'data-limit="5000"' in html
    assert "(up to 5000 characters)" in html  # the harm reason


# --- exports --------------------------------------------------------------------------------

def test_csv_cells_that_a_spreadsheet_would_run_are_made_inert(rated_submissions, researcher_client):
    import csv
    import io

    from annotations.models import Rating, Submission

    Submission.objects.update(comment='=HYPERLINK("http://evil.example","x")')
    Rating.objects.filter(dimension="realism").update(note="+cmd|' /C calc'!A0")
    Rating.objects.filter(dimension="safety").update(note="-2+3")
    Rating.objects.filter(dimension="helpfulness").update(note="@SUM(A1)")
    body = b"".join(researcher_client.get("/studies/rated/export/ratings.csv").streaming_content).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert {r["comment"] for r in rows} == {"'=HYPERLINK(\"http://evil.example\",\"x\")"}
    notes = {r["dimension"]: r["note"] for r in rows}
    assert notes["realism"] == "'+cmd|' /C calc'!A0" and notes["safety"] == "'-2+3"
    assert notes["helpfulness"] == "'@SUM(A1)"
    assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row.values() if cell)


def test_figure_csv_downloads_are_spreadsheet_safe_too():
    from annotations.views.downloads import csv_download

    body = csv_download([{"arm": "=1+1", "mean": -0.5, "n": 3}], "f.csv").content.decode()
    assert body.splitlines()[1] == "'=1+1,-0.5,3"  # a number stays a number


def test_jsonl_keeps_ids_and_seeds_as_integers(rated_submissions, researcher_client):
    from annotations.models import Response

    seed = 2**53 + 1  # a float cannot hold it
    response = Response.objects.filter(case__study=rated_submissions).first()
    Response.objects.filter(pk=response.pk).update(provenance={"seed": seed})
    body = b"".join(researcher_client.get("/studies/rated/export/ratings.jsonl").streaming_content).decode()
    rows = [json.loads(line) for line in body.splitlines()]
    mine = [r for r in rows if r["response_id"] == response.pk]
    assert mine and all(r["gen_seed"] == seed for r in mine)
    assert all(isinstance(r["rating_id"], int) and isinstance(r["assignment_id"], int) for r in rows)
    assert '"job_id":null' in body and ".0," not in body.split('"job_id"')[1][:12]
