"""`manage.py load_demo`: the demo study a new admin sees after `make run`."""

import io
import json
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
    from annotations.models import ModelArm
    from annotations.services.demo import DEMO_ARMS, DEMO_RESPONSES

    # The paper's five arms exist, and the shipped responses file answers with each, so
    # each is in the study (an arm the file lacks would stay out of it).
    names = ["Baseline", "FewShot", "Instructed", "GeneralSFT", "BehaviorSFT"]
    assert set(names) <= set(ModelArm.objects.values_list("name", flat=True))
    generated = {json.loads(line)["arm"] for line in DEMO_RESPONSES.read_text().splitlines() if line.strip()}
    assert generated == {m for _, m, _, _ in DEMO_ARMS}
    assert sorted(sa.arm.name for sa in study.study_arms.all()) == sorted(names)
    per_arm = Counter(study.cases.filter(split="test").values_list("responses__arm__name", flat=True))
    assert all(per_arm[name] == study.cases.filter(split="test").count() for name in names), per_arm
    # the hand-written cases; the generated training cases have a test of their own
    cases = Case.objects.filter(study=study, external_id__startswith="demo-")
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


def test_demo_splits_hold_every_label_of_every_task_and_the_test_split_is_hand_written():
    from modeling.task_types import DEFAULT_TASKS

    call_command("load_demo", stdout=io.StringIO())
    cases = Case.objects.filter(study__slug="demo")
    labels = Counter(cases.values_list("task", "split", "gold_label"))
    for name, task in DEFAULT_TASKS.items():
        for label in task.label_space:
            assert labels[(name, "train", label)] >= 1 and labels[(name, "test", label)] >= 1, (name, label)
    assert cases.filter(split="train").count() >= 150
    assert not cases.filter(split="test").exclude(external_id__startswith="demo-").exists()
    assert not cases.filter(external_id__startswith="demo-").exclude(split="test").exists()
    # minimal pairs: half the proactive test cases are sound, each planted one has its twin
    proactive = cases.filter(split="test", category="proactive")
    planted = set(proactive.filter(gold_label="flag").values_list("external_id", flat=True))
    twins = set(proactive.filter(external_id__endswith="-sound").values_list("external_id", flat=True))
    assert twins == {f"{x}-sound" for x in planted}
    for name in planted:  # a twin is its planted case edited, not extended: no turn added that fixes it
        case, twin = cases.get(external_id=name), cases.get(external_id=f"{name}-sound")
        assert [t["speaker"] for t in twin.turns] == [t["speaker"] for t in case.turns], name
        assert (twin.turns, twin.tables) != (case.turns, case.tables) and not twin.planted_problem, name
    assert proactive.filter(gold_label="no_flag").count() >= proactive.count() / 2
    assert all(case.planted_problem.get("terms") for case in proactive.filter(gold_label="flag"))


def test_demo_clinicians_have_every_test_case_to_rate_with_each_generated_arm():
    from annotations.models import Response
    from annotations.services.demo import DEMO_RESPONSES
    from modeling.behavior import DEFAULT_BEHAVIOR_TOKENS

    call_command("load_demo", stdout=io.StringIO())
    test_cases = Case.objects.filter(study__slug="demo", split="test")
    responses = Response.objects.filter(case__in=test_cases)
    generated = {json.loads(line)["arm"] for line in DEMO_RESPONSES.read_text().splitlines() if line.strip()}
    assert {"baseline", "behavior_sft", "general_sft"} <= generated
    # one per generated arm and test case, from annotations/demo/responses.jsonl
    assert responses.count() == len(generated) * test_cases.count()
    assert not any(DEFAULT_BEHAVIOR_TOKENS.contains_any(text) for text in responses.values_list("text", flat=True))
    # BehaviorSFT's predicted behavior is kept (for researchers), the other arms have none.
    # (The demo's BehaviorSFT, trained for 8 steps on CPU, has not learnt to lead with a token.)
    behaviors = Counter(responses.values_list("arm__name", "predicted_behavior"))
    assert all(b in ("", "reactive", "balanced", "proactive") for (_, b) in behaviors)
    assert not any(b for (arm, b) in behaviors if arm != "BehaviorSFT")
    for username in ("clinician1", "clinician2", "clinician3"):
        queue = Assignment.objects.filter(rater__username=username, study__slug="demo")
        assert queue.count() == test_cases.count()


def test_a_demo_loaded_from_older_files_is_refused_and_reset_moves_it_aside_with_its_work():
    from django.core.management.base import CommandError

    call_command("load_demo", stdout=io.StringIO())
    old = Study.objects.get(slug="demo")
    n_cases, n_assignments = old.cases.count(), Assignment.objects.filter(study=old).count()
    # as if loaded from an earlier version of the demo files
    Case.objects.filter(study=old, external_id="demo-omission-01").update(content_hash="0" * 64)
    with pytest.raises(CommandError, match=r"holds 1 case that .*demo-omission-01.*load_demo --reset"):
        call_command("load_demo", stdout=io.StringIO())
    assert list(Study.objects.values_list("pk", flat=True)) == [old.pk]

    out = io.StringIO()
    call_command("load_demo", "--reset", stdout=out)
    old.refresh_from_db()
    assert old.slug.startswith("demo-before-") and old.status == Study.Status.CLOSED and old.closed_reason
    assert old.cases.count() == n_cases and Assignment.objects.filter(study=old).count() == n_assignments
    fresh = Study.objects.get(slug="demo")
    assert fresh.pk != old.pk and fresh.cases.count() == n_cases and f"'{old.slug}'" in out.getvalue()
    again = io.StringIO()
    call_command("load_demo", stdout=again)
    assert "Nothing changed" in again.getvalue()
