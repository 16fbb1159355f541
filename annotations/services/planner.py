"""The assignment planner: k raters per case, no rater twice on a case, and each
assignment's slot order (which arm's response is A, B, C...) drawn at random, balanced so
that each arm sits in each position equally often, within one, over each rater's new
assignments and over all of a plan's, with nothing tying one case's order to another's.

A study that shows fewer arms per screen than it compares (``Study.arms_per_screen``)
gives each case one block of that many arms, the same for every rater of the case, dealt
and ordered by ``services/blocks.py``.

Planning is seeded and reproducible: the same study, raters, responses and seed give
the same assignments and slot orders.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from annotations.models import Assignment, Case, Response, Study
from annotations.selectors.arms import study_arm_ids
from annotations.selectors.responses import newest_responses
from annotations.selectors.setup import raters_set_aside, unopened_assignments
from annotations.selectors.studies import rating_sample
from annotations.services.audit import audit_record
from annotations.services.blocks import block_orders, incomplete_blocks
from annotations.services.studies import rating_sample_draw
from evalportal.roles import CLINICIAN

# The rating sample a plan draws when a researcher has not drawn one.
DEFAULT_RATING_SAMPLE = 300


def williams_square(n: int) -> list[list[int]]:
    """A Latin square of n rows, each row the first shifted by one: every arm appears once
    in each position per n rows, and in any run of consecutive rows no (arm, position)
    repeats before all have appeared, which keeps partial queues balanced within one.
    The first row is Williams' ordering, so for even n first-order carry-over (which arm
    is read just before which) is balanced too. (Williams' extra n mirrored rows for odd n
    would break the run property, so they are left out.)"""
    if n < 1:
        return []
    first, low, high = [0], 1, n - 1
    for i in range(1, n):
        if i % 2:
            first.append(low)
            low += 1
        else:
            first.append(high)
            high -= 1
    return [[(x + r) % n for x in first] for r in range(n)]


def random_square(n: int, rng: random.Random) -> list[list[int]]:
    """A Latin square drawn afresh: Williams' square with its rows, its columns and its
    arms each shuffled. Every arm is once in each position over its n rows, and each row
    alone is a uniformly random order of the arms."""
    columns, arms = list(range(n)), list(range(n))
    rng.shuffle(columns)
    rng.shuffle(arms)
    rows = [[arms[row[c]] for c in columns] for row in williams_square(n)]
    rng.shuffle(rows)
    return rows


def slot_orders(lengths: dict[int, int], n: int, rng: random.Random) -> dict[int, list[tuple[int, list[int]]]]:
    """For each rater (``lengths``: rater -> new assignments, in a fixed order), one
    (square row, arm order) per new assignment, in queue order.

    A queue of q*n + m assignments takes the rows of q fresh random squares, and m rows of
    one square the whole plan shares, dealt in turn from a random start so that the raters'
    remainders cover it evenly; the rows are then shuffled through the queue. Each arm is in
    each position equally often, within one, over each queue and over the plan; an order
    reveals nothing of the next (a cycle would: one arm recognised placed all the later
    ones), and no two raters share a sequence."""
    if n < 1:
        return {rater: [(0, [])] * length for rater, length in lengths.items()}
    shared = random_square(n, rng)
    turn = rng.randrange(n)
    orders = {}
    for rater, length in lengths.items():
        whole, rest = divmod(length, n)
        rows = [(i, row) for _ in range(whole) for i, row in enumerate(random_square(n, rng))]
        rows += [((turn + i) % n, shared[(turn + i) % n]) for i in range(rest)]
        turn = (turn + rest) % n
        rng.shuffle(rows)
        orders[rater] = rows
    return orders


@dataclass(frozen=True)
class PlanResult:
    created: int
    removed: int
    cases_planned: int
    cases_without_responses: int
    raters: int
    sample_drawn: int | None = None  # the rating sample was drawn for this plan, of this many cases

    @property
    def message(self) -> str:
        msg = (f"Drew a rating sample of {self.sample_drawn} test cases (stratified by task, category and gold "
               "label). " if self.sample_drawn is not None else "")
        msg += (f"Planned {self.created} assignments over {self.cases_planned} cases for {self.raters} raters"
                f" (re-planned {self.removed} unopened ones).")
        if self.cases_without_responses:
            msg += (f" {self.cases_without_responses} cases of the rating sample lack a response from every arm "
                    "and were left out.")
        return msg


def latest_responses_by_case(study: Study) -> dict[int, list[int]]:
    """For each case of the rating sample with a response from every study arm: the newest
    response id of each arm, in the study's arm order."""
    arm_ids = study_arm_ids(study)
    newest = {(case_id, arm_id): response_id for case_id, arm_id, response_id
              in newest_responses(study, arm_ids=arm_ids).filter(case__in_rating_sample=True)
              .values_list("case_id", "arm_id", "id")}
    by_case: dict[int, list[int]] = {}
    for case_id in rating_sample(study).values_list("id", flat=True):
        ids = [newest.get((case_id, arm_id)) for arm_id in arm_ids]
        if arm_ids and all(ids):
            by_case[case_id] = ids
    return by_case


def _gold_responses(study: Study) -> dict[int, list[int]]:
    """Each gold case with a response from every arm: its newest response ids."""
    arm_ids = study_arm_ids(study)
    by_case: dict[int, dict[int, int]] = defaultdict(dict)
    for case_id, arm_id, response_id in (newest_responses(study, arm_ids=arm_ids)
                                         .filter(case__role=Case.Role.GOLD).values_list("case_id", "arm_id", "id")):
        by_case[case_id][arm_id] = response_id
    return {case_id: [arms[a] for a in arm_ids] for case_id, arms in by_case.items()
            if arm_ids and all(a in arms for a in arm_ids)}


def _mix_in_gold(study: Study, new: list[Assignment], rng: random.Random) -> list[Assignment]:
    """Gold cases mixed into each rater's new assignments so that they make up about the
    study's gold rate of them, spread evenly through the queue, each gold case at most once
    per rater. Their slots are in arm order here: their slot orders are drawn with the
    other cases' (``slot_orders``), so nothing marks them."""
    rate = study.gold_rate
    gold = _gold_responses(study)
    if rate <= 0 or not gold or not new:
        return new
    has_gold = set(Assignment.objects.filter(study=study, case_id__in=gold).values_list("rater_id", "case_id"))
    by_rater: dict[int, list[Assignment]] = defaultdict(list)
    for assignment in new:
        by_rater[assignment.rater_id].append(assignment)
    mixed = []
    for rater_id, queue in by_rater.items():
        start = queue[0].queue_position
        available = [c for c in sorted(gold) if (rater_id, c) not in has_gold]
        rng.shuffle(available)
        n_gold = min(len(available), round(len(queue) * rate / (1 - rate)))
        step = (len(queue) + n_gold) / n_gold if n_gold else 0
        at = {int(step * (i + 0.5)) for i in range(n_gold)}
        regular, combined = iter(queue), []
        for position in range(len(queue) + n_gold):
            if position in at and available:
                case_id = available.pop()
                combined.append(Assignment(study=study, case_id=case_id, rater_id=rater_id,
                                           slots=list(gold[case_id])))
            else:
                combined.append(next(regular))
        combined.extend(regular)
        for offset, assignment in enumerate(combined):
            assignment.queue_position = start + offset
        mixed.extend(combined)
    return mixed


def _draw_slot_orders(new: list[Assignment], rater_ids: list[int], n_arms: int, rng: random.Random) -> None:
    """Each new assignment's slots (its responses in arm order) put in the order drawn for
    it, gold cases and study cases alike."""
    by_rater: dict[int, list[Assignment]] = defaultdict(list)
    for assignment in new:
        by_rater[assignment.rater_id].append(assignment)
    orders = slot_orders({r: len(by_rater[r]) for r in rater_ids if by_rater[r]}, n_arms, rng)
    for rater_id, draws in orders.items():
        for assignment, (row, order) in zip(sorted(by_rater[rater_id], key=lambda a: a.queue_position), draws):
            assignment.square_row, assignment.slots = row, [assignment.slots[arm] for arm in order]


def _kept_blocks(study: Study, arm_ids: list[int], k: int) -> dict[int, tuple[int, ...]]:
    """The block (arm indices, ascending) that each case's kept assignments show, where it
    has k of the study's arms: the case's new raters see the same responses. (A case kept
    with another number of responses is dealt a block afresh.)"""
    index = {arm_id: i for i, arm_id in enumerate(arm_ids)}
    slots_of = dict(Assignment.objects.filter(study=study).values_list("case_id", "slots"))
    response_ids = sorted({r for slots in slots_of.values() for r in slots})
    arm_of: dict[int, int] = {}
    for start in range(0, len(response_ids), 10_000):
        arm_of.update(Response.objects.filter(pk__in=response_ids[start:start + 10_000]).values_list("pk", "arm_id"))
    blocks = {}
    for case_id, slots in slots_of.items():
        arms = {index.get(arm_of.get(r)) for r in slots}
        if len(arms) == len(slots) == k and None not in arms:
            blocks[case_id] = tuple(sorted(arms))
    return blocks


def _case_blocks(study: Study, new: list[Assignment], case_order: list[int], k: int,
                 rng: random.Random) -> dict[int, tuple[int, ...]]:
    """The block of each case the new assignments show: its kept one, else the next one
    dealt (``incomplete_blocks``), continuing the cycle of the blocks kept. Gold cases are
    dealt from a cycle of their own, so that they leave the study cases' balance alone."""
    arm_ids = study_arm_ids(study)
    kept = _kept_blocks(study, arm_ids, k)
    gold = set(Case.objects.filter(study=study, role=Case.Role.GOLD).values_list("id", flat=True))
    wanted = {assignment.case_id for assignment in new}
    gold_order = sorted(wanted & gold)
    rng.shuffle(gold_order)
    blocks = {case_id: kept[case_id] for case_id in wanted if case_id in kept}
    for is_gold, order in ((False, [c for c in case_order if c in wanted]), (True, gold_order)):
        fresh = [case_id for case_id in order if case_id not in kept]
        planned = [block for case_id, block in kept.items() if (case_id in gold) == is_gold]
        blocks.update(zip(fresh, incomplete_blocks(len(arm_ids), k, len(fresh), rng, planned=planned)))
    return blocks


def _draw_block_orders(new: list[Assignment], blocks: dict[int, tuple[int, ...]], k: int,
                       rng: random.Random) -> None:
    """Each new assignment's slots (its case's responses of every arm, in arm order) cut
    to its case's block and put in the order drawn for it (``block_orders``). No square
    is drawn from: ``square_row`` stays 0."""
    by_rater: dict[int, list[Assignment]] = defaultdict(list)
    for assignment in sorted(new, key=lambda a: (a.rater_id, a.queue_position)):
        by_rater[assignment.rater_id].append(assignment)
    orders = block_orders({r: [blocks[a.case_id] for a in queue] for r, queue in by_rater.items()}, k, rng)
    for rater_id, queue in by_rater.items():
        for assignment, order in zip(queue, orders[rater_id]):
            assignment.square_row, assignment.slots = 0, [assignment.slots[arm] for arm in order]


def assignments_plan(*, study: Study, raters=None, actor=None) -> PlanResult:
    """(Re-)plan a study: unopened assignments are dropped and every case of the rating
    sample that every arm has answered is filled up to k raters, balancing the raters'
    loads. Opened and submitted ones stay. A study whose rating sample was never drawn
    gets one of DEFAULT_RATING_SAMPLE cases first (all its test cases, when fewer)."""
    from django.contrib.auth import get_user_model

    if raters is None:
        raters = get_user_model().objects.filter(groups__name=CLINICIAN, is_active=True)
    # Raters paused or removed in this study get no new work there.
    set_aside = set(raters_set_aside(study))
    rater_ids = sorted({u.pk for u in raters} - set_aside)
    # The study's id beside its seed: two studies left at the default seed, with the same
    # raters, would otherwise show each rater the same sequence of slot orders in both.
    rng = random.Random(f"{study.seed}:{study.pk}")
    with transaction.atomic():
        Study.objects.select_for_update().get(pk=study.pk)
        drawn = None
        if not rating_sample(study).exists():
            drawn = rating_sample_draw(study=study, size=DEFAULT_RATING_SAMPLE, actor=actor)["drawn"]
        removed, _ = unopened_assignments(study).delete()
        responses = latest_responses_by_case(study)
        n_sample = rating_sample(study).count()
        kept = list(Assignment.objects.filter(study=study).values_list("case_id", "rater_id", "queue_position"))
        raters_of_case: dict[int, set] = defaultdict(set)
        n_assigned: dict[int, int] = defaultdict(int)  # pool assignments (no rater) count too
        load: dict[int, int] = {r: 0 for r in rater_ids}
        last_position: dict[int, int] = defaultdict(int)
        for case_id, rater_id, position in kept:
            n_assigned[case_id] += 1
            if rater_id is not None:
                raters_of_case[case_id].add(rater_id)
                load[rater_id] = load.get(rater_id, 0) + 1
                last_position[rater_id] = max(last_position[rater_id], position)

        k = study.raters_per_item
        case_order = sorted(responses)
        rng.shuffle(case_order)
        tie_break = {r: rng.random() for r in rater_ids}
        queues: dict[int, list[int]] = defaultdict(list)
        for case_id in case_order:
            missing = k - n_assigned[case_id]
            candidates = [r for r in rater_ids if r not in raters_of_case[case_id]]
            candidates.sort(key=lambda r: (load[r], tie_break[r]))
            for rater_id in candidates[:max(0, missing)]:
                queues[rater_id].append(case_id)
                raters_of_case[case_id].add(rater_id)
                n_assigned[case_id] += 1
                load[rater_id] += 1

        new = [Assignment(study=study, case_id=case_id, rater_id=rater_id, slots=list(responses[case_id]),
                          queue_position=last_position[rater_id] + 1 + offset)
               for rater_id in rater_ids for offset, case_id in enumerate(queues.get(rater_id, []))]
        new = _mix_in_gold(study, new, rng)
        n_arms, per_screen = len(study.study_arms.all()), study.arms_per_screen
        if per_screen and per_screen < n_arms:
            _draw_block_orders(new, _case_blocks(study, new, case_order, per_screen, rng), per_screen, rng)
        else:
            _draw_slot_orders(new, rater_ids, n_arms, rng)
        Assignment.objects.bulk_create(new, batch_size=1000)
        result = PlanResult(created=len(new), removed=removed, cases_planned=len(responses),
                            cases_without_responses=n_sample - len(responses), raters=len(rater_ids),
                            sample_drawn=drawn)
        audit_record(actor=actor, action="assignments.plan", obj=study, summary=result.message,
                     after={"created": result.created, "removed": result.removed})
    return result


def assignments_release_idle(*, study: Study | None = None, now=None) -> int:
    """Opened-but-abandoned assignments go back to the pool (rater cleared, draft dropped)
    once idle past their study's timeout. Returns how many were released."""
    now = now or timezone.now()
    released = 0
    studies = [study] if study else Study.objects.filter(status=Study.Status.OPEN)
    for s in studies:
        cutoff = now - timedelta(minutes=s.assignment_timeout_minutes)
        idle = (Assignment.objects.filter(study=s, rater__isnull=False)
                .exclude(status=Assignment.Status.SUBMITTED)
                .filter(Q(last_activity_at__lt=cutoff) | Q(last_activity_at__isnull=True, shown_at__lt=cutoff)))
        with transaction.atomic():
            ids = list(idle.select_for_update(skip_locked=True).values_list("id", flat=True))
            if ids:
                released += Assignment.objects.filter(id__in=ids).update(
                    rater=None, status=Assignment.Status.PENDING, draft={}, shown_at=None, first_input_at=None,
                    last_activity_at=None, active_seconds=0)
                audit_record(actor=None, action="assignments.release", obj=s,
                             summary=f"{len(ids)} idle assignments returned to the pool", after={"ids": ids})
    return released
