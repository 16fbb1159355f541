"""Researchers' read endpoints: content, filters and pagination."""

from __future__ import annotations

import pytest

from annotations.models import GenerationJob, JobStatus, Rating, Response, TrainingJob
from tests.factories import CaseFactory, StudyFactory

pytestmark = pytest.mark.django_db


def _results(client, path):
    response = client.get(path)
    assert response.status_code == 200, response.content[:300]
    return response.json()


def test_studies_come_with_their_arms_in_order(world, researcher_api):
    StudyFactory(slug="other-study", status="draft")
    body = _results(researcher_api, "/api/studies/?status=open")
    assert [s["slug"] for s in body["results"]] == ["rated"]
    study = _results(researcher_api, "/api/studies/rated/")
    assert [a["name"] for a in study["arms"]] == ["Baseline", "GeneralSFT", "BehaviorSFT"]
    assert [a["position"] for a in study["arms"]] == [0, 1, 2]
    assert study["raters_per_item"] == 2 and study["rubric"][0]["key"] == "realism"
    assert researcher_api.get("/api/studies/no-such-study/").status_code == 404


def test_case_filters(world, researcher_api):
    other = StudyFactory(slug="other-study")
    CaseFactory(study=other, external_id="o-1", task="medication_reconciliation", category="reactive")
    assert _results(researcher_api, "/api/cases/")["count"] == 8
    assert _results(researcher_api, "/api/cases/?study=rated")["count"] == 7
    assert _results(researcher_api, "/api/cases/?study=rated&split=train")["results"][0]["external_id"] == "train-0"
    assert _results(researcher_api, "/api/cases/?study=rated&split=test")["count"] == 6
    assert [c["external_id"] for c in _results(researcher_api, "/api/cases/?category=reactive")["results"]] == ["o-1"]
    assert _results(researcher_api, "/api/cases/?task=medication_reconciliation")["count"] == 1
    case = _results(researcher_api, "/api/cases/?external_id=rc-0")["results"][0]
    assert case["study"] == "rated" and case["gold_label"] == "flag" and case["turns"]
    assert researcher_api.get("/api/cases/?category=nonsense").status_code == 400


def test_arm_filters(world, researcher_api):
    from tests.factories import ModelArmFactory

    ModelArmFactory(name="Unused", method="fewshot")
    assert _results(researcher_api, "/api/arms/")["count"] == 4
    arms = _results(researcher_api, "/api/arms/?study=rated")["results"]
    assert {a["name"] for a in arms} == {"Baseline", "GeneralSFT", "BehaviorSFT"}
    assert all(a["studies"] == ["rated"] for a in arms)
    assert [a["name"] for a in _results(researcher_api, "/api/arms/?method=fewshot")["results"]] == ["Unused"]


def test_responses_are_unblinded_and_filterable(world, researcher_api):
    job = GenerationJob.objects.create(study=world.study, arm=world.arm)
    Response.objects.filter(pk=world.response.pk).update(
        job=job, predicted_behavior="proactive", raw_text="<|proactive|>Check platelets.",
        provenance={"checkpoint_hash": "abc", "seed": 3})
    assert _results(researcher_api, "/api/responses/")["count"] == 18
    assert _results(researcher_api, "/api/responses/?study=rated")["count"] == 18
    assert _results(researcher_api, f"/api/responses/?arm={world.arm.pk}")["count"] == 6
    assert _results(researcher_api, f"/api/responses/?case={world.case.pk}")["count"] == 3
    assert _results(researcher_api, "/api/responses/?case_external_id=rc-0")["count"] == 3
    only = _results(researcher_api, f"/api/responses/?job={job.pk}")
    assert only["count"] == 1
    row = only["results"][0]
    assert row["arm_name"] == "Baseline" and row["arm"] == world.arm.pk and row["job"] == job.pk
    assert row["predicted_behavior"] == "proactive" and row["raw_text"].startswith("<|proactive|>")
    assert row["provenance"] == {"checkpoint_hash": "abc", "seed": 3}
    assert row["case_external_id"] == "rc-0" and row["study"] == "rated"
    assert _results(researcher_api, "/api/responses/?study=nope")["count"] == 0


def test_ratings_long_format_current_by_default(world, researcher_api):
    current = Rating.objects.filter(submission__is_current=True).count()
    total = Rating.objects.count()
    assert 0 < current < total
    body = _results(researcher_api, "/api/ratings/")
    assert body["count"] == current
    assert all(r["is_current"] and r["revision"] == 2 for r in body["results"])
    everything = _results(researcher_api, "/api/ratings/?revisions=all")
    assert everything["count"] == total
    assert {r["revision"] for r in everything["results"]} == {1, 2}
    assert _results(researcher_api, "/api/ratings/?revisions=current")["count"] == current
    assert researcher_api.get("/api/ratings/?revisions=some").status_code == 400

    row = next(r for r in body["results"] if r["slot"] == 0 and r["dimension"] == "realism")
    assert row["score"] == 5.0  # the revised value
    assert row["rater"] == "other-clin" and row["submitted_by"] == "boss"
    assert row["assignment"] == world.other.pk and row["case_external_id"] == "rc-1"
    assert row["study"] == "rated" and row["slot_letter"] == "A" and row["revision_reason"] == "typo"
    assert row["response"] == world.other.slots[0]
    assert row["arm_name"] == Response.objects.get(pk=world.other.slots[0]).arm.name
    assert row["submitted_at"] and "choice" in row and "note" in row
    original = next(r for r in everything["results"]
                    if r["revision"] == 1 and r["slot"] == 0 and r["dimension"] == "realism")
    assert original["score"] == 3.0 and original["is_current"] is False


def test_rating_filters(world, researcher_api):
    base = _results(researcher_api, "/api/ratings/")["count"]
    realism = _results(researcher_api, "/api/ratings/?dimension=realism")
    assert realism["count"] == 3 and {r["dimension"] for r in realism["results"]} == {"realism"}
    by_arm = _results(researcher_api, f"/api/ratings/?arm={world.arm.pk}")
    assert by_arm["count"] == base // 3 and {r["arm"] for r in by_arm["results"]} == {world.arm.pk}
    assert _results(researcher_api, "/api/ratings/?arm_name=Baseline")["count"] == base // 3
    assert _results(researcher_api, "/api/ratings/?rater=other-clin")["count"] == base
    assert _results(researcher_api, "/api/ratings/?rater=clin")["count"] == 0
    assert _results(researcher_api, "/api/ratings/?study=rated&revisions=all&dimension=realism")["count"] == 6
    assert _results(researcher_api, "/api/ratings/?study=nope")["count"] == 0


def test_lists_are_paginated(rated_submissions, researcher_api, django_assert_max_num_queries):
    current = Rating.objects.filter(submission__is_current=True).count()
    assert current > 100
    with django_assert_max_num_queries(8):  # one page of ratings: no query per row
        first = researcher_api.get("/api/ratings/").json()
    assert first["count"] == current and len(first["results"]) == 100
    assert first["previous"] is None and first["next"].endswith("/api/ratings/?page=2")
    seen, page = [r["id"] for r in first["results"]], first
    while page["next"]:
        page = researcher_api.get(page["next"]).json()
        assert page["previous"] is not None
        seen += [r["id"] for r in page["results"]]
    assert len(seen) == len(set(seen)) == current  # every rating once, in a stable order
    assert seen == sorted(seen)
    assert researcher_api.get("/api/ratings/?page=99").status_code == 404
    for path in ("/api/studies/", "/api/cases/", "/api/arms/", "/api/responses/", "/api/assignments/",
                 "/api/generation-jobs/", "/api/training-jobs/"):
        body = researcher_api.get(path).json()
        assert set(body) == {"count", "next", "previous", "results"}, path


def test_job_filters(world, researcher_api):
    other = StudyFactory(slug="other-study")
    GenerationJob.objects.create(study=other, arm=world.arm, status=JobStatus.SUCCEEDED)
    assert _results(researcher_api, "/api/generation-jobs/")["count"] == 3
    assert _results(researcher_api, "/api/generation-jobs/?study=rated")["count"] == 2
    failed = _results(researcher_api, "/api/generation-jobs/?study=rated&status=failed")["results"]
    assert [j["id"] for j in failed] == [world.gen_failed.pk]
    assert failed[0]["error"] == "CUDA OOM" and failed[0]["arm_name"] == "Baseline"
    assert _results(researcher_api, f"/api/generation-jobs/?arm={world.arm.pk}")["count"] == 3
    assert researcher_api.get("/api/generation-jobs/?status=exploded").status_code == 400
    TrainingJob.objects.create(study=other, method="general_sft", base_model="demo")
    assert _results(researcher_api, "/api/training-jobs/?study=rated")["count"] == 2
    assert _results(researcher_api, "/api/training-jobs/?method=general_sft")["count"] == 2
    queued = _results(researcher_api, "/api/training-jobs/?study=rated&status=queued")["results"]
    assert [j["id"] for j in queued] == [world.train_queued.pk] and queued[0]["method"] == "behavior_sft"
