"""A benchmark study written straight into PostgreSQL with COPY (the ORM would take
longer than the measurement at millions of rows): the study, its three arms, a researcher
and fifty raters, then its cases, responses, submissions and rankings. Shared by the
export and preference-pair benchmarks, which differ in what they rate."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

ARM_NAMES = ("Baseline", "GeneralSFT", "BehaviorSFT")
RATERS = 50
RESEARCHER = "bench-researcher"


@dataclass(frozen=True)
class BenchStudy:
    study: object  # annotations.models.Study
    arms: list  # its ModelArms, in screen order
    raters: list[int]  # the clinicians' user ids


def bench_study_fresh(name: str) -> BenchStudy:
    """Every study's rows and the bench users deleted, then the study ``bench`` made anew."""
    from django.contrib.auth import get_user_model

    from annotations.models import Assignment, Case, ModelArm, Preference, Rating, Response, Study, StudyArm, Submission
    from annotations.services.users import user_create

    for model in (Preference, Rating, Submission, Assignment, Response, Case, StudyArm, Study):
        model.objects.all().delete()
    get_user_model().objects.filter(username__startswith="bench-").delete()
    study = Study.objects.create(name=name, slug="bench")
    arms = [ModelArm.objects.get_or_create(name=f"bench-{arm}", defaults={"method": "baseline", "base_model": "demo"})[0]
            for arm in ARM_NAMES]
    for position, arm in enumerate(arms):
        StudyArm.objects.create(study=study, arm=arm, position=position)
    user_create(username=RESEARCHER, password="bench-pass-123456", role="researcher")
    raters = [user_create(username=f"bench-rater{i:02d}", password="x-bench-pass-1", role="clinician").pk
              for i in range(RATERS)]
    return BenchStudy(study, arms, raters)


def cases_copy(raw, bench: BenchStudy, n_cases: int, *, now: datetime, turns: list[dict], specialty: str = "",
               external_id: str = "case-{:06d}") -> list[int]:
    """``n_cases`` proactive omission-detection test cases; their ids in order."""
    with raw.copy("COPY annotations_case (study_id, external_id, task, category, specialty, split, turns, tables, "
                  "images, question, gold_behavior, label_space, gold_label, reference_response, metadata, "
                  "content_hash, created_at, in_rating_sample, split_assigned, expected, role, planted_problem) "
                  "FROM STDIN") as copy:
        for c in range(n_cases):
            copy.write_row((bench.study.pk, external_id.format(c), "omission_detection", "proactive", specialty, "test",
                            json.dumps(turns), "[]", "[]", None, "proactive", '["flag", "no_flag"]', "flag", "", "{}",
                            f"{c:064d}", now, True, False, "{}", "study", "{}"))
    return [r[0] for r in raw.execute("SELECT id FROM annotations_case WHERE study_id=%s ORDER BY id",
                                      (bench.study.pk,)).fetchall()]


def responses_copy(raw, bench: BenchStudy, case_ids: Sequence[int], *, now: datetime, text_of: Callable[[object], str],
                   provenance: str = "{}") -> dict[int, dict[int, int]]:
    """One response of each arm to each case (``text_of(arm)``); ``{case id: {arm id: response id}}``."""
    with raw.copy("COPY annotations_response (case_id, arm_id, text, raw_text, predicted_behavior, prompt_tokens, "
                  "completion_tokens, latency_s, provenance, names_model, created_at, finish_reason) FROM STDIN") as copy:
        for case_id in case_ids:
            for arm in bench.arms:
                copy.write_row((case_id, arm.pk, text_of(arm), "", "proactive", 400, 42, 1.5, provenance, False, now,
                                "stop"))
    responses: dict[int, dict[int, int]] = {}
    for rid, case_id, arm_id in raw.execute("SELECT id, case_id, arm_id FROM annotations_response").fetchall():
        responses.setdefault(case_id, {})[arm_id] = rid
    return responses


def submissions_copy(raw, bench: BenchStudy) -> list[tuple[int, int]]:
    """One current submission of each of the study's assignments, by its rater at its
    submission time; ``(submission id, case id)`` of each."""
    # Read before the COPY: the connection takes no other query while one runs.
    assignments = raw.execute("SELECT id, rater_id, submitted_at FROM annotations_assignment WHERE study_id=%s",
                              (bench.study.pk,)).fetchall()
    with raw.copy("COPY annotations_submission (assignment_id, revision, is_current, comment, reason, "
                  "submitted_by_id, submitted_at, idempotency_key) FROM STDIN") as copy:
        for aid, rater, submitted in assignments:
            copy.write_row((aid, 1, True, "", "", rater, submitted, ""))
    return raw.execute("SELECT s.id, a.case_id FROM annotations_submission s JOIN annotations_assignment a "
                       "ON a.id = s.assignment_id WHERE a.study_id=%s", (bench.study.pk,)).fetchall()


def rankings_copy(raw, bench: BenchStudy, submissions: Sequence[tuple[int, int]],
                  responses: dict[int, dict[int, int]], rng: random.Random) -> None:
    """Every screen ranked, as the rating page asks: ranks 1 to 3 drawn at random, ties included."""
    with raw.copy("COPY annotations_preference (submission_id, response_id, slot, rank) FROM STDIN") as copy:
        for sid, case_id in submissions:
            for slot, arm in enumerate(bench.arms):
                copy.write_row((sid, responses[case_id][arm.pk], slot, rng.randint(1, 3)))
