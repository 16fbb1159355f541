"""`manage.py load_demo`: the demo study a new admin sees after `make run`."""

import io
from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from annotations.models import Assignment, Case, Study
from annotations.services.demo import DEMO_USERS
from evalportal.roles import user_role

pytestmark = pytest.mark.django_db


def test_load_demo_creates_the_study_arms_cases_and_users():
    out = io.StringIO()
    call_command("load_demo", stdout=out)

    study = Study.objects.get(slug="demo")
    assert [sa.arm.name for sa in study.study_arms.all()] == ["Baseline", "GeneralSFT", "BehaviorSFT"]
    cases = Case.objects.filter(study=study)
    assert cases.count() >= 36
    assert len(set(cases.values_list("task", flat=True))) >= 6
    assert set(cases.values_list("category", flat=True)) == {"reactive", "balanced", "proactive"}
    assert cases.filter(gold_label="no_flag").exists()  # restraint cases
    for case in cases:
        roles = {t["role"] for t in case.turns}
        assert len(case.turns) >= 3 and case.reference_response and case.gold_label
        assert len({t["speaker"] for t in case.turns}) >= 3, case.external_id
        assert roles & {"patient", "relative", "parent", "mother", "father", "daughter", "son", "partner", "wife",
                        "husband"}, case.external_id
    for username, password, role in DEMO_USERS:
        user = get_user_model().objects.get(username=username)
        assert user.check_password(password) and user_role(user) == role
    assert "clinician1" in out.getvalue() and "clinician1-demo-pass" in out.getvalue()


def test_load_demo_twice_changes_nothing():
    call_command("load_demo", stdout=io.StringIO())
    snapshot = (Case.objects.count(), Assignment.objects.count(),
                sorted(Assignment.objects.values_list("id", flat=True)))
    out = io.StringIO()
    call_command("load_demo", stdout=out)
    assert "Nothing changed" in out.getvalue()
    assert (Case.objects.count(), Assignment.objects.count(),
            sorted(Assignment.objects.values_list("id", flat=True))) == snapshot


def test_demo_cases_cover_each_task_in_both_splits():
    call_command("load_demo", stdout=io.StringIO())
    splits = Counter(Case.objects.values_list("task", "split"))
    for task in set(Case.objects.values_list("task", flat=True)):
        assert splits[(task, "train")] >= 1 and splits[(task, "test")] >= 1, task


def test_demo_clinicians_have_every_test_case_to_rate_with_three_responses():
    from annotations.models import Response
    from modeling.behavior import DEFAULT_BEHAVIOR_TOKENS

    call_command("load_demo", stdout=io.StringIO())
    test_cases = Case.objects.filter(study__slug="demo", split="test")
    responses = Response.objects.filter(case__in=test_cases)
    assert responses.count() == 3 * test_cases.count()  # one per arm, from annotations/demo/responses.jsonl
    assert not any(DEFAULT_BEHAVIOR_TOKENS.contains_any(text) for text in responses.values_list("text", flat=True))
    # BehaviorSFT's predicted behavior is kept (for researchers), the other arms have none.
    behaviors = Counter(responses.values_list("arm__name", "predicted_behavior"))
    assert sum(n for (arm, b), n in behaviors.items() if arm == "BehaviorSFT" and b) == test_cases.count()
    assert not any(b for (arm, b) in behaviors if arm != "BehaviorSFT")
    for username in ("clinician1", "clinician2", "clinician3"):
        queue = Assignment.objects.filter(rater__username=username, study__slug="demo")
        assert queue.count() == test_cases.count()
