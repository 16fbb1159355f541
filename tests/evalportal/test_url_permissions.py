"""Every page URL (the API and the Django admin have their own tables) x every role:
the expected status. A new URL without a row here fails the completeness test."""

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from annotations.models import Assignment, DatasetExportJob, GenerationJob, Response
from annotations.models.judge import JudgeJob, JudgeScore
from annotations.services.planner import assignments_plan
from evalportal.roles import ADMIN, CLINICIAN, RESEARCHER
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
ROLES = ("anonymous", CLINICIAN, RESEARCHER, ADMIN)
LOGIN = 302  # anonymous users are sent to the login page

# (url name, method, path template, {role: status}); {own} is the clinician's own
# assignment, {other} another rater's, {job} a generation job of the study.
PAGES = [
    ("home", "get", "/", {"anonymous": LOGIN, CLINICIAN: 302, RESEARCHER: 302, ADMIN: 302}),
    ("healthz", "get", "/healthz", {"anonymous": 200, CLINICIAN: 200, RESEARCHER: 200, ADMIN: 200}),
    ("favicon", "get", "/favicon.ico", {"anonymous": 302, CLINICIAN: 302, RESEARCHER: 302, ADMIN: 302}),
    ("login", "get", "/accounts/login/", {"anonymous": 200, CLINICIAN: 302, RESEARCHER: 302, ADMIN: 302}),
    ("logout", "post", "/accounts/logout/", {"anonymous": 302, CLINICIAN: 302, RESEARCHER: 302, ADMIN: 302}),
    ("password_change", "get", "/accounts/password/change/",
     {"anonymous": LOGIN, CLINICIAN: 200, RESEARCHER: 200, ADMIN: 200}),
    ("password_change_done", "get", "/accounts/password/change/done/",
     {"anonymous": LOGIN, CLINICIAN: 200, RESEARCHER: 200, ADMIN: 200}),
    ("password_reset", "get", "/accounts/password/reset/", {"anonymous": 200, CLINICIAN: 200, RESEARCHER: 200,
                                                            ADMIN: 200}),
    ("password_reset_done", "get", "/accounts/password/reset/sent/",
     {"anonymous": 200, CLINICIAN: 200, RESEARCHER: 200, ADMIN: 200}),
    # A made-up link gets the page that says the link does not work.
    ("password_reset_confirm", "get", "/accounts/password/reset/MQ/bogus-token/",
     {"anonymous": 200, CLINICIAN: 200, RESEARCHER: 200, ADMIN: 200}),
    ("password_reset_complete", "get", "/accounts/password/reset/done/",
     {"anonymous": 200, CLINICIAN: 200, RESEARCHER: 200, ADMIN: 200}),
    ("invitation-accept", "get", "/accounts/invitation/MQ/bogus-token/",
     {"anonymous": 200, CLINICIAN: 200, RESEARCHER: 200, ADMIN: 200}),
    ("invitations", "get", "/accounts/invitations/", {"anonymous": LOGIN, CLINICIAN: 403, RESEARCHER: 200, ADMIN: 200}),
    # Hospital sign-in is off unless it is set up (tests/evalportal/test_oidc.py tests it on).
    ("oidc_authentication_init", "get", "/accounts/hospital/start/",
     {"anonymous": 404, CLINICIAN: 404, RESEARCHER: 404, ADMIN: 404}),
    ("oidc_authentication_callback", "get", "/accounts/hospital/callback/",
     {"anonymous": 404, CLINICIAN: 404, RESEARCHER: 404, ADMIN: 404}),
    ("no-role", "get", "/no-role/", {"anonymous": LOGIN, CLINICIAN: 403, RESEARCHER: 403, ADMIN: 403}),
    ("rater-queue", "get", "/rate/", {"anonymous": LOGIN, CLINICIAN: 200, RESEARCHER: 403, ADMIN: 403}),
    ("rater-next", "get", "/rate/next/", {"anonymous": LOGIN, CLINICIAN: 302, RESEARCHER: 403, ADMIN: 403}),
    ("rater-done", "get", "/rate/done/", {"anonymous": LOGIN, CLINICIAN: 200, RESEARCHER: 403, ADMIN: 403}),
    ("rater-next-in-study", "get", "/rate/studies/{study_id}/next/",
     {"anonymous": LOGIN, CLINICIAN: 302, RESEARCHER: 403, ADMIN: 403}),
    ("rate-case", "get", "/rate/{own}/", {"anonymous": LOGIN, CLINICIAN: 200, RESEARCHER: 403, ADMIN: 403}),
    ("rate-case", "get", "/rate/{other}/", {"anonymous": LOGIN, CLINICIAN: 404, RESEARCHER: 403, ADMIN: 403}),
    # A draft post with none of the form's fields is refused (it would wipe the draft).
    ("rate-draft", "post", "/rate/{own}/draft/", {"anonymous": LOGIN, CLINICIAN: 400, RESEARCHER: 403, ADMIN: 403}),
    ("rate-draft", "post", "/rate/{other}/draft/", {"anonymous": LOGIN, CLINICIAN: 404, RESEARCHER: 403, ADMIN: 403}),
    ("rate-submit", "post", "/rate/{other}/submit/", {"anonymous": LOGIN, CLINICIAN: 404, RESEARCHER: 403, ADMIN: 403}),
    ("rate-submit", "post", "/rate/{own}/submit/", {"anonymous": LOGIN, CLINICIAN: 400, RESEARCHER: 403, ADMIN: 403}),
    # Not submitted yet: its rating page is where it opens.
    ("rater-submitted-case", "get", "/rate/{own}/submitted/",
     {"anonymous": LOGIN, CLINICIAN: 302, RESEARCHER: 403, ADMIN: 403}),
    ("rater-submitted-case", "get", "/rate/{other}/submitted/",
     {"anonymous": LOGIN, CLINICIAN: 404, RESEARCHER: 403, ADMIN: 403}),
    ("rater-correct-case", "get", "/rate/{own}/correct/",
     {"anonymous": LOGIN, CLINICIAN: 302, RESEARCHER: 403, ADMIN: 403}),
    ("rater-correct-case", "post", "/rate/{other}/correct/",
     {"anonymous": LOGIN, CLINICIAN: 404, RESEARCHER: 403, ADMIN: 403}),
    ("study-list", "get", "/studies/", {"anonymous": LOGIN, CLINICIAN: 403, RESEARCHER: 200, ADMIN: 200}),
    ("study-new", "get", "/studies/new/", {"anonymous": LOGIN, CLINICIAN: 403, RESEARCHER: 200, ADMIN: 200}),
    # No rubric posted: the fragment lists the problem.
    ("rubric-preview", "post", "/studies/new/rubric-preview/",
     {"anonymous": LOGIN, CLINICIAN: 403, RESEARCHER: 200, ADMIN: 200}),
    ("study-edit", "get", "/studies/{study}/settings/", {"anonymous": LOGIN, CLINICIAN: 403, RESEARCHER: 200,
                                                         ADMIN: 200}),
    ("study-detail", "get", "/studies/{study}/", {"anonymous": LOGIN, CLINICIAN: 403, RESEARCHER: 200, ADMIN: 200}),
    # No status posted: refused with a message, nothing changed.
    ("study-status", "post", "/studies/{study}/status/", {"anonymous": LOGIN, CLINICIAN: 403, RESEARCHER: 302,
                                                         ADMIN: 302}),
    ("rater-instructions", "get", "/rate/studies/{study_id}/instructions/",
     {"anonymous": LOGIN, CLINICIAN: 200, RESEARCHER: 403, ADMIN: 403}),
    ("rater-consent", "get", "/rate/studies/{study_id}/consent/",
     {"anonymous": LOGIN, CLINICIAN: 200, RESEARCHER: 403, ADMIN: 403}),
    # The study has no practice case: on to rating.
    ("rater-practice", "get", "/rate/studies/{study_id}/practice/",
     {"anonymous": LOGIN, CLINICIAN: 302, RESEARCHER: 403, ADMIN: 403}),
    ("rater-practice-case", "get", "/rate/studies/{study_id}/practice/1/",
     {"anonymous": LOGIN, CLINICIAN: 404, RESEARCHER: 403, ADMIN: 403}),
    ("rater-practice-feedback", "get", "/rate/studies/{study_id}/practice/1/feedback/",
     {"anonymous": LOGIN, CLINICIAN: 404, RESEARCHER: 403, ADMIN: 403}),
    ("study-plan", "post", "/studies/{study}/plan/", {"anonymous": LOGIN, CLINICIAN: 403, RESEARCHER: 302, ADMIN: 302}),
    ("study-sample", "post", "/studies/{study}/sample/", {"anonymous": LOGIN, CLINICIAN: 403, RESEARCHER: 302,
                                                         ADMIN: 302}),
    ("job-list", "get", "/studies/{study}/jobs/", {"anonymous": LOGIN, CLINICIAN: 403, RESEARCHER: 200, ADMIN: 200}),
    # An empty form is refused: the page again, with the form's errors (400).
    ("job-queue-generation", "post", "/studies/{study}/jobs/generation/",
     {"anonymous": LOGIN, CLINICIAN: 403, RESEARCHER: 403, ADMIN: 400}),
    ("job-queue-training", "post", "/studies/{study}/jobs/training/",
     {"anonymous": LOGIN, CLINICIAN: 403, RESEARCHER: 403, ADMIN: 400}),
    ("job-action", "post", "/studies/{study}/jobs/generation/{job}/cancel/",
     {"anonymous": LOGIN, CLINICIAN: 403, RESEARCHER: 403, ADMIN: 302}),
    ("response-list", "get", "/studies/{study}/responses/", {"anonymous": LOGIN, CLINICIAN: 403, RESEARCHER: 200, ADMIN: 200}),
    ("case-expected", "get", "/studies/{study}/cases/{case}/expected/",
     {"anonymous": LOGIN, CLINICIAN: 403, RESEARCHER: 200, ADMIN: 200}),
    ("dashboard-sensitivity", "get", "/studies/{study}/dashboard/sensitivity/?exclude={other_id}",
     {"anonymous": LOGIN, CLINICIAN: 403, RESEARCHER: 200, ADMIN: 200}),
    ("rater-list", "get", "/studies/{study}/raters/", {"anonymous": LOGIN, CLINICIAN: 403, RESEARCHER: 200, ADMIN: 200}),
    ("rater-action", "post", "/studies/{study}/raters/{other_id}/pause/",
     {"anonymous": LOGIN, CLINICIAN: 403, RESEARCHER: 302, ADMIN: 302}),
    ("harm-list", "get", "/studies/{study}/harms/", {"anonymous": LOGIN, CLINICIAN: 403, RESEARCHER: 200, ADMIN: 200}),
    # No decision posted: refused with a message, nothing recorded.
    ("harm-decision", "post", "/studies/{study}/harms/1/", {"anonymous": LOGIN, CLINICIAN: 403, RESEARCHER: 302,
                                                           ADMIN: 302}),
    ("dashboard", "get", "/studies/{study}/dashboard/", {"anonymous": LOGIN, CLINICIAN: 403, RESEARCHER: 200, ADMIN: 200}),
    ("dashboard-recompute", "post", "/studies/{study}/dashboard/recompute/",
     {"anonymous": LOGIN, CLINICIAN: 403, RESEARCHER: 302, ADMIN: 302}),
    ("dashboard-planted-reading", "post", "/studies/{study}/dashboard/planted-reading/",
     {"anonymous": LOGIN, CLINICIAN: 403, RESEARCHER: 302, ADMIN: 302}),
    ("dashboard-figure-csv", "get", "/studies/{study}/dashboard/means.csv",
     {"anonymous": LOGIN, CLINICIAN: 403, RESEARCHER: 404, ADMIN: 404}),  # 404: nothing computed yet
    ("ratings-export", "get", "/studies/{study}/export/ratings.csv",
     {"anonymous": LOGIN, CLINICIAN: 403, RESEARCHER: 200, ADMIN: 200}),
    ("rankings-export", "get", "/studies/{study}/export/rankings.parquet",
     {"anonymous": LOGIN, CLINICIAN: 403, RESEARCHER: 200, ADMIN: 200}),
    ("dpo-pairs-export", "get", "/studies/{study}/export/dpo-pairs/?format=jsonl",
     {"anonymous": LOGIN, CLINICIAN: 403, RESEARCHER: 200, ADMIN: 200}),
    # No licence chosen: the study page again with the form's error, nothing queued.
    ("dataset-export-queue", "post", "/studies/{study}/export/dataset/",
     {"anonymous": LOGIN, CLINICIAN: 403, RESEARCHER: 400, ADMIN: 400}),
    ("dataset-export-download", "get", "/studies/{study}/export/dataset/{dataset_job}.zip",
     {"anonymous": LOGIN, CLINICIAN: 403, RESEARCHER: 404, ADMIN: 404}),  # 404: not written yet
    ("judge", "get", "/studies/{study}/judge/", {"anonymous": LOGIN, CLINICIAN: 403, RESEARCHER: 200, ADMIN: 200}),
    ("judge-queue", "post", "/studies/{study}/judge/queue/",
     {"anonymous": LOGIN, CLINICIAN: 403, RESEARCHER: 403, ADMIN: 302}),
    ("judge-job-action", "post", "/studies/{study}/judge/{judge_job}/cancel/",
     {"anonymous": LOGIN, CLINICIAN: 403, RESEARCHER: 403, ADMIN: 302}),
    ("judge-job-action", "post", "/studies/{study}/judge/{judge_job}/analyse/",
     {"anonymous": LOGIN, CLINICIAN: 403, RESEARCHER: 302, ADMIN: 302}),
    ("judge-figure-csv", "get", "/studies/{study}/judge/{judge_job}/density.csv",
     {"anonymous": LOGIN, CLINICIAN: 403, RESEARCHER: 404, ADMIN: 404}),  # 404: not analysed yet
    ("judge-scores-export", "get", "/studies/{study}/judge/{judge_job}/scores.jsonl",
     {"anonymous": LOGIN, CLINICIAN: 403, RESEARCHER: 200, ADMIN: 200}),
    ("judge-score-detail", "get", "/studies/{study}/judge/scores/{judge_score}/",
     {"anonymous": LOGIN, CLINICIAN: 403, RESEARCHER: 200, ADMIN: 200}),
]


def _page_names() -> set[str]:
    names: set[str] = set()

    def walk(patterns, prefix=""):
        for p in patterns:
            if isinstance(p, URLResolver):
                if str(p.pattern).startswith(("admin/", "api/")):
                    continue
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern) and p.name:
                names.add(p.name)

    walk(get_resolver().url_patterns)
    return names


def test_every_page_url_has_a_row():
    assert _page_names() - {name for name, *_ in PAGES} == set()


@pytest.fixture
def world(rated_study):
    clinician = UserFactory(username="clin", role=CLINICIAN)
    other = UserFactory(username="other", role=CLINICIAN)
    assignments_plan(study=rated_study, raters=[clinician, other])
    job = GenerationJob.objects.create(study=rated_study, arm=rated_study.study_arms.first().arm)
    judge_job = JudgeJob.objects.create(study=rated_study, model_ref="demo", dimensions=[{"key": "realism"}])
    dataset_job = DatasetExportJob.objects.create(study=rated_study, license="cc-by-4.0")
    judge_score = JudgeScore.objects.create(job=judge_job, response=Response.objects.filter(
        case__study=rated_study).first(), dimension="realism", score=3.0, method="logits")
    return {
        "users": {CLINICIAN: clinician, RESEARCHER: UserFactory(role=RESEARCHER), ADMIN: UserFactory(role=ADMIN)},
        "own": Assignment.objects.filter(rater=clinician).first().pk,
        "other": Assignment.objects.filter(rater=other).first().pk,
        "study": rated_study.slug, "study_id": rated_study.pk, "other_id": other.pk, "case": rated_study.cases.first().pk, "job": job.pk, "judge_job": judge_job.pk, "judge_score": judge_score.pk,
        "dataset_job": dataset_job.pk,
    }


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("name", "method", "path", "expected"), PAGES,
                         ids=[f"{m.upper()} {p}" for _, m, p, _ in PAGES])
def test_page_status_for_role(world, monkeypatch, role, name, method, path, expected):
    from annotations.services import aggregation, jobs

    # Queue calls would reach Redis; here only who may call them matters.
    monkeypatch.setattr(jobs, "tasks_send", lambda name, *, args_list, **options: ["task-id"] * len(args_list))
    monkeypatch.setattr(aggregation, "_queue_task", lambda study_id, countdown: True)
    client = Client()
    if role != "anonymous":
        client.force_login(world["users"][role])
    url = path.format(**world)
    response = getattr(client, method)(url)
    assert response.status_code == expected[role], (role, url, response.status_code)
    if expected[role] == LOGIN and role == "anonymous" and name not in ("logout", "favicon"):
        assert response["Location"].startswith("/accounts/login/")
