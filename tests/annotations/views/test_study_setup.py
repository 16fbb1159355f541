"""The study page tells a research team what the study still needs, each step with the page
that does it; its destructive buttons ask first; its counts read as English."""

import re

import pytest

from annotations.models import Assignment, Case, Response
from annotations.selectors.setup import study_setup
from annotations.services.planner import assignments_plan
from evalportal.roles import ADMIN, CLINICIAN
from tests.factories import CaseFactory, ResponseFactory, StudyArmFactory, StudyFactory, UserFactory

pytestmark = pytest.mark.django_db


def _steps(study) -> dict:
    return {step.key: step for step in study_setup(study)["steps"]}


def test_a_new_study_has_everything_left_to_do(researcher_client):
    study = StudyFactory(slug="fresh", status="draft", instructions="", consent_text="", gold_rate=0)
    steps = _steps(study)
    assert [key for key, step in steps.items() if step.done] == []
    assert steps["cases"].detail == "0 cases (0 test)." and steps["arms"].detail == "No arm is compared yet."
    assert steps["arms"].url == f"/studies/{study.slug}/settings/"
    assert steps["raters"].detail == f"0 clinicians can rate here ({study.raters_per_item} needed per case)."
    assert {key for key, step in steps.items() if step.optional} == {"consent", "practice", "gold"}
    body = researcher_client.get(f"/studies/{study.slug}/").content.decode()
    assert "Setting up: 7 steps left" in body
    assert "An admin does this in the Django admin." in body  # a researcher cannot import cases


def test_each_arm_names_the_cases_of_the_sample_it_has_not_answered(rated_study):
    assignments_plan(study=rated_study, raters=[])  # draws the sample: all 6 test cases
    Response.objects.filter(arm__name="GeneralSFT", case__external_id__in=["rc-0", "rc-1"]).delete()
    arms = _steps(rated_study)["arms"]
    assert not arms.done
    assert arms.detail == "3 arms: GeneralSFT lacks 2 cases (a case is planned once every arm answered it)."
    assert arms.url == f"/studies/{rated_study.slug}/jobs/"
    Response.objects.filter(arm__name="Baseline", case__external_id="rc-3").delete()
    assert "3 arms: Baseline lacks 1 case; GeneralSFT lacks 2 cases (" in _steps(rated_study)["arms"].detail  # arm order


def test_a_study_ready_to_rate_has_its_steps_done(rated_study):
    raters = [UserFactory(username=f"r{i}", role=CLINICIAN) for i in range(2)]
    assignments_plan(study=rated_study, raters=raters)
    rated_study.instructions = "Read every turn."
    rated_study.gold_rate = 0.2
    rated_study.save()
    CaseFactory(study=rated_study, external_id="gold-1", role=Case.Role.GOLD)
    steps = _steps(rated_study)
    assert {key for key, step in steps.items() if not step.done} == {"consent", "practice"}
    assert steps["arms"].detail == "3 arms, each with a response to all 6 cases."
    assert steps["raters"].detail == "2 clinicians can rate here (2 needed per case)."
    assert steps["gold"].detail.startswith("1 gold case, mixed blind") and "rate of 0.2" in steps["gold"].detail
    assert steps["assignments"].detail == "12 assignments, 12 not opened yet."


def test_gold_cases_without_a_gold_rate_are_not_done(rated_study):
    CaseFactory(study=rated_study, external_id="gold-1", role=Case.Role.GOLD)
    rated_study.gold_rate = 0
    rated_study.save()
    gold = _steps(rated_study)["gold"]
    assert not gold.done and "none is mixed in until the rate is above 0" in gold.detail


def test_the_gold_rate_is_set_in_settings_not_the_admin(rated_study, researcher_client):
    body = researcher_client.get(f"/studies/{rated_study.slug}/").content.decode()
    assert "set in the admin" not in body
    assert f'set in <a href="/studies/{rated_study.slug}/settings/">Settings</a>' in body


def test_an_admin_gets_the_import_link(rated_study):
    from django.test import Client

    client = Client()
    client.force_login(UserFactory(role=ADMIN))
    body = client.get(f"/studies/{rated_study.slug}/").content.decode()
    assert '<a href="/admin/annotations/case/import/">Import cases</a>' in body


def _form_with(body: str, marker: str) -> str:
    match = re.search(r"<form[^>]*" + re.escape(marker) + r"[^>]*>", body)
    assert match, marker
    return match.group(0)


def test_replanning_and_closing_ask_first_with_what_they_do(rated_study, researcher_client):
    raters = [UserFactory(username=f"r{i}", role=CLINICIAN) for i in range(2)]
    assignments_plan(study=rated_study, raters=raters)
    Assignment.objects.filter(pk=Assignment.objects.filter(study=rated_study).first().pk).update(
        status=Assignment.Status.IN_PROGRESS)
    body = researcher_client.get(f"/studies/{rated_study.slug}/").content.decode()
    assert 'data-confirm="Re-planning removes the 11 unopened assignments and plans them again."' in \
        _form_with(body, 'id="plan-form"')
    assert 'data-confirm="Close the study? Raters can no longer rate; reason: {reason}"' in \
        _form_with(body, 'id="close-study-form"')
    assert "data-confirm" in _form_with(body, 'id="sample-form"')


def test_a_first_plan_has_nothing_to_confirm(rated_study, researcher_client):
    body = researcher_client.get(f"/studies/{rated_study.slug}/").content.decode()
    assert "data-confirm" not in _form_with(body, 'id="plan-form"')


def test_pausing_and_removing_a_rater_ask_first(rated_study, researcher_client):
    rater = UserFactory(username="dr-ames", role=CLINICIAN)
    assignments_plan(study=rated_study, raters=[rater])
    body = researcher_client.get(f"/studies/{rated_study.slug}/raters/").content.decode()
    assert 'data-confirm="Pause dr-ames? Their 6 open cases in this study go back to the pool until you reinstate ' \
           'them; their ratings stay."' in body
    assert 'data-confirm="Remove dr-ames from this study? Their 6 open cases go back to the pool; their ratings ' \
           'stay."' in body


def test_counts_of_one_are_singular(researcher_client):
    study = StudyFactory(slug="single", raters_per_item=1)
    arm = StudyArmFactory(study=study).arm
    case = CaseFactory(study=study, external_id="only")
    ResponseFactory(case=case, arm=arm, text="Check the potassium.")
    rater = UserFactory(username="solo", role=CLINICIAN)
    assignments_plan(study=study, raters=[rater])
    body = researcher_client.get(f"/studies/{study.slug}/").content.decode()
    assert "0 of 1 rating submitted (1 case of the rating sample × 1 rater)" in body
    assert "all 1 test case (Jobs" in body and "<strong>1</strong> case" in body
    assert "up to 1 rater among" in body
    assert not re.search(r"\b1 (cases|raters|ratings|assignments|responses)\b", body)


def test_the_progress_bar_is_named_and_the_navigation_landmarks_are_distinct(rated_study, researcher_client):
    body = researcher_client.get(f"/studies/{rated_study.slug}/").content.decode()
    bar = re.search(r'<div class="progress" role="progressbar"[^>]*>', body).group(0)
    assert 'aria-labelledby="progress-text"' in bar and 'id="progress-text"' in body
    assert '<nav class="subnav" aria-label="Study pages">' in body
