"""Data safety under concurrency, on a real database with real threads."""

import threading

import pytest
from django.db import connection

from annotations.models import Assignment, Rating, Submission
from annotations.services.planner import assignments_plan
from annotations.services.rating import assignment_next, assignment_submit
from evalportal.roles import CLINICIAN
from tests.conftest import complete_rating
from tests.factories import UserFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _run_threads(n, target):
    barrier = threading.Barrier(n)
    results, errors = [], []

    def worker(i):
        try:
            barrier.wait()
            results.append(target(i))
        except Exception as exc:  # collected and asserted on below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results, errors


def test_twenty_threads_submitting_one_assignment_store_exactly_one(rated_study, clinician):
    assignments_plan(study=rated_study, raters=[clinician])
    assignment = assignment_next(rater=clinician)

    def submit(i):
        fresh = Assignment.objects.select_related("study").get(pk=assignment.pk)
        data = complete_rating(3, rated_study.rubric, likert=str(1 + i % 5))
        return assignment_submit(assignment=fresh, rater=clinician, data=data).pk

    results, errors = _run_threads(20, submit)
    assert errors == []
    assert Submission.objects.filter(assignment=assignment).count() == 1
    assert set(results) == {Submission.objects.get(assignment=assignment).pk}
    assert Rating.objects.filter(submission__assignment=assignment).count() == 18
    assert len(set(Rating.objects.filter(dimension="realism").values_list("score", flat=True))) == 1


def test_raters_racing_for_the_last_pool_assignment_never_exceed_k(rated_study):
    first = UserFactory(role=CLINICIAN)
    assignments_plan(study=rated_study, raters=[first])
    # One case's assignment goes back to the pool; eight newcomers race for it.
    pooled = Assignment.objects.filter(study=rated_study).first()
    Assignment.objects.filter(pk=pooled.pk).update(rater=None)
    Assignment.objects.filter(study=rated_study).exclude(pk=pooled.pk).delete()
    racers = [UserFactory(role=CLINICIAN) for _ in range(8)]

    results, errors = _run_threads(8, lambda i: assignment_next(rater=racers[i]))
    assert errors == []
    winners = [a for a in results if a is not None]
    assert len(winners) == 1
    assert Assignment.objects.filter(case=pooled.case).count() == 1
    assert Assignment.objects.get(pk=pooled.pk).rater_id == winners[0].rater_id


def test_a_chunk_run_twice_at_once_writes_each_response_once(rated_study):
    """A chunk message redelivered while its first worker still runs (a chunk longer than
    the broker's visibility timeout): both workers write the same responses at once."""
    from annotations.models import GenerationJob, Response
    from annotations.services.responses import responses_write

    arm = rated_study.study_arms.first().arm
    job = GenerationJob.objects.create(study=rated_study, arm=arm)
    rows = [{"case_id": case.pk, "arm_id": arm.pk, "job_id": job.pk, "text": f"answer {case.pk}"}
            for case in rated_study.cases.all()]

    _, errors = _run_threads(8, lambda i: responses_write(rows=rows))
    assert errors == []
    assert Response.objects.filter(job=job).count() == len(rows)
