"""The assignment planner: k raters per case, no rater twice on a case, and arms rotated
through the display positions with a balanced Latin square (Williams design), so each arm
sits in each position equally often over each rater's queue and over the study.

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

from annotations.models import Assignment, Case, Study, StudyRater
from annotations.selectors.responses import newest_responses
from annotations.selectors.studies import rating_sample
from annotations.services.audit import audit_record
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
    arm_ids = list(study.study_arms.order_by("position", "id").values_list("arm_id", flat=True))
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
    arm_ids = list(study.study_arms.order_by("position", "id").values_list("arm_id", flat=True))
    by_case: dict[int, dict[int, int]] = defaultdict(dict)
    for case_id, arm_id, response_id in (newest_responses(study, arm_ids=arm_ids)
                                         .filter(case__role=Case.Role.GOLD).values_list("case_id", "arm_id", "id")):
        by_case[case_id][arm_id] = response_id
    return {case_id: [arms[a] for a in arm_ids] for case_id, arms in by_case.items()
            if arm_ids and all(a in arms for a in arm_ids)}


def _mix_in_gold(study: Study, new: list[Assignment], rng: random.Random) -> list[Assignment]:
    """Gold cases mixed into each rater's new assignments so that they make up about the
    study's gold rate of them, spread evenly through the queue, each gold case at most once
    per rater. Their slots are shuffled (seeded): like any case, nothing marks them."""
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
                slots = list(gold[case_id])
                rng.shuffle(slots)
                combined.append(Assignment(study=study, case_id=case_id, rater_id=rater_id, slots=slots))
            else:
                combined.append(next(regular))
        combined.extend(regular)
        for offset, assignment in enumerate(combined):
            assignment.queue_position = start + offset
        mixed.extend(combined)
    return mixed


def assignments_plan(*, study: Study, raters=None, actor=None) -> PlanResult:
    """(Re-)plan a study: unopened assignments are dropped and every case of the rating
    sample that every arm has answered is filled up to k raters, balancing the raters'
    loads. Opened and submitted ones stay. A study whose rating sample was never drawn
    gets one of DEFAULT_RATING_SAMPLE cases first (all its test cases, when fewer)."""
    from django.contrib.auth import get_user_model

    if raters is None:
        raters = get_user_model().objects.filter(groups__name=CLINICIAN, is_active=True)
    # Raters paused or removed in this study get no new work there.
    set_aside = set(StudyRater.objects.filter(study=study).exclude(status=StudyRater.Status.ACTIVE)
                    .values_list("rater_id", flat=True))
    rater_ids = sorted({u.pk for u in raters} - set_aside)
    rng = random.Random(study.seed)
    with transaction.atomic():
        Study.objects.select_for_update().get(pk=study.pk)
        drawn = None
        if not rating_sample(study).exists():
            drawn = rating_sample_draw(study=study, size=DEFAULT_RATING_SAMPLE, actor=actor)["drawn"]
        removed, _ = Assignment.objects.filter(study=study, shown_at__isnull=True,
                                               status=Assignment.Status.PENDING).delete()
        responses = latest_responses_by_case(study)
        n_sample = rating_sample(study).count()
        kept = list(Assignment.objects.filter(study=study).values_list("case_id", "rater_id", "square_row",
                                                                       "queue_position"))
        raters_of_case: dict[int, set] = defaultdict(set)
        n_assigned: dict[int, int] = defaultdict(int)  # pool assignments (no rater) count too
        load: dict[int, int] = {r: 0 for r in rater_ids}
        last_row: dict[int, int] = {}
        last_position: dict[int, int] = defaultdict(int)
        for case_id, rater_id, row, position in kept:
            n_assigned[case_id] += 1
            if rater_id is not None:
                raters_of_case[case_id].add(rater_id)
                load[rater_id] = load.get(rater_id, 0) + 1
                if position >= last_position[rater_id]:
                    last_position[rater_id], last_row[rater_id] = position, row

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

        square = williams_square(len(study.study_arms.all()))
        n_rows = len(square) or 1
        # Rows are dealt along one cycle, rater after rater, so each rater's queue and the
        # whole study each cover a contiguous arc of the square: balanced within one.
        pointer = rng.randrange(n_rows)
        new = []
        for rater_id in rater_ids:
            start = (last_row[rater_id] + 1) % n_rows if rater_id in last_row else pointer
            for offset, case_id in enumerate(queues.get(rater_id, [])):
                row = (start + offset) % n_rows
                new.append(Assignment(
                    study=study, case_id=case_id, rater_id=rater_id, square_row=row,
                    slots=[responses[case_id][arm_index] for arm_index in square[row]],
                    queue_position=last_position[rater_id] + 1 + offset,
                ))
            if rater_id not in last_row:
                pointer = (pointer + len(queues.get(rater_id, []))) % n_rows
        new = _mix_in_gold(study, new, rng)
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
