"""The demo study shows three of its five arms per screen, as the paper's clinician study did."""

from __future__ import annotations

import io
from collections import Counter, defaultdict

import pytest
from django.core.management import call_command

from annotations.models import Assignment, Response, Study

pytestmark = pytest.mark.django_db


def test_the_demo_shows_each_clinician_three_of_the_five_arms_per_case():
    call_command("load_demo", stdout=io.StringIO())
    study = Study.objects.get(slug="demo")
    assert study.arms_per_screen == 3 and study.study_arms.count() == 5
    arm_of = dict(Response.objects.filter(case__study=study).values_list("pk", "arm_id"))
    blocks = defaultdict(set)
    for case_id, slots in Assignment.objects.filter(study=study).values_list("case_id", "slots"):
        assert len(slots) == 3
        blocks[case_id].add(frozenset(arm_of[r] for r in slots))
    assert all(len(shown) == 1 for shown in blocks.values())
    # Every arm is shown with about as many cases as the others.
    shown = Counter(arm for block in blocks.values() for arm in next(iter(block)))
    assert len(shown) == 5 and max(shown.values()) - min(shown.values()) <= 2
