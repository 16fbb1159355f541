"""A study that shows k of its n arms per screen: each case one block of k responses,
the same for every rater of it, blocks balanced over the plan and through re-plans, slot
orders balanced per rater and over the plan, gold cases alike; k at or above n plans as
before. The number is checked where the arms are, and fixed once the study is open."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from itertools import combinations

import pytest
from django.utils import timezone

from annotations.errors import InvalidRequest, StateConflict
from annotations.models import Assignment, Case, Response, Study
from annotations.services.lifecycle import study_set_status
from annotations.services.planner import assignments_plan
from annotations.services.studies import study_save
from evalportal.roles import CLINICIAN
from tests.factories import CaseFactory, ModelArmFactory, ResponseFactory, StudyArmFactory, StudyFactory, UserFactory

pytestmark = pytest.mark.django_db


def _study(*, n_arms=5, n_cases=40, per_screen=3, raters_per_item=2, gold=0, gold_rate=0.0, seed=3):
    study = StudyFactory(raters_per_item=raters_per_item, seed=seed, gold_rate=gold_rate, arms_per_screen=per_screen)
    arms = [StudyArmFactory(study=study, position=i).arm for i in range(n_arms)]
    for n in range(n_cases + gold):
        role = Case.Role.GOLD if n >= n_cases else Case.Role.STUDY
        case = CaseFactory(study=study, role=role, in_rating_sample=role == Case.Role.STUDY, external_id=f"c-{n}")
        for arm in arms:
            ResponseFactory(case=case, arm=arm)
    return study, [arm.pk for arm in arms]


def _screens(study):
    """Every assignment as (case id, rater id, arms slot by slot, is gold)."""
    arm_of = dict(Response.objects.values_list("pk", "arm_id"))
    case_of = dict(Response.objects.values_list("pk", "case_id"))
    rows = []
    for a in Assignment.objects.filter(study=study).select_related("case").order_by("rater_id", "queue_position"):
        assert all(case_of[r] == a.case_id for r in a.slots)
        rows.append((a.case_id, a.rater_id, tuple(arm_of[r] for r in a.slots), a.case.role == Case.Role.GOLD))
    return rows


def _position_spread(orders, arm_ids, k):
    counts = Counter((arm, slot) for order in orders for slot, arm in enumerate(order))
    seen = {arm for order in orders for arm in order}
    return max(max(counts[(a, p)] for p in range(k)) - min(counts[(a, p)] for p in range(k))
               for a in arm_ids if a in seen)


def test_each_case_shows_every_rater_one_balanced_block_of_k_responses():
    study, arm_ids = _study(n_cases=40, raters_per_item=2, gold=6, gold_rate=0.2)
    raters = [UserFactory(role=CLINICIAN) for _ in range(4)]
    assignments_plan(study=study, raters=raters)
    screens = _screens(study)
    blocks = defaultdict(set)
    for case_id, _, order, _ in screens:
        assert len(order) == len(set(order)) == 3
        blocks[case_id].add(frozenset(order))
    assert all(len(shown) == 1 for shown in blocks.values())  # every rater of a case sees the same responses
    assert sum(gold for *_, gold in screens) >= 8
    # 40 study cases: four whole cycles of the ten 3-subsets of five arms.
    study_blocks = [next(iter(shown)) for case_id, shown in blocks.items()
                    if not any(g for c, _, _, g in screens if c == case_id)]
    assert len(study_blocks) == 40
    assert set(Counter(study_blocks).values()) == {4}
    assert set(Counter(pair for block in study_blocks for pair in combinations(sorted(block), 2)).values()) == {12}
    # Slot orders: each arm in each of the three positions equally often, within one, per
    # rater and over the plan (gold cases counted with the others).
    for rater in raters:
        assert _position_spread([o for _, r, o, _ in screens if r == rater.pk], arm_ids, 3) <= 1
    assert _position_spread([o for *_, o, _ in screens], arm_ids, 3) <= 1
    assert set(Assignment.objects.filter(study=study).values_list("square_row", flat=True)) == {0}


def test_the_plan_is_reproducible():
    study, _ = _study(n_cases=20, gold=3, gold_rate=0.2)
    raters = [UserFactory(role=CLINICIAN) for _ in range(3)]
    assignments_plan(study=study, raters=raters)
    first = sorted(Assignment.objects.filter(study=study).values_list("case_id", "rater_id", "slots",
                                                                      "queue_position"))
    Assignment.objects.filter(study=study).delete()
    assignments_plan(study=study, raters=raters)
    assert sorted(Assignment.objects.filter(study=study).values_list("case_id", "rater_id", "slots",
                                                                     "queue_position")) == first


def test_a_replan_keeps_the_blocks_raters_saw_and_completes_their_cycle():
    study, _ = _study(n_cases=25, raters_per_item=2)
    first = [UserFactory(role=CLINICIAN) for _ in range(2)]
    assignments_plan(study=study, raters=first)
    # The first rater opened eight cases: those stay, unopened ones are planned again.
    opened = list(Assignment.objects.filter(study=study, rater=first[0]).order_by("queue_position")[:8])
    Assignment.objects.filter(pk__in=[a.pk for a in opened]).update(shown_at=timezone.now())
    seen = {a.case_id: frozenset(Response.objects.get(pk=r).arm_id for r in a.slots) for a in opened}
    arms = list(study.study_arms.values_list("arm", flat=True))
    for n in range(15):  # fifteen more cases join the rating sample
        case = CaseFactory(study=study, in_rating_sample=True, external_id=f"late-{n}")
        for arm_id in arms:
            ResponseFactory(case=case, arm_id=arm_id)
    assignments_plan(study=study, raters=[*first, UserFactory(role=CLINICIAN)])
    screens = _screens(study)
    blocks = defaultdict(set)
    for case_id, _, order, _ in screens:
        blocks[case_id].add(frozenset(order))
    assert all(blocks[case_id] == {shown} for case_id, shown in seen.items())
    assert all(len(shown) == 1 for shown in blocks.values()) and len(blocks) == 40
    # The kept blocks and the new ones make four whole cycles again.
    assert set(Counter(next(iter(shown)) for shown in blocks.values()).values()) == {4}


def test_showing_every_arm_or_more_plans_exactly_as_a_blank_setting():
    study, _ = _study(n_arms=3, n_cases=12, per_screen=None, gold=2, gold_rate=0.2)
    raters = [UserFactory(role=CLINICIAN) for _ in range(3)]

    def plan():
        Assignment.objects.filter(study=study).delete()
        assignments_plan(study=study, raters=raters)
        return sorted(Assignment.objects.filter(study=study).values_list("case_id", "rater_id", "slots",
                                                                         "square_row", "queue_position"))

    blank = plan()
    assert all(len(slots) == 3 for _, _, slots, _, _ in blank)
    for per_screen in (3, 4):
        Study.objects.filter(pk=study.pk).update(arms_per_screen=per_screen)
        study.refresh_from_db()
        assert plan() == blank


def test_responses_per_screen_are_checked_against_the_arms():
    arms = [ModelArmFactory() for _ in range(4)]
    with pytest.raises(InvalidRequest, match="cannot show 3 responses of a study that compares 2 arms"):
        study_save(study=None, values={"name": "S", "slug": "s", "arms_per_screen": 3}, arms=arms[:2])
    assert not Study.objects.filter(slug="s").exists()
    with pytest.raises(InvalidRequest, match="2 to 26"):
        study_save(study=None, values={"name": "S", "slug": "s", "arms_per_screen": 1}, arms=arms)
    study = study_save(study=None, values={"name": "S", "slug": "s", "arms_per_screen": 3}, arms=arms)
    assert study.arms_per_screen == 3
    # Fewer arms than a screen shows: refused, nothing changed.
    with pytest.raises(InvalidRequest, match="cannot show 3 responses"):
        study_save(study=study, values={}, arms=arms[:2])
    assert study.study_arms.count() == 4
    study_save(study=study, values={"arms_per_screen": 2}, arms=arms[:2])
    study.refresh_from_db()
    assert study.arms_per_screen == 2 and study.study_arms.count() == 2


def test_responses_per_screen_are_fixed_once_the_study_is_open():
    study, _ = _study(n_cases=3, per_screen=3)
    assert study.status == Study.Status.OPEN
    with pytest.raises(StateConflict, match="responses per screen .* are fixed"):
        study_save(study=study, values={"arms_per_screen": 2})
    with pytest.raises(StateConflict):
        study_save(study=study, values={"arms_per_screen": None})
    study.refresh_from_db()
    assert study.arms_per_screen == 3
    study_save(study=study, values={"arms_per_screen": 3, "name": "Renamed"})  # unchanged: fine
    study.refresh_from_db()
    assert study.name == "Renamed"


def _settings_form(**overrides):
    data = {"name": "Heparin safety", "slug": "heparin", "instructions": "", "consent_text": "",
            "raters_per_item": "3", "seed": "7", "assignment_timeout_minutes": "120", "gold_rate": "0"}
    return {**data, **overrides}


def test_the_settings_page_takes_responses_per_screen_and_refuses_more_than_the_arms(researcher_client):
    arms = [ModelArmFactory() for _ in range(3)]
    page = researcher_client.post("/studies/new/", {**_settings_form(arms_per_screen="4"), "arms": [a.pk for a in arms]})
    assert page.status_code == 400 and "cannot show 4 responses" in page.content.decode()
    assert not Study.objects.filter(slug="heparin").exists()
    page = researcher_client.post("/studies/new/", {**_settings_form(arms_per_screen="2"), "arms": [a.pk for a in arms]})
    assert page.status_code == 302 and Study.objects.get(slug="heparin").arms_per_screen == 2
    study = Study.objects.get(slug="heparin")
    study_set_status(study=study, status=Study.Status.OPEN)
    form = researcher_client.get("/studies/heparin/settings/").content.decode()
    assert 'name="arms_per_screen"' in form and "disabled" in form.split('name="arms_per_screen"')[1].split(">")[0]
    researcher_client.post("/studies/heparin/settings/", _settings_form(arms_per_screen=""))
    study.refresh_from_db()
    assert study.arms_per_screen == 2


def test_the_admin_refuses_more_responses_per_screen_than_arms(admin_client_):
    study = StudyFactory(status=Study.Status.DRAFT, slug="adm")
    for i in range(2):
        StudyArmFactory(study=study, position=i)
    data = {"name": study.name, "slug": study.slug, "instructions": "", "consent_text": "", "gold_rate": "0",
            "rubric": json.dumps(study.rubric), "raters_per_item": "3", "arms_per_screen": "3", "seed": "7",
            "assignment_timeout_minutes": "120", "extra_tasks": "[]", "planted_reading_job": "",
            "study_arms-TOTAL_FORMS": "2", "study_arms-INITIAL_FORMS": "2", "study_arms-MIN_NUM_FORMS": "0",
            "study_arms-MAX_NUM_FORMS": "1000"}
    for i, row in enumerate(study.study_arms.order_by("position")):
        data.update({f"study_arms-{i}-id": str(row.pk), f"study_arms-{i}-arm": str(row.arm_id),
                     f"study_arms-{i}-position": str(row.position), f"study_arms-{i}-study": str(study.pk)})
    page = admin_client_.post(f"/admin/annotations/study/{study.pk}/change/", data)
    assert page.status_code == 200 and "cannot show 3 responses" in page.content.decode()
    study.refresh_from_db()
    assert study.arms_per_screen is None
    page = admin_client_.post(f"/admin/annotations/study/{study.pk}/change/", {**data, "arms_per_screen": "2"})
    assert page.status_code == 302
    study.refresh_from_db()
    assert study.arms_per_screen == 2


def test_the_api_shows_responses_per_screen(admin_client_):
    study, _ = _study(n_cases=1, per_screen=3)
    body = admin_client_.get(f"/api/studies/{study.slug}/").json()
    assert body["arms_per_screen"] == 3
