"""A clinician's rating flow, state by state, through the real views."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from annotations.models import Assignment, AuditEvent, Preference, Rating, Submission
from annotations.services.planner import assignments_plan
from evalportal.roles import CLINICIAN
from tests.conftest import complete_rating
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


@pytest.fixture
def planned(rated_study, clinician):
    other = UserFactory(username="other", role=CLINICIAN)
    assignments_plan(study=rated_study, raters=[clinician, other])
    return rated_study


def _opened_seconds_ago(assignment: Assignment, seconds: float) -> None:
    """As if the rater had opened the case ``seconds`` ago (the server bounds the active
    time a post may add by the time that passed)."""
    Assignment.objects.filter(pk=assignment.pk).update(shown_at=timezone.now() - timedelta(seconds=seconds),
                                                       last_activity_at=timezone.now() - timedelta(seconds=seconds))


def _start(client) -> tuple[Assignment, str]:
    response = client.get("/rate/next/")
    assert response.status_code == 302
    url = response["Location"]
    assignment = Assignment.objects.get(pk=int(url.strip("/").split("/")[-1]))
    return assignment, url


def test_start_page_counts_cases_left(planned, clinician_client):
    html = clinician_client.get("/rate/").content.decode()
    assert "You have <strong>6</strong> cases left" in html and ">Start<" in html


def test_opening_a_case_shows_it_once_and_starts_the_clock(planned, clinician_client):
    assignment, url = _start(clinician_client)
    html = clinician_client.get(url).content.decode()
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.IN_PROGRESS and assignment.shown_at is not None
    assert html.count("Plan: start the heparin infusion at 18:00.") == 1
    for letter in "ABC":
        assert f"Response {letter}</h2>" in html
    assert "Case 1 of 6" in html
    assert ">Continue<" in clinician_client.get("/rate/").content.decode()


def test_reopening_a_case_keeps_the_rater_active_without_a_write_per_reload(planned, clinician_client):
    from datetime import timedelta

    from annotations.services.rating import ACTIVITY_TOUCH_INTERVAL_S

    assignment, url = _start(clinician_client)
    clinician_client.get(url)
    assignment.refresh_from_db()
    first_seen = assignment.last_activity_at

    clinician_client.get(url)  # a reload seconds later
    assignment.refresh_from_db()
    assert assignment.last_activity_at == first_seen

    earlier = first_seen - timedelta(seconds=ACTIVITY_TOUCH_INTERVAL_S + 1)
    Assignment.objects.filter(pk=assignment.pk).update(last_activity_at=earlier)
    clinician_client.get(url)  # back after a while: the idle clock restarts
    assignment.refresh_from_db()
    assert assignment.last_activity_at > first_seen and assignment.shown_at < assignment.last_activity_at


def test_draft_is_saved_and_restored_on_reload(planned, clinician_client):
    assignment, url = _start(clinician_client)
    clinician_client.get(url)
    _opened_seconds_ago(assignment, 60)
    response = clinician_client.post(f"{url}draft/", {"r0_realism": "2", "r1_intervention": "over",
                                                      "comment": "half way", "active_seconds": "12",
                                                      "smuggled": "x"})
    assert response.status_code == 200 and response.json() == {"saved": True}
    assignment.refresh_from_db()
    assert assignment.draft == {"r0_realism": "2", "r1_intervention": "over", "comment": "half way"}
    assert assignment.first_input_at is not None and assignment.active_seconds == 12

    html = clinician_client.get(url).content.decode()
    assert 'name="r0_realism" value="2" data-anchor="Implausible in places" checked' in html
    assert 'name="r1_intervention" value="over" checked' in html
    assert "half way</textarea>" in html


def test_active_seconds_are_bounded_by_the_servers_clock(planned, clinician_client):
    """A client can claim no more active time than passed since the case was shown or
    last saved, however much it sends, and a claim within that is kept whole."""
    assignment, url = _start(clinician_client)
    clinician_client.get(url)
    _opened_seconds_ago(assignment, 100)
    clinician_client.post(f"{url}draft/", {"r0_realism": "2", "active_seconds": "99999"})
    assignment.refresh_from_db()
    assert 100 <= assignment.active_seconds < 110
    clinician_client.post(f"{url}draft/", {"r0_realism": "3", "active_seconds": "nan"})
    clinician_client.post(f"{url}draft/", {"r0_realism": "4", "active_seconds": "3"})  # 3 s did not pass yet
    assignment.refresh_from_db()
    assert 100 <= assignment.active_seconds < 110
    Assignment.objects.filter(pk=assignment.pk).update(last_activity_at=timezone.now() - timedelta(seconds=900))
    clinician_client.post(f"{url}draft/", {"r0_realism": "4", "active_seconds": "700"})  # offline for a while
    assignment.refresh_from_db()
    assert 800 <= assignment.active_seconds < 810


def test_incomplete_submit_is_refused_with_what_is_missing(planned, clinician_client, rated_study):
    assignment, url = _start(clinician_client)
    data = complete_rating(3, rated_study.rubric)
    del data["r1_safety"], data["rank_2"]
    data["r2_harmful"] = "1"  # flagged without a reason
    response = clinician_client.post(f"{url}submit/", data)
    html = response.content.decode()
    assert response.status_code == 400
    assert "Not submitted yet: 3 answers missing." in html
    assert "Response B: rate Safety (1-5)." in html
    assert "Response C: give a rank from 1 (best) to 3." in html
    assert "Response C: say why it is potentially harmful." in html
    assert not Submission.objects.exists()
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.IN_PROGRESS
    assert assignment.draft["r0_realism"] == "4"  # what was entered is kept


def test_submit_stores_long_format_ratings_and_moves_on(planned, clinician_client, clinician, rated_study):
    assignment, url = _start(clinician_client)
    data = complete_rating(3, rated_study.rubric, likert="5")
    data.update({"r1_harmful": "1", "r1_harmful_reason": "Wrong dose.", "rank_0": "2", "rank_1": "2",
                 "rank_2": "1", "active_seconds": "40"})
    clinician_client.get(url)
    _opened_seconds_ago(assignment, 60)
    response = clinician_client.post(f"{url}submit/", data)
    assert response.status_code == 302 and response["Location"] == "/rate/next/"

    submission = Submission.objects.get()
    assert submission.assignment == assignment and submission.revision == 1 and submission.is_current
    assert submission.comment == "Clear case."
    ratings = Rating.objects.filter(submission=submission)
    assert ratings.count() == 3 * 6  # 3 responses x (4 likert + intervention + harmful)
    harmful = ratings.get(slot=1, dimension="harmful")
    assert (harmful.choice, harmful.note) == ("yes", "Wrong dose.")
    assert harmful.response_id == assignment.slots[1]
    assert ratings.get(slot=0, dimension="realism").score == 5.0
    assert ratings.get(slot=0, dimension="intervention").choice == "appropriate"
    assert sorted(Preference.objects.values_list("slot", "rank")) == [(0, 2), (1, 2), (2, 1)]
    assignment.refresh_from_db()
    assert assignment.status == Assignment.Status.SUBMITTED and assignment.draft == {}
    assert assignment.active_seconds == 40 and assignment.submitted_at is not None
    assert AuditEvent.objects.filter(action="assignment.submit", object_id=str(assignment.pk)).exists()

    next_assignment, _ = _start(clinician_client)
    assert next_assignment.pk != assignment.pk and next_assignment.rater == clinician


def test_double_submit_saves_one_submission_and_never_changes_it(planned, clinician_client, rated_study):
    assignment, url = _start(clinician_client)
    data = complete_rating(3, rated_study.rubric, likert="3")
    first = clinician_client.post(f"{url}submit/", data)
    data_changed = complete_rating(3, rated_study.rubric, likert="1")
    second = clinician_client.post(f"{url}submit/", data_changed)
    assert first.status_code == second.status_code == 302
    assert Submission.objects.count() == 1
    assert set(Rating.objects.filter(dimension="realism").values_list("score", flat=True)) == {3.0}
    # a draft posted after submission changes nothing either
    assert clinician_client.post(f"{url}draft/", {"r0_realism": "1"}).status_code == 409
    # and the submitted case opens read-only, as submitted
    assert clinician_client.get(url)["Location"] == f"{url}submitted/"


def test_another_raters_assignment_is_a_404(planned, clinician_client):
    theirs = Assignment.objects.exclude(rater__username="clin").first()
    for method, suffix in (("get", ""), ("post", "draft/"), ("post", "submit/")):
        response = getattr(clinician_client, method)(f"/rate/{theirs.pk}/{suffix}", {})
        assert response.status_code == 404, suffix
    assert Assignment.objects.get(pk=theirs.pk).draft == {}


def test_done_page_after_the_last_case(planned, clinician_client, rated_study):
    for _ in range(6):
        _, url = _start(clinician_client)
        clinician_client.post(f"{url}submit/", complete_rating(3, rated_study.rubric))
    response = clinician_client.get("/rate/next/")
    assert response["Location"] == "/rate/done/"
    html = clinician_client.get("/rate/done/").content.decode()
    assert "All done" in html and f"<strong>{rated_study.name}</strong>: 6 of 6 cases done" in html
    assert "no cases waiting: all 6 done" in clinician_client.get("/rate/").content.decode()


def test_idle_assignment_returns_to_the_pool_and_another_rater_takes_it(planned, clinician_client, rated_study):
    from datetime import timedelta

    from django.core.cache import cache
    from django.utils import timezone

    from annotations.services.rating import RELEASE_IDLE_CACHE_KEY

    assignment, url = _start(clinician_client)
    clinician_client.post(f"{url}draft/", {"r0_realism": "2"})
    Assignment.objects.filter(pk=assignment.pk).update(
        last_activity_at=timezone.now() - timedelta(minutes=rated_study.assignment_timeout_minutes + 1))
    newcomer = UserFactory(username="newcomer", role=CLINICIAN)
    client = Client()
    client.force_login(newcomer)
    cache.delete(RELEASE_IDLE_CACHE_KEY)  # the sweep runs at most every 30 s; the next one is due

    taken, _ = _start(client)

    assert taken.pk == assignment.pk and taken.rater == newcomer and taken.draft == {}
    assert Assignment.objects.filter(case=assignment.case).count() == rated_study.raters_per_item
    assert clinician_client.get(url).status_code == 404


def test_researcher_sees_progress_and_can_plan(rated_study, researcher_client, clinician):
    response = researcher_client.post(f"/studies/{rated_study.slug}/plan/", follow=True)
    html = response.content.decode()
    assert "Planned 6 assignments over 6 cases for 1 raters" in html
    assert "0 of 12 ratings submitted" in html
    assert "<td>clin</td><td>6</td><td>0</td>" in html


def test_a_refused_submit_marks_exactly_the_missing_answers(planned, clinician_client, rated_study):
    _, url = _start(clinician_client)
    data = complete_rating(3, rated_study.rubric)
    del data["r1_safety"]
    data["r2_harmful"] = "1"  # flagged without a reason
    html = clinician_client.post(f"{url}submit/", data).content.decode()
    assert re.findall(r'class="[a-z ]*\binvalid" id="f-(\w+)"', html) == ["r1_safety", "r2_harmful_reason"]
    assert re.search(r'name="r2_harmful" value="1" class="flag-box" checked', html)
    assert 'name="r0_realism" value="4" data-anchor="Like a competent colleague" checked' in html


def test_an_edited_case_shows_its_new_text_at_once(planned, clinician_client):
    """An admin's correction of a case is what the next showing of the page shows: nothing
    serves the old text from a cache."""
    assignment, url = _start(clinician_client)
    assert "Plan: start the heparin infusion at 18:00." in clinician_client.get(url).content.decode()
    case = assignment.case
    case.turns = [{**turn, "text": turn["text"].replace("18:00", "19:30")} for turn in case.turns]
    case.save()
    html = clinician_client.get(url).content.decode()
    assert "Plan: start the heparin infusion at 19:30." in html
    assert "Plan: start the heparin infusion at 18:00." not in html


@pytest.mark.parametrize("assignment_id", ["0", "9223372036854775808", "99999999999999999999999"])
def test_an_assignment_id_out_of_range_is_a_404_not_an_error(planned, clinician_client, assignment_id):
    assert clinician_client.get(f"/rate/{assignment_id}/").status_code == 404


def test_the_case_shows_its_tables_and_images_and_the_progress_bar(planned, clinician_client):
    assignment, url = _start(clinician_client)
    case = assignment.case
    case.turns = [{**case.turns[0], "tables": [{"title": "Platelets <10^9/L>", "columns": ["Day", "Count"],
                                                 "rows": [["1", 250], ["3", None]]}]}, *case.turns[1:]]
    case.images = [{"modality": "CT", "description": "No bleed."}]
    case.save()
    html = clinician_client.get(url).content.decode()
    assert "<figcaption>Platelets &lt;10^9/L&gt;</figcaption>" in html
    assert '<th scope="col">Day</th><th scope="col">Count</th>' in html
    assert "<tr><td>1</td><td>250</td></tr><tr><td>3</td><td></td></tr>" in html  # a missing value is blank
    assert '<figcaption>Image <span class="muted">(CT)</span></figcaption>' in html and "No bleed." in html
    assert 'aria-valuenow="1"' in html and 'data-width="17"' in html  # case 1 of 6
