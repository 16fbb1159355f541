"""Aggregation: the stored dashboard result, debounced queueing, and Redis outages."""

import pytest
from django.utils import timezone

from annotations.models import Rating, StudyAnalysis
from annotations.services import aggregation
from annotations.services.aggregation import aggregation_request, aggregation_resume_pending, study_aggregate
from tests.annotations.worker_helpers import flush_test_broker

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _broker():
    flush_test_broker()
    aggregation._broker_down_until = 0.0
    yield
    flush_test_broker()
    aggregation._broker_down_until = 0.0


def _queued_messages() -> int:
    import redis

    from tests.annotations.worker_helpers import TEST_REDIS_URL

    client = redis.Redis.from_url(TEST_REDIS_URL)
    return client.llen("default") + client.hlen("unacked")


def test_study_aggregate_stores_statistics_matching_the_database(rated_submissions):
    analysis = study_aggregate(study=rated_submissions, n_boot=200)
    result = analysis.result
    assert analysis.computed_at and analysis.n_ratings == 12 * 3 * 4  # 12 assignments x 3 responses x 4 Likert
    assert result["meta"]["arms"] == ["Baseline", "GeneralSFT", "BehaviorSFT"]
    overall = {(r["arm"], r["dimension"]): r for r in result["descriptives"]["records"] if r["scope"] == "overall"}
    assert overall[("BehaviorSFT", "realism")]["mean"] == 5.0 and overall[("Baseline", "realism")]["mean"] == 2.0
    db_mean = sum(Rating.objects.filter(dimension="safety").values_list("score", flat=True)) / 36
    assert overall[("GeneralSFT", "safety")]["mean"] == pytest.approx(db_mean)
    wins = {(p["arm_a"], p["arm_b"]): p for p in result["preferences"]["pairs"]}
    pair = wins.get(("Baseline", "BehaviorSFT")) or wins[("BehaviorSFT", "Baseline")]
    assert pair["ties"] == 0 and pair["n"] == 12
    assert result["automatic"]["BehaviorSFT"]["length"]["n"] == 6
    assert result["progress"]["submitted"] == 12


def test_requests_are_debounced_into_one_queued_task(rated_study):
    assert aggregation_request(study_id=rated_study.pk) is True
    first = StudyAnalysis.objects.get(study=rated_study).queued_at
    assert aggregation_request(study_id=rated_study.pk) is True
    analysis = StudyAnalysis.objects.get(study=rated_study)
    assert analysis.queued_at == first and analysis.requested_at > first
    assert _queued_messages() == 1


def test_redis_down_submissions_still_save_and_aggregation_is_queued_later(rated_study, clinician, monkeypatch):
    from annotations.models import Submission
    from annotations.services.planner import assignments_plan
    from annotations.services.rating import assignment_next, assignment_submit
    from evalportal.celery import app
    from tests.conftest import complete_rating

    assignments_plan(study=rated_study, raters=[clinician])
    original = app.conf.broker_url
    app.conf.broker_url = "redis://127.0.0.1:1/0"
    try:
        assignment = assignment_next(rater=clinician)
        started = timezone.now()
        with django_capture_on_commit():
            assignment_submit(assignment=assignment, rater=clinician, data=complete_rating(3, rated_study.rubric))
        assert (timezone.now() - started).total_seconds() < 5
        assert Submission.objects.count() == 1
        analysis = StudyAnalysis.objects.get(study=rated_study)
        assert analysis.requested_at and analysis.queued_at is None
    finally:
        app.conf.broker_url = original
    aggregation._broker_down_until = 0.0
    aggregation_resume_pending(study=rated_study)  # what a dashboard visit does once Redis is back
    assert StudyAnalysis.objects.get(study=rated_study).queued_at is not None
    assert _queued_messages() == 1


def django_capture_on_commit():
    """Run on_commit callbacks at the end of the block (the test runs inside a transaction)."""
    from contextlib import contextmanager

    from django.db import connection

    @contextmanager
    def runner():
        start = len(connection.run_on_commit)
        yield
        callbacks = connection.run_on_commit[start:]
        connection.run_on_commit[start:] = []
        for _, callback, _ in callbacks:
            callback()

    return runner()


def test_a_study_without_ratings_yet_recomputes_to_empty_statistics(rated_study):
    # A freshly loaded study (the demo on a first `make run`): responses, no ratings.
    analysis = study_aggregate(study=rated_study, n_boot=50)
    assert analysis.n_ratings == 0 and analysis.error == ""
    assert all(r["n"] == 0 for r in analysis.result["descriptives"]["records"])
    assert analysis.result["progress"]["submitted"] == 0
