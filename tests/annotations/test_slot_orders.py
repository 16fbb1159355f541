"""Slot orders (which arm's response is A, B, C...) are drawn at random for each
assignment, balanced over each rater's queue and over the study, and follow no pattern:
with the orders dealt along one cycle shared by every rater, a rater who recognised one
arm knew where it sat in every later case, and a gold case, whose order broke the cycle,
stood out from its neighbours."""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from itertools import permutations

import pytest

from annotations.models import Assignment, Case, Response
from annotations.services.planner import assignments_plan, random_square, slot_orders
from evalportal.roles import CLINICIAN
from tests.factories import CaseFactory, ResponseFactory, StudyArmFactory, StudyFactory, UserFactory

pytestmark = pytest.mark.django_db

N_ARMS = 3


def _study(n_cases: int, k: int, *, gold: int = 0, gold_rate: float = 0.0, seed: int = 11):
    study = StudyFactory(raters_per_item=k, seed=seed, gold_rate=gold_rate)
    arms = [StudyArmFactory(study=study, position=i).arm for i in range(N_ARMS)]
    for n in range(n_cases + gold):
        role = Case.Role.GOLD if n >= n_cases else Case.Role.STUDY
        case = CaseFactory(study=study, role=role, in_rating_sample=role == Case.Role.STUDY,
                           external_id=f"{role}-{n}")
        for arm in arms:
            ResponseFactory(case=case, arm=arm)
    return study, [arm.pk for arm in arms]


def _queues(study) -> dict[int, list[tuple[tuple[int, ...], bool]]]:
    """Per rater, in queue order: each assignment's order (the arms, slot by slot) and
    whether its case is a gold case."""
    arm_of = dict(Response.objects.values_list("pk", "arm_id"))
    queues = defaultdict(list)
    for a in Assignment.objects.filter(study=study).select_related("case").order_by("rater_id", "queue_position"):
        queues[a.rater_id].append((tuple(arm_of[r] for r in a.slots), a.case.role == Case.Role.GOLD))
    return queues


def _spread(orders) -> int:
    """Most minus least often any arm sits in any position."""
    counts = Counter((arm, slot) for order in orders for slot, arm in enumerate(order))
    arms = {arm for order in orders for arm in order}
    values = [counts[(arm, slot)] for arm in arms for slot in range(N_ARMS)]
    return max(values) - min(values)


def _best_guess_accuracy(pairs) -> float:
    """How often the commonest follower of an order is the one that follows: 1.0 when an
    order fixes the next, about 1/6 for three arms when it tells nothing."""
    followers = defaultdict(Counter)
    for before, after in pairs:
        followers[before][after] += 1
    return sum(c.most_common(1)[0][1] for c in followers.values()) / len(pairs)


def _hit_rate(followers, pairs) -> float:
    """How often the commonest follower learnt (``followers``) is the order that follows."""
    return sum(bool(followers[b]) and followers[b].most_common(1)[0][0] == a for b, a in pairs) / len(pairs)


@pytest.fixture
def planned():
    study, _ = _study(n_cases=60, k=3, seed=5)
    raters = [UserFactory(role=CLINICIAN) for _ in range(3)]
    assignments_plan(study=study, raters=raters)
    return _queues(study)


def test_each_arm_sits_in_each_position_equally_often_per_rater_and_over_the_study(planned):
    for queue in planned.values():
        assert _spread([order for order, _ in queue]) <= 1
    assert _spread([order for queue in planned.values() for order, _ in queue]) <= 1


def test_an_order_tells_nothing_of_the_orders_that_follow(planned):
    for gap in range(1, 2 * N_ARMS + 1):
        pairs = [(queue[i][0], queue[i + gap][0]) for queue in planned.values() for i in range(len(queue) - gap)]
        assert _best_guess_accuracy(pairs) < 0.5, gap
    # Every order of the three arms turns up: nothing is left out of the draw.
    assert {order for queue in planned.values() for order, _ in queue} == set(permutations(
        {arm for queue in planned.values() for order, _ in queue for arm in order}))


def test_no_two_raters_see_the_same_sequence_of_orders(planned):
    sequences = [[order for order, _ in queue] for queue in planned.values()]
    for a in range(len(sequences)):
        for b in range(a + 1, len(sequences)):
            one, other = sequences[a], sequences[b]
            for shift in range(-len(other) + 10, len(one) - 10):
                overlap = [(x, other[i - shift]) for i, x in enumerate(one) if 0 <= i - shift < len(other)]
                assert sum(x == y for x, y in overlap) / len(overlap) < 0.6, (a, b, shift)


def test_gold_cases_are_drawn_like_the_others():
    study, _ = _study(n_cases=40, k=2, gold=12, gold_rate=0.2, seed=3)
    raters = [UserFactory(role=CLINICIAN) for _ in range(2)]
    assignments_plan(study=study, raters=raters)
    queues = _queues(study)
    assert sum(gold for queue in queues.values() for _, gold in queue) >= 16
    # Balanced with them, per rater and over the study.
    for queue in queues.values():
        assert _spread([order for order, _ in queue]) <= 1
    assert _spread([order for queue in queues.values() for order, _ in queue]) <= 1
    # A gold case follows on from its neighbour as a study case does: a rule learnt from
    # one rater's study cases (the commonest follower of each order) guesses another
    # rater's study cases no better than the gold cases.
    one, other = (queues[r] for r in sorted(queues))

    def pairs(queue, gold):
        return [(queue[i - 1][0], queue[i][0]) for i in range(1, len(queue)) if queue[i][1] == gold]

    for learn, test in ((one, other), (other, one)):
        followers = defaultdict(Counter)
        for before, after in pairs(learn, False):
            followers[before][after] += 1
        study_hits = _hit_rate(followers, pairs(test, False))
        gold_hits = _hit_rate(followers, pairs(one, True) + pairs(other, True))
        assert study_hits < 0.5 and abs(study_hits - gold_hits) < 0.25, (study_hits, gold_hits)


@pytest.mark.parametrize("n", [2, 3, 4, 5])
def test_a_drawn_square_is_latin_and_its_rows_take_every_order(n):
    rng = random.Random(1)
    rows = Counter()
    for _ in range(600):
        square = random_square(n, rng)
        assert all(sorted(row) == list(range(n)) for row in square)
        assert all(sorted(col) == list(range(n)) for col in zip(*square))
        rows.update(tuple(row) for row in square)
    assert len(rows) == min(len(list(permutations(range(n)))), 600 * n)


@pytest.mark.parametrize(("lengths", "n"), [({1: 7, 2: 5, 3: 1, 4: 0}, 3), ({1: 9, 2: 9}, 4), ({1: 3, 2: 2}, 2)])
def test_drawn_orders_balance_each_queue_and_the_whole(lengths, n):
    orders = slot_orders(lengths, n, random.Random(2))
    assert {rater: len(rows) for rater, rows in orders.items()} == lengths

    def spread(rows):
        counts = Counter((arm, slot) for _, order in rows for slot, arm in enumerate(order))
        values = [counts[(arm, slot)] for arm in range(n) for slot in range(n)]
        return max(values) - min(values)

    assert all(spread(rows) <= 1 for rows in orders.values())
    assert spread([row for rows in orders.values() for row in rows]) <= 1
