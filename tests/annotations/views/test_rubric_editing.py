"""The rubric is edited on the study's settings page: as JSON, checked as the admin checks
it, previewed as raters will see it, and fixed once raters have answered with it."""

import json

import pytest

from annotations.models import Assignment, AuditEvent, Study
from annotations.rubric import default_rubric
from annotations.services.planner import assignments_plan
from annotations.services.rating import assignment_save_draft, assignment_submit
from evalportal.roles import CLINICIAN
from tests.conftest import complete_rating
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

TWO_DIMENSIONS = [
    {"key": "clarity", "label": "Clarity", "scale": "likert", "min": 1, "max": 4, "required": True,
     "question": "Is it clear what to do next?", "anchors": {"1": "Unclear", "4": "Plain"}},
    {"key": "timing", "label": "Timing", "scale": "categorical", "required": True,
     "question": "Was it said at the right moment?", "choices": [["early", "Too early"], ["right", "Right"]]},
]


def _settings(study, **overrides):
    data = {"name": study.name, "slug": study.slug, "instructions": study.instructions,
            "consent_text": study.consent_text, "raters_per_item": str(study.raters_per_item),
            "seed": str(study.seed), "assignment_timeout_minutes": str(study.assignment_timeout_minutes),
            "gold_rate": str(study.gold_rate)}
    data.update(overrides)
    return data


def test_the_settings_page_shows_the_rubric_as_json_and_saves_a_new_one(study, researcher_client):
    url = f"/studies/{study.slug}/settings/"
    page = researcher_client.get(url).content.decode()
    assert 'name="rubric"' in page and "&quot;key&quot;: &quot;realism&quot;" in page
    response = researcher_client.post(url, _settings(study, rubric=json.dumps(TWO_DIMENSIONS)))
    assert response.status_code == 302
    study.refresh_from_db()
    assert study.rubric == TWO_DIMENSIONS
    event = AuditEvent.objects.get(action="study.update")
    assert event.before["rubric"] == default_rubric() and event.after["rubric"] == TWO_DIMENSIONS


def test_a_new_study_starts_with_the_rubric_it_was_given(researcher_client):
    data = {"name": "Sepsis", "slug": "sepsis", "instructions": "", "consent_text": "", "raters_per_item": "2",
            "seed": "1", "assignment_timeout_minutes": "60", "gold_rate": "0", "rubric": json.dumps(TWO_DIMENSIONS)}
    assert researcher_client.post("/studies/new/", data).status_code == 302
    assert Study.objects.get(slug="sepsis").rubric == TWO_DIMENSIONS


@pytest.mark.parametrize(("text", "problem"), [
    ("[{\"key\": \"a\"", "Enter valid JSON"),
    ("[]", "the rubric must be a non-empty list of dimensions"),
    (json.dumps([{"key": "bad key", "label": "X", "scale": "likert", "min": 1, "max": 5}]),
     "dimension 1: &#x27;key&#x27; must be an identifier"),
    (json.dumps([{"key": "a", "label": "A", "scale": "stars"}]), "&#x27;scale&#x27; must be one of"),
])
def test_a_bad_rubric_is_refused_with_its_problems_and_the_text_kept(study, researcher_client, text, problem):
    before = study.rubric
    response = researcher_client.post(f"/studies/{study.slug}/settings/", _settings(study, rubric=text,
                                                                                     name="Renamed"))
    assert response.status_code == 400
    body = response.content.decode()
    assert problem in body
    assert response.context["form"]["rubric"].value() == text  # shown back exactly as typed
    study.refresh_from_db()
    assert study.rubric == before and study.name != "Renamed"


def test_the_preview_shows_the_dimensions_as_the_rating_form_does(researcher_client):
    response = researcher_client.post("/studies/new/rubric-preview/", {"rubric": json.dumps(TWO_DIMENSIONS)})
    body = response.content.decode()
    assert response.status_code == 200
    assert '<legend>Clarity</legend><p class="question">Is it clear what to do next?</p>' in body
    assert body.count('name="r0_clarity"') == 4 and 'data-anchor="Plain"' in body
    assert 'name="r0_timing" value="early"' in body and "Too early" in body
    assert "base.html" not in [t.name for t in response.templates]  # a fragment for htmx, not a page


def test_the_preview_lists_what_is_wrong(researcher_client):
    bad = [{"key": "a", "label": "A", "scale": "likert", "min": 5, "max": 1}, {"key": "a", "scale": "flag"}]
    body = researcher_client.post("/studies/new/rubric-preview/", {"rubric": json.dumps(bad)}).content.decode()
    assert "2 problems" in body
    assert "dimension 1: likert needs integer min &lt; max" in body
    assert "dimension 2: duplicate key &#x27;a&#x27;" in body
    assert "not valid JSON" not in body
    empty = researcher_client.post("/studies/new/rubric-preview/", {"rubric": ""}).content.decode()
    assert "This field is required." in empty


def test_clinicians_cannot_preview(clinician_client):
    assert clinician_client.post("/studies/new/rubric-preview/", {"rubric": "[]"}).status_code == 403


@pytest.fixture
def planned(rated_study):
    rater = UserFactory(username="rater0", role=CLINICIAN)
    assignments_plan(study=rated_study, raters=[rater])
    return rated_study, rater


def test_once_a_rating_is_submitted_the_rubric_is_fixed_and_other_settings_still_change(planned, researcher_client):
    study, rater = planned
    assignment = Assignment.objects.filter(study=study).first()
    assignment_submit(assignment=assignment, rater=rater, data=complete_rating(3, study.rubric))
    url = f"/studies/{study.slug}/settings/"
    page = researcher_client.get(url)
    assert page.context["form"].fields["rubric"].disabled
    assert "1 submitted case" in page.content.decode() and "mix two instruments" in page.content.decode()
    # The disabled field is not sent by a browser; any text posted for it is ignored.
    researcher_client.post(url, _settings(study, rubric=json.dumps(TWO_DIMENSIONS), instructions="Now with notes"))
    study.refresh_from_db()
    assert study.rubric == default_rubric() and study.instructions == "Now with notes"


def test_the_service_refuses_a_rubric_change_once_a_draft_is_saved(planned, researcher):
    from annotations.errors import StateConflict
    from annotations.services.studies import study_save

    study, rater = planned
    assignment = Assignment.objects.filter(study=study).first()
    assert assignment_save_draft(assignment=assignment, data={"r0_realism": "4"})
    with pytest.raises(StateConflict, match="1 saved draft"):
        study_save(study=study, values={"name": "Kept?"}, rubric=TWO_DIMENSIONS, actor=researcher)
    study.refresh_from_db()
    assert study.rubric == default_rubric() and study.name != "Kept?"
    # The same rubric again is no change, and the rest is saved.
    study_save(study=study, values={"name": "Kept"}, rubric=default_rubric(), actor=researcher)
    study.refresh_from_db()
    assert study.name == "Kept"


def test_a_rubric_change_refused_by_the_service_keeps_the_form_as_typed(planned, researcher_client, monkeypatch):
    """Ratings that arrive between opening the page and saving it: the page answers 409
    with the reason, the form as it was typed, and nothing saved."""
    from annotations import forms

    study, rater = planned
    monkeypatch.setattr(forms, "rubric_fixed_reason", lambda study: None)  # the page was opened before
    assignment = Assignment.objects.filter(study=study).first()
    assignment_submit(assignment=assignment, rater=rater, data=complete_rating(3, study.rubric))
    typed = json.dumps(TWO_DIMENSIONS, indent=1)
    response = researcher_client.post(f"/studies/{study.slug}/settings/",
                                      _settings(study, rubric=typed, instructions="Typed notes"))
    assert response.status_code == 409
    assert "The rubric was not changed" in response.content.decode()
    assert response.context["form"]["rubric"].value() == typed
    assert response.context["form"]["instructions"].value() == "Typed notes"
    study.refresh_from_db()
    assert study.rubric == default_rubric() and study.instructions != "Typed notes"


def test_an_empty_rubric_field_leaves_the_rubric(study, researcher_client):
    study.rubric = TWO_DIMENSIONS
    study.save()
    researcher_client.post(f"/studies/{study.slug}/settings/", _settings(study, rubric="", instructions="x"))
    study.refresh_from_db()
    assert study.rubric == TWO_DIMENSIONS and study.instructions == "x"


def test_the_django_admin_shows_a_rubric_raters_have_answered_as_read_only(rated_submissions, admin_client_):
    url = f"/admin/annotations/study/{rated_submissions.pk}/change/"
    page = admin_client_.get(url).content.decode()
    assert 'name="rubric"' not in page and "realism" in page
    fresh = Study.objects.create(name="Fresh", slug="fresh")
    assert 'name="rubric"' in admin_client_.get(f"/admin/annotations/study/{fresh.pk}/change/").content.decode()
