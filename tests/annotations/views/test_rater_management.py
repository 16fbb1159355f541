"""Setting a rater aside: their open work goes back to the pool for others, their
submitted work stays, and they get nothing new until reinstated; the team sees each
rater's pace and time on task."""

import pytest

from annotations.models import Assignment, AuditEvent, Submission
from annotations.services.planner import assignments_plan
from annotations.services.rating import assignment_next, assignment_submit
from evalportal.roles import CLINICIAN
from tests.conftest import complete_rating
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def team(rated_study):
    raters = [UserFactory(username=f"team{i}", role=CLINICIAN) for i in range(3)]
    assignments_plan(study=rated_study, raters=raters)  # 6 cases x k=2 over 3 raters: 4 each
    first = Assignment.objects.filter(rater=raters[0]).order_by("queue_position").first()
    Assignment.objects.filter(pk=first.pk).update(active_seconds=0)
    assignment_submit(assignment=first, rater=raters[0], data=complete_rating(3, rated_study.rubric))
    Assignment.objects.filter(pk=first.pk).update(active_seconds=240)
    return rated_study, raters


@pytest.mark.parametrize("action", ["pause", "remove"])
def test_setting_a_rater_aside_returns_open_work_and_keeps_submissions(team, researcher_client, action):
    study, (gone, *others) = team
    page = researcher_client.post(f"/studies/{study.slug}/raters/{gone.pk}/{action}/", follow=True)
    assert "3 open assignments went back to the pool" in page.content.decode()
    assert Assignment.objects.filter(rater=gone).count() == 1  # the submitted one
    assert Submission.objects.filter(assignment__rater=gone).count() == 1
    assert Assignment.objects.filter(study=study, rater__isnull=True).count() == 3

    assert assignment_next(rater=gone) is None  # nothing new for them
    page = researcher_client.post(f"/studies/{study.slug}/plan/")
    assert not Assignment.objects.filter(rater=gone).exclude(status="submitted").exists()
    assert AuditEvent.objects.filter(action="rater.status").count() == 1


def test_pooled_work_goes_to_another_rater_who_lacks_the_case(team, researcher_client):
    study, (gone, *others) = team
    researcher_client.post(f"/studies/{study.slug}/raters/{gone.pk}/pause/")
    newcomer = UserFactory(username="newcomer", role=CLINICIAN)
    claimed = assignment_next(rater=newcomer)
    assert claimed is not None and claimed.rater == newcomer


def test_a_removed_rater_cannot_open_their_old_link(team, researcher_client):
    study, (gone, *_) = team
    open_one = Assignment.objects.filter(rater=gone).exclude(status="submitted").first()
    researcher_client.post(f"/studies/{study.slug}/raters/{gone.pk}/remove/")
    from django.test import Client

    client = Client()
    client.force_login(gone)
    assert client.get(f"/rate/{open_one.pk}/").status_code == 404


def test_a_reinstated_rater_gets_work_again(team, researcher_client):
    study, (gone, *_) = team
    researcher_client.post(f"/studies/{study.slug}/raters/{gone.pk}/pause/")
    researcher_client.post(f"/studies/{study.slug}/raters/{gone.pk}/reinstate/")
    assert assignment_next(rater=gone) is not None


def test_the_raters_page_shows_pace_and_time_on_task(team, researcher_client):
    study, (first, *_) = team
    rows = {r["user"].username: r for r in researcher_client.get(f"/studies/{study.slug}/raters/").context["raters"]}
    row = rows[first.username]
    assert (row["assigned"], row["submitted"], row["open"]) == (4, 1, 3)
    assert row["active_minutes"] == 4.0 and row["median_minutes"] == 4.0 and row["cases_per_hour"] == 15.0
    assert row["recent"] == 1 and row["last_submitted"] is not None
    assert rows["team1"]["median_minutes"] is None


def test_an_unknown_rater_or_action_changes_nothing(team, researcher_client, researcher):
    study, (first, *_) = team
    assert researcher_client.post(f"/studies/{study.slug}/raters/{first.pk}/delete/").status_code == 404
    assert researcher_client.post(f"/studies/{study.slug}/raters/{researcher.pk}/pause/").status_code == 404
    assert researcher_client.post(f"/studies/{study.slug}/raters/99999999/pause/").status_code == 404
    assert not AuditEvent.objects.filter(action="rater.status").exists()
