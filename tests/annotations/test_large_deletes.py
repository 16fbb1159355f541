"""A study deleted at benchmark size (what the Django admin's delete runs): PostgreSQL
takes at most 65,535 parameters a query, and Django's deletion collector used to send
every one of a study's responses in one list ("number of parameters must be between 0
and 65535", a 500 in the admin)."""

from __future__ import annotations

import pytest

from annotations.models import Case, ModelArm, Response, Study
from tests.factories import CaseFactory, StudyFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]

CASES, ARMS = 350, 200  # 70,000 responses: past the 65,535 a query may carry


def test_a_study_with_more_responses_than_a_query_has_parameters_can_be_deleted(postgresql):
    study = StudyFactory()
    cases = Case.objects.bulk_create([CaseFactory.build(study=study, external_id=f"big-{n}") for n in range(CASES)])
    arms = ModelArm.objects.bulk_create([ModelArm(name=f"Arm {n}", method="baseline", base_model="demo")
                                         for n in range(ARMS)])
    Response.objects.bulk_create([Response(case=case, arm=arm, text="An answer.") for case in cases for arm in arms])
    assert Response.objects.count() == CASES * ARMS

    study.delete()
    assert not Study.objects.filter(pk=study.pk).exists()
    assert Response.objects.count() == Case.objects.count() == 0
