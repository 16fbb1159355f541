"""Researchers create a study (a draft) and change its settings on the portal's pages."""

import pytest

from annotations.models import AuditEvent, Study
from tests.factories import ModelArmFactory

pytestmark = pytest.mark.django_db


def _form(**overrides):
    data = {"name": "Heparin safety", "slug": "heparin", "instructions": "Read **all** turns.", "consent_text": "",
            "raters_per_item": "3", "seed": "7", "assignment_timeout_minutes": "120", "gold_rate": "0.1"}
    data.update(overrides)
    return data


def test_a_researcher_creates_a_draft_study_with_its_arms(researcher_client):
    arms = [ModelArmFactory(name=n) for n in ("Baseline", "BehaviorSFT")]
    page = researcher_client.post("/studies/new/", {**_form(), "arms": [a.pk for a in arms]})
    assert page["Location"] == "/studies/heparin/"
    study = Study.objects.get(slug="heparin")
    assert study.status == "draft" and study.gold_rate == 0.1 and study.instructions == "Read **all** turns."
    assert list(study.study_arms.values_list("arm__name", flat=True)) == ["Baseline", "BehaviorSFT"]
    assert AuditEvent.objects.filter(action="study.create", object_id=str(study.pk)).exists()


@pytest.mark.parametrize("overrides", [{"gold_rate": "0.9"}, {"slug": "new"}, {"slug": "trial"}, {"name": ""},
                                       {"raters_per_item": "0"}])
def test_bad_settings_are_refused_and_change_nothing(study, researcher_client, overrides):
    before = Study.objects.count()
    page = researcher_client.post("/studies/new/", _form(**overrides))
    assert page.status_code == 400
    assert Study.objects.count() == before and not AuditEvent.objects.filter(action="study.create").exists()


def test_settings_change_and_the_arms_freeze_once_open(rated_study, researcher_client):
    other = ModelArmFactory(name="FewShot")
    url = f"/studies/{rated_study.slug}/settings/"
    data = _form(slug=rated_study.slug, instructions="New *instructions*")
    researcher_client.post(url, {**data, "arms": [other.pk]})  # the study is open: arms stay
    rated_study.refresh_from_db()
    assert rated_study.instructions == "New *instructions*"
    assert rated_study.study_arms.count() == 3
    event = AuditEvent.objects.get(action="study.update")
    assert event.before["instructions"] == "" and event.after["instructions"] == "New *instructions*"
