"""Fixtures of the REST API tests: a client per role and a small world with every kind
of object the API serves (own and foreign assignments, ratings with a revision, queued
and failed jobs)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from rest_framework.test import APIClient

from annotations.job_kinds import kind_of
from annotations.models import (
    Assignment,
    Case,
    GenerationJob,
    JobStatus,
    JudgeJob,
    ModelArm,
    Response,
    Study,
    TrainingJob,
)
from annotations.services.rating import assignment_submit, submission_revise
from evalportal.roles import CLINICIAN
from tests.conftest import complete_rating
from tests.factories import UserFactory

ROLES = ("anonymous", "clinician", "researcher", "admin")


@pytest.fixture
def api_client_for(clinician, researcher, admin_user):
    """``api_client_for(role)``: an APIClient logged in (session) as that role, or anonymous."""
    users = {"clinician": clinician, "researcher": researcher, "admin": admin_user}

    def make(role: str) -> APIClient:
        client = APIClient()
        if role != "anonymous":
            client.force_login(users[role])
        return client

    return make


@pytest.fixture
def researcher_api(api_client_for) -> APIClient:
    return api_client_for("researcher")


@pytest.fixture
def admin_api(api_client_for) -> APIClient:
    return api_client_for("admin")


@pytest.fixture
def clinician_api(api_client_for) -> APIClient:
    return api_client_for("clinician")


@dataclass
class World:
    study: Study
    case: Case
    arm: ModelArm
    response: Response
    own: Assignment  # the ``clinician`` fixture's
    other: Assignment  # another clinician's, submitted and then revised
    other_rater: object
    gen_queued: GenerationJob
    gen_failed: GenerationJob
    train_queued: TrainingJob
    train_failed: TrainingJob
    judge_queued: JudgeJob
    judge_failed: JudgeJob

    def ids(self) -> dict:
        return {"study": self.study.slug, "case": self.case.pk, "arm": self.arm.pk, "response": self.response.pk,
                "own": self.own.pk, "other": self.other.pk, "gen_queued": self.gen_queued.pk,
                "gen_failed": self.gen_failed.pk, "train_queued": self.train_queued.pk,
                "train_failed": self.train_failed.pk, "judge_queued": self.judge_queued.pk,
                "judge_failed": self.judge_failed.pk}


def _with_chunk(job):
    """A job as the services leave it: with its chunk, in the job's state (a retry sends it)."""
    kind_of(job).chunk_model.objects.create(job=job, index=0, units=job.progress_total, status=job.status,
                                            error=job.error)
    return job


def _slots(case: Case) -> list[int]:
    return list(case.responses.order_by("id").values_list("pk", flat=True))


@pytest.fixture
def world(rated_study, clinician, admin_user) -> World:
    study = rated_study
    arm = study.study_arms.order_by("position").first().arm
    case0, case1 = study.cases.get(external_id="rc-0"), study.cases.get(external_id="rc-1")
    own = Assignment.objects.create(study=study, case=case0, rater=clinician, slots=_slots(case0), queue_position=0)
    other_rater = UserFactory(username="other-clin", role=CLINICIAN)
    other = Assignment.objects.create(study=study, case=case1, rater=other_rater, slots=_slots(case1))
    data = complete_rating(len(other.slots), study.rubric, likert="3")
    assignment_submit(assignment=other, rater=other_rater, data=data)
    submission_revise(assignment=other, actor=admin_user, data={**data, "r0_realism": "5"}, reason="typo")
    return World(
        study=study, case=case0, arm=arm, response=case0.responses.filter(arm=arm).get(),
        own=own, other=other, other_rater=other_rater,
        gen_queued=_with_chunk(GenerationJob.objects.create(study=study, arm=arm, progress_total=6)),
        gen_failed=_with_chunk(GenerationJob.objects.create(study=study, arm=arm, status=JobStatus.FAILED,
                                                            error="CUDA OOM")),
        train_queued=_with_chunk(TrainingJob.objects.create(study=study, method="behavior_sft", base_model="demo")),
        train_failed=_with_chunk(TrainingJob.objects.create(study=study, method="general_sft", base_model="demo",
                                                            status=JobStatus.FAILED, error="boom")),
        judge_queued=_with_chunk(JudgeJob.objects.create(study=study, model_ref="demo", dimensions=[])),
        judge_failed=_with_chunk(JudgeJob.objects.create(study=study, model_ref="demo", dimensions=[],
                                                         status=JobStatus.FAILED, error="endpoint overloaded")),
    )
