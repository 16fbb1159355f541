"""The API shows and allows what the pages do: a clinician reads through the API the cases
the rating page would show them, no more (not a draft study's, not a closed one's, not
after being removed, not before onboarding); and a study's arms, fixed on its settings
page once it is open, are fixed through the API and the Django admin too."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone

from annotations.errors import InvalidRequest, StateConflict
from annotations.models import Assignment, Case, ModelArm, Study, StudyArm, StudyRater
from annotations.services.planner import assignments_plan
from annotations.services.raters import study_rater_set_status
from annotations.services.rating import assignment_submit
from annotations.services.studies import study_save
from evalportal.roles import CLINICIAN
from tests.conftest import complete_rating
from tests.factories import CaseFactory, ModelArmFactory, ResponseFactory, StudyFactory, UserFactory

pytestmark = pytest.mark.django_db

CASE_TEXT = "Plan: start the heparin infusion at 18:00."  # the factory's first turn


def _own(study, rater) -> Assignment:
    case = study.cases.get(external_id="rc-0")
    return Assignment.objects.create(study=study, case=case, rater=rater, queue_position=0,
                                     slots=list(case.responses.order_by("id").values_list("pk", flat=True)))


def _page_shows_case(client, assignment) -> bool:
    page = client.get(f"/rate/{assignment.pk}/")
    return page.status_code == 200 and CASE_TEXT in page.content.decode()


def _api_shows(api, assignment) -> bool:
    listed = [a["id"] for a in api.get("/api/assignments/").json()["results"]]
    detail = api.get(f"/api/assignments/{assignment.pk}/")
    assert (assignment.pk in listed) == (detail.status_code == 200), (listed, detail.status_code)
    if detail.status_code == 200:
        assert CASE_TEXT in str(detail.json()["case"])
    else:
        assert detail.status_code == 404 and CASE_TEXT not in detail.content.decode()
    return detail.status_code == 200


def _set_status(study, status):
    Study.objects.filter(pk=study.pk).update(status=status)


def _onboarding(step):
    def prepare(study, rater):
        if step == "instructions":
            Study.objects.filter(pk=study.pk).update(instructions="Read **every** turn.")
        elif step == "consent":
            Study.objects.filter(pk=study.pk).update(consent_text="I agree.")
        else:
            practice = CaseFactory(study=study, external_id="practice-1", role=Case.Role.PRACTICE)
            for study_arm in study.study_arms.all():
                ResponseFactory(case=practice, arm=study_arm.arm)
    return prepare


def _onboarded(step):
    field = {"instructions": "instructions_acknowledged_at", "consent": "consent_at",
             "practice": "practice_completed_at"}[step]

    def prepare(study, rater):
        _onboarding(step)(study, rater)
        StudyRater.objects.update_or_create(study=study, rater=rater, defaults={field: timezone.now()})
    return prepare


def _another_rater_removed(study, rater):
    other = UserFactory(username="removed-colleague", role=CLINICIAN)
    StudyRater.objects.create(study=study, rater=other, status=StudyRater.Status.REMOVED)


def _paused(study, rater):
    StudyRater.objects.create(study=study, rater=rater, status=StudyRater.Status.PAUSED)


SITUATIONS = {
    "open": (lambda study, rater: None, True),
    "draft": (lambda study, rater: _set_status(study, Study.Status.DRAFT), False),
    "closed": (lambda study, rater: _set_status(study, Study.Status.CLOSED), False),
    "removed": (lambda study, rater: StudyRater.objects.create(study=study, rater=rater,
                                                                 status=StudyRater.Status.REMOVED), False),
    "another rater removed": (_another_rater_removed, True),
    "paused (work kept)": (_paused, True),
    "instructions not acknowledged": (_onboarding("instructions"), False),
    "instructions acknowledged": (_onboarded("instructions"), True),
    "consent not given": (_onboarding("consent"), False),
    "consent given": (_onboarded("consent"), True),
    "practice not done": (_onboarding("practice"), False),
    "practice done": (_onboarded("practice"), True),
}


@pytest.mark.parametrize("situation", SITUATIONS)
def test_a_clinician_reads_through_the_api_what_the_rating_page_shows(situation, rated_study, clinician,
                                                                     clinician_client, clinician_api):
    prepare, shown = SITUATIONS[situation]
    assignment = _own(rated_study, clinician)
    prepare(rated_study, clinician)
    # The API first: opening the page marks the assignment shown.
    assert _api_shows(clinician_api, assignment) is shown
    assert _page_shows_case(clinician_client, assignment) is shown


def test_a_removed_rater_no_longer_reads_their_submitted_work(rated_study, clinician, clinician_client,
                                                               clinician_api, researcher):
    assignment = _own(rated_study, clinician)
    assignment_submit(assignment=assignment, rater=clinician,
                      data=complete_rating(len(assignment.slots), rated_study.rubric))
    assert _api_shows(clinician_api, assignment)
    study_rater_set_status(study=rated_study, rater=clinician, status=StudyRater.Status.REMOVED, actor=researcher)
    assert not _api_shows(clinician_api, assignment)
    assert clinician_client.get(f"/rate/{assignment.pk}/").status_code == 404


def test_the_research_team_reads_every_assignment_whatever_the_study(rated_study, clinician, researcher_api):
    assignment = _own(rated_study, clinician)
    _set_status(rated_study, Study.Status.DRAFT)
    StudyRater.objects.create(study=rated_study, rater=clinician, status=StudyRater.Status.REMOVED)
    assert researcher_api.get(f"/api/assignments/{assignment.pk}/").status_code == 200
    assert [a["id"] for a in researcher_api.get("/api/assignments/").json()["results"]] == [assignment.pk]


# --- a study's arms --------------------------------------------------------------------

def _arm_payload(name, studies):
    return {"name": name, "method": "baseline", "base_model": "demo", "studies": studies}


@pytest.mark.parametrize("status", [Study.Status.OPEN, Study.Status.CLOSED])
def test_no_arm_joins_a_study_once_open_through_the_api(rated_study, admin_api, status):
    _set_status(rated_study, status)
    draft = StudyFactory(slug="still-draft", status=Study.Status.DRAFT)
    before = list(rated_study.study_arms.values_list("arm_id", flat=True))
    response = admin_api.post("/api/arms/", _arm_payload("Late arm", ["still-draft", rated_study.slug]),
                              format="json")
    assert response.status_code == 409 and "fixed" in response.json()["detail"]
    # Nothing was made, not even for the draft study named beside it.
    assert not ModelArm.objects.filter(name="Late arm").exists()
    assert list(rated_study.study_arms.values_list("arm_id", flat=True)) == before
    assert not draft.study_arms.exists()


def test_an_arm_joins_a_draft_study_through_the_api(admin_api):
    draft = StudyFactory(slug="draft-study", status=Study.Status.DRAFT)
    response = admin_api.post("/api/arms/", _arm_payload("Early arm", ["draft-study"]), format="json")
    assert response.status_code == 201 and response.json()["studies"] == ["draft-study"]
    assert list(draft.study_arms.values_list("arm__name", flat=True)) == ["Early arm"]


def test_the_open_studys_queues_survive_a_refused_arm_and_a_replan(rated_study, admin_api):
    """The way a study lost every rater's queue: an arm added while open, without
    responses, and the next plan found no case every arm had answered."""
    raters = [UserFactory(role=CLINICIAN) for _ in range(3)]
    first = assignments_plan(study=rated_study, raters=raters)
    assert admin_api.post("/api/arms/", _arm_payload("Late arm", [rated_study.slug]),
                          format="json").status_code == 409
    again = assignments_plan(study=rated_study, raters=raters)
    assert again.created == again.removed == first.created == 12


def test_the_settings_service_refuses_other_arms_for_an_open_study(rated_study):
    """The settings page disables the field once open; a form loaded while the study was a
    draft and posted after it opened reaches the service, which refuses."""
    other = ModelArmFactory(name="FewShot")
    with pytest.raises(StateConflict, match="fixed"):
        study_save(study=rated_study, values={"instructions": "New"}, arms=[other])
    rated_study.refresh_from_db()
    assert rated_study.instructions == "" and rated_study.study_arms.count() == 3
    same = [sa.arm for sa in rated_study.study_arms.order_by("position")]
    study_save(study=rated_study, values={"instructions": "New"}, arms=same)  # unchanged arms are no change
    rated_study.refresh_from_db()
    assert rated_study.instructions == "New"


def test_a_study_compares_at_most_one_arm_per_slot_letter():
    draft = StudyFactory(status=Study.Status.DRAFT)
    arms = [ModelArmFactory() for _ in range(27)]
    with pytest.raises(InvalidRequest, match="at most 26"):
        study_save(study=draft, values={}, arms=arms)
    assert not draft.study_arms.exists()
    study_save(study=draft, values={}, arms=arms[:26])
    assert draft.study_arms.count() == 26


def _admin_study_post(study, arm_rows, **extra):
    data = {"name": study.name, "slug": study.slug, "instructions": study.instructions,
            "consent_text": study.consent_text, "gold_rate": study.gold_rate, "rubric": json.dumps(study.rubric), "raters_per_item": study.raters_per_item, "seed": study.seed,
            "assignment_timeout_minutes": study.assignment_timeout_minutes, "extra_tasks": "[]",
            "planted_reading_job": "",
            "study_arms-TOTAL_FORMS": str(len(arm_rows)), "study_arms-INITIAL_FORMS": "0",
            "study_arms-MIN_NUM_FORMS": "0", "study_arms-MAX_NUM_FORMS": "1000", **extra}
    for i, (arm, position) in enumerate(arm_rows):
        data.update({f"study_arms-{i}-arm": str(arm.pk), f"study_arms-{i}-position": str(position),
                     f"study_arms-{i}-study": str(study.pk)})
    return data


def test_the_admin_adds_no_arm_to_an_open_study(rated_study, admin_client_):
    url = f"/admin/annotations/study/{rated_study.pk}/change/"
    page = admin_client_.get(url).content.decode()
    assert 'name="study_arms-MAX_NUM_FORMS" value="0"' in page and 'name="study_arms-0-arm"' not in page
    late = ModelArmFactory(name="Late arm")
    admin_client_.post(url, _admin_study_post(rated_study, [(late, 3)]))
    assert not StudyArm.objects.filter(arm=late).exists() and rated_study.study_arms.count() == 3


def test_the_admin_edits_a_draft_studys_arms_within_the_letters(admin_client_):
    draft = StudyFactory(slug="draft-admin", status=Study.Status.DRAFT)
    url = f"/admin/annotations/study/{draft.pk}/change/"
    assert 'name="study_arms-MAX_NUM_FORMS" value="1000"' in admin_client_.get(url).content.decode()
    arms = [ModelArmFactory() for _ in range(27)]
    refused = admin_client_.post(url, _admin_study_post(draft, [(arm, i) for i, arm in enumerate(arms)]))
    assert refused.status_code == 200 and "at most 26" in refused.content.decode()
    assert not draft.study_arms.exists()
    saved = admin_client_.post(url, _admin_study_post(draft, [(arms[0], 0)]))
    assert saved.status_code == 302 and list(draft.study_arms.values_list("arm_id", flat=True)) == [arms[0].pk]


def test_a_study_made_in_the_admin_starts_as_a_draft(admin_client_):
    page = admin_client_.get("/admin/annotations/study/add/").content.decode()
    assert 'name="status"' not in page


@pytest.mark.parametrize("status", [Study.Status.OPEN, Study.Status.CLOSED])
def test_an_arm_trained_for_a_study_no_longer_a_draft_is_made_but_does_not_join_it(rated_study, clinician, status,
                                                                                   tmp_path):
    """A training job that ends after its study opened keeps its adapter as a new arm,
    and leaves the study's arms, and so its raters' queues, as they were."""
    from annotations.models import TrainingJob
    from annotations.services.training import training_arm_register

    assignments_plan(study=rated_study, raters=[clinician])
    Study.objects.filter(pk=rated_study.pk).update(status=status)
    queue = list(Assignment.objects.filter(rater=clinician).values_list("pk", "slots"))
    job = TrainingJob.objects.create(study=rated_study, method="behavior_sft", base_model="demo")
    arm = training_arm_register(job=job, adapter_dir=str(tmp_path), checkpoint_hash="ab" * 32)
    assert ModelArm.objects.filter(pk=arm.pk, adapter_path=str(tmp_path)).exists()
    assert not StudyArm.objects.filter(study=rated_study, arm=arm).exists()
    assert list(Assignment.objects.filter(rater=clinician).values_list("pk", "slots")) == queue


def test_an_arm_trained_for_a_draft_study_joins_it(tmp_path):
    from annotations.models import TrainingJob
    from annotations.services.training import training_arm_register

    study = StudyFactory(slug="draft-training", status=Study.Status.DRAFT)
    job = TrainingJob.objects.create(study=study, method="general_sft", base_model="demo")
    arm = training_arm_register(job=job, adapter_dir=str(tmp_path), checkpoint_hash="cd" * 32)
    assert StudyArm.objects.filter(study=study, arm=arm).exists()


def test_a_rater_of_another_study_reads_nothing_of_this_one(rated_study, clinician):
    """Page and API alike: another study's rater (with work of their own there) gets 404
    for this study's assignments and finds none of them listed."""
    from django.test import Client
    from rest_framework.test import APIClient

    assignment = _own(rated_study, clinician)
    elsewhere = StudyFactory(slug="elsewhere")
    outsider = UserFactory(username="outsider", role=CLINICIAN)
    for study_arm in rated_study.study_arms.all():
        StudyArm.objects.create(study=elsewhere, arm=study_arm.arm, position=study_arm.position)
    own_case = CaseFactory(study=elsewhere, external_id="else-0")
    Assignment.objects.create(study=elsewhere, case=own_case, rater=outsider, slots=[])
    page, api = Client(), APIClient()
    page.force_login(outsider)
    api.force_authenticate(outsider)
    assert page.get(f"/rate/{assignment.pk}/").status_code == 404
    assert page.post(f"/rate/{assignment.pk}/draft/", {"comment": "x"}).status_code == 404
    assert page.get(f"/rate/studies/{rated_study.pk}/instructions/").status_code == 404
    assert api.get(f"/api/assignments/{assignment.pk}/").status_code == 404
    assert assignment.pk not in [a["id"] for a in api.get("/api/assignments/").json()["results"]]
