"""A study's arms in the study's order: every list of them (forms, tables, the analysis,
slot orders) reads this one order, whatever order the arms have in other studies."""

import pytest

from annotations.selectors.arms import (
    analysis_seed,
    study_arm_ids,
    study_arm_names,
    study_arm_names_by_id,
    study_arms_in_order,
)
from tests.factories import ModelArmFactory, StudyArmFactory, StudyFactory

pytestmark = pytest.mark.django_db


def test_each_study_lists_its_arms_in_its_own_order():
    first, second = StudyFactory(slug="first"), StudyFactory(slug="second", seed=2**32 + 5)
    zeta, alpha, mid = (ModelArmFactory(name=name) for name in ("Zeta", "Alpha", "Mid"))
    for position, arm in enumerate([zeta, alpha, mid]):
        StudyArmFactory(study=first, arm=arm, position=position)
    for position, arm in enumerate([mid, zeta]):
        StudyArmFactory(study=second, arm=arm, position=position)
    assert list(study_arms_in_order(first)) == [zeta, alpha, mid]
    assert list(study_arms_in_order(second)) == [mid, zeta]
    assert study_arm_ids(second) == [mid.pk, zeta.pk]
    assert study_arm_names(first) == ["Zeta", "Alpha", "Mid"]
    assert list(study_arm_names_by_id(second).items()) == [(mid.pk, "Mid"), (zeta.pk, "Zeta")]
    assert analysis_seed(second) == 5
