"""Every API route x every role: the status each gets. A clinician reaches only their own
assignments; researchers read everything; only admins queue, cancel and retry jobs."""

from __future__ import annotations

import json

import pytest
from django.urls import get_resolver, resolve

from annotations.api import urls as api_urls
from annotations.models import GenerationJob, JudgeJob, TrainingJob
from tests.annotations.api.conftest import ROLES

pytestmark = pytest.mark.django_db

# expected status by role, in ROLES order: anonymous, clinician, researcher, admin
READ = (401, 403, 200, 200)
NOT_ALLOWED = (401, 403, 405, 405)  # a method a read-only endpoint does not have
ADMIN_WRITE_CREATED = (401, 403, 403, 201)
ADMIN_WRITE = (401, 403, 403, 200)
JOB_NOT_ALLOWED = (401, 403, 403, 405)
ANY_ROLE = (401, 200, 200, 200)

GENERATION = {"study": "{study}", "arm": "{arm}", "cases": ["rc-0", "rc-1"], "max_new_tokens": 32}
TRAINING = {"study": "{study}", "method": "behavior_sft", "base_model": "demo", "hyperparameters": {"epochs": 1}}
# The world's study is open, and an open study's arms are fixed: the arm is registered on its own.
ENDPOINT_ARM = {"name": "Served", "method": "baseline", "endpoint_url": "http://vllm:8000/v1", "served_model": "m"}
JUDGE = {"study": "{study}", "dimensions": ["realism"], "params": {"use_reference": True}}

ROUTES = [
    ("GET", "/api/", None, READ),  # the endpoints and the docs' address
    ("GET", "/api/no-such-endpoint/", None, (404, 404, 404, 404)),  # a JSON 404 for everyone
    ("GET", "/api/studies/", None, READ),
    ("GET", "/api/studies/{study}/", None, READ),
    ("GET", "/api/studies/{study}/analysis/", None, READ),
    ("DELETE", "/api/studies/{study}/", None, NOT_ALLOWED),
    ("POST", "/api/studies/", {"slug": "new"}, NOT_ALLOWED),
    ("GET", "/api/cases/", None, READ),
    ("GET", "/api/cases/{case}/", None, READ),
    ("PATCH", "/api/cases/{case}/", {"gold_label": "x"}, NOT_ALLOWED),
    ("GET", "/api/arms/", None, READ),
    ("GET", "/api/arms/{arm}/", None, READ),
    ("POST", "/api/arms/", ENDPOINT_ARM, ADMIN_WRITE_CREATED),
    ("PUT", "/api/arms/{arm}/", {"name": "x"}, JOB_NOT_ALLOWED),
    ("GET", "/api/responses/", None, READ),
    ("GET", "/api/responses/{response}/", None, READ),
    ("DELETE", "/api/responses/{response}/", None, NOT_ALLOWED),
    ("GET", "/api/ratings/", None, READ),
    ("GET", "/api/ratings/?revisions=all", None, READ),
    ("POST", "/api/ratings/", {"score": 5}, NOT_ALLOWED),
    ("GET", "/api/rankings/", None, READ),
    ("GET", "/api/rankings/?revisions=all", None, READ),
    ("POST", "/api/rankings/", {"rank": 1}, NOT_ALLOWED),
    ("GET", "/api/studies/{study}/dpo-pairs/", None, READ),
    ("POST", "/api/studies/{study}/dpo-pairs/", {"min_raters": 2}, NOT_ALLOWED),
    ("GET", "/api/generation-jobs/", None, READ),
    ("GET", "/api/generation-jobs/{gen_queued}/", None, READ),
    ("POST", "/api/generation-jobs/", GENERATION, ADMIN_WRITE_CREATED),
    ("POST", "/api/generation-jobs/{gen_queued}/cancel/", None, ADMIN_WRITE),
    ("POST", "/api/generation-jobs/{gen_failed}/retry/", None, ADMIN_WRITE),
    ("DELETE", "/api/generation-jobs/{gen_queued}/", None, JOB_NOT_ALLOWED),
    ("GET", "/api/training-jobs/", None, READ),
    ("GET", "/api/training-jobs/{train_queued}/", None, READ),
    ("POST", "/api/training-jobs/", TRAINING, ADMIN_WRITE_CREATED),
    ("POST", "/api/training-jobs/{train_queued}/cancel/", None, ADMIN_WRITE),
    ("POST", "/api/training-jobs/{train_failed}/retry/", None, ADMIN_WRITE),
    ("PATCH", "/api/training-jobs/{train_queued}/", {"status": "succeeded"}, JOB_NOT_ALLOWED),
    ("GET", "/api/judge-jobs/", None, READ),
    ("GET", "/api/judge-jobs/{judge_queued}/", None, READ),
    ("POST", "/api/judge-jobs/", JUDGE, ADMIN_WRITE_CREATED),
    ("POST", "/api/judge-jobs/{judge_queued}/cancel/", None, ADMIN_WRITE),
    ("POST", "/api/judge-jobs/{judge_failed}/retry/", None, ADMIN_WRITE),
    ("DELETE", "/api/judge-jobs/{judge_queued}/", None, JOB_NOT_ALLOWED),
    ("GET", "/api/assignments/", None, ANY_ROLE),
    ("GET", "/api/assignments/{own}/", None, ANY_ROLE),
    ("GET", "/api/assignments/{other}/", None, (401, 404, 200, 200)),
    ("POST", "/api/assignments/", {"study": "{study}"}, (401, 405, 405, 405)),
    ("DELETE", "/api/assignments/{own}/", None, (401, 405, 405, 405)),
    ("GET", "/api/schema/", None, READ),  # it names arm methods and fields: not for clinicians
    ("GET", "/api/docs/", None, (302, 403, 200, 200)),
    ("GET", "/api/docs/?script=", None, (302, 403, 200, 200)),
    ("POST", "/api/token/", {}, (400, 400, 400, 400)),  # no credentials: a clear 400 for everyone
]


def _fill(value, ids: dict):
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(("method", "path", "body", "expected"), ROUTES,
                         ids=[f"{m} {p}" for m, p, _, _ in ROUTES])
def test_route_by_role(request, world, api_client_for, role, method, path, body, expected):
    queues = method == "POST" and path.endswith(("-jobs/", "/retry/")) and role == "admin"
    if queues:
        request.getfixturevalue("clean_broker")
    ids = world.ids()
    jobs_before = (GenerationJob.objects.count(), TrainingJob.objects.count(), JudgeJob.objects.count())
    client = api_client_for(role)
    kwargs = {"data": json.dumps(_fill(body, ids)), "content_type": "application/json"} if body is not None else {}
    response = client.generic(method, _fill(path, ids), **kwargs)
    wanted = expected[ROLES.index(role)]
    assert response.status_code == wanted, (role, method, path, getattr(response, "data", response.content[:300]))
    if wanted == 401:
        assert response["WWW-Authenticate"] == "Token"
    if wanted == 302:
        assert response["Location"].startswith("/accounts/login/?next=/api/docs/")
    if method == "POST" and role != "admin":
        assert (GenerationJob.objects.count(), TrainingJob.objects.count(), JudgeJob.objects.count()) == jobs_before


def test_the_table_covers_every_api_route():
    """A new route without a row in ROUTES fails here."""
    covered = {resolve(path.split("?")[0].format(study="s", case=1, arm=1, response=1, own=1, other=1, gen_queued=1,
                                                 gen_failed=1, train_queued=1, train_failed=1, judge_queued=1,
                                                 judge_failed=1)).view_name
               for _, path, _, _ in ROUTES}
    resolver = get_resolver(api_urls)
    names = set()
    for pattern in resolver.url_patterns:
        if hasattr(pattern, "url_patterns"):  # the router, in the "api" namespace
            names |= {f"api:{p.name}" for p in pattern.url_patterns}
        else:
            names.add(pattern.name)
    assert names - covered == set()
