"""Every number a user can set is bounded where it is set, so that nothing accepted fails
later: a study's timeout of 2,147,483,647 minutes was saved, and from then on every
rater's next case answered 500 (the release of idle assignments overflowed) twice a
minute. The bounds sit on the model fields (annotations/models/bounds.py), so the
settings page, the Django admin and the API all refuse what is out of range."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
from datetime import timedelta

import pytest
from django import forms
from django.contrib import admin
from django.core.validators import MaxValueValidator, MinValueValidator
from django.test import RequestFactory
from django.utils import timezone
from rest_framework import serializers as drf
from rest_framework.test import APIClient

from annotations import forms as portal_forms
from annotations.api import serializers as api_serializers
from annotations.models import Assignment, GenerationJob, ModelArm, Response, Study
from annotations.services.planner import assignments_plan, assignments_release_idle
from evalportal.roles import CLINICIAN
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.sqlite]


def _bounded_by_model(form_class, name) -> bool:
    model = getattr(getattr(form_class, "_meta", None), "model", None)
    if model is None or name not in {f.name for f in model._meta.get_fields()}:
        return False
    declared = model._meta.get_field(name)._validators
    return (any(isinstance(v, MinValueValidator) for v in declared)
            and any(isinstance(v, MaxValueValidator) for v in declared))


def _unbounded_numbers(form_class) -> list[str]:
    """The number fields of a form that take any value: neither the form field nor the
    model field behind it has both a lower and an upper bound."""
    return [name for name, field in form_class.base_fields.items()
            if isinstance(field, forms.IntegerField | forms.FloatField | forms.DecimalField) and not field.disabled
            and not (field.min_value is not None and field.max_value is not None)
            and not _bounded_by_model(form_class, name)]


def _admin_forms(admin_user):
    request = RequestFactory().get("/admin/")
    request.user = admin_user
    for model, model_admin in admin.site._registry.items():
        if not model._meta.app_label == "annotations":
            continue
        if model_admin.has_change_permission(request) or model_admin.has_add_permission(request):
            yield model.__name__, model_admin.get_form(request)
        for inline in model_admin.get_inline_instances(request):
            if inline.has_change_permission(request) or inline.has_add_permission(request, None):
                yield f"{model.__name__} inline {inline.model.__name__}", inline.get_formset(request).form


def test_every_number_the_admin_can_set_is_bounded(admin_user):
    unbounded = {name: _unbounded_numbers(form) for name, form in _admin_forms(admin_user)}
    assert {name: fields for name, fields in unbounded.items() if fields} == {}


def test_every_number_a_portal_form_takes_is_bounded():
    found = {name: _unbounded_numbers(form) for name, form in inspect.getmembers(portal_forms, inspect.isclass)
             if issubclass(form, forms.BaseForm) and form.__module__ == portal_forms.__name__}
    assert {name: fields for name, fields in found.items() if fields} == {}


def _api_serializer_modules():
    for module in pkgutil.iter_modules(api_serializers.__path__, f"{api_serializers.__name__}."):
        yield importlib.import_module(module.name)


def test_every_number_the_api_takes_is_bounded():
    unbounded = []
    for module in _api_serializer_modules():
        for name, serializer in inspect.getmembers(module, inspect.isclass):
            if not issubclass(serializer, drf.Serializer) or serializer.__module__ != module.__name__ \
                    or name.startswith("_"):
                continue
            for field_name, field in serializer().fields.items():
                if isinstance(field, drf.IntegerField | drf.FloatField | drf.DecimalField) and not field.read_only \
                        and (field.min_value is None or field.max_value is None):
                    unbounded.append(f"{name}.{field_name}")
    assert unbounded == []


# --- the study's settings, on the page and in the admin ----------------------------------

def _settings(study, **overrides):
    data = {"name": study.name, "slug": study.slug, "instructions": "", "consent_text": "", "raters_per_item": "3",
            "seed": "7", "assignment_timeout_minutes": "120", "gold_rate": "0.1"}
    return {**data, **overrides}


OUT_OF_RANGE = [
    {"assignment_timeout_minutes": "2147483647"}, {"assignment_timeout_minutes": "10081"},
    {"assignment_timeout_minutes": "0"}, {"raters_per_item": "0"}, {"raters_per_item": "51"},
    {"seed": str(2**32)}, {"seed": "-1"}, {"gold_rate": "0.9"}, {"gold_rate": "-0.1"}, {"gold_rate": "nan"},
    {"gold_rate": "inf"},
]


@pytest.mark.parametrize("overrides", OUT_OF_RANGE)
def test_the_settings_page_refuses_a_number_out_of_range_and_changes_nothing(rated_study, researcher_client,
                                                                             overrides):
    before = Study.objects.filter(pk=rated_study.pk).values().get()
    page = researcher_client.post(f"/studies/{rated_study.slug}/settings/", _settings(rated_study, **overrides))
    assert page.status_code == 400
    assert Study.objects.filter(pk=rated_study.pk).values().get() == before


def test_the_settings_page_takes_the_bounds_themselves(rated_study, researcher_client):
    page = researcher_client.post(f"/studies/{rated_study.slug}/settings/", _settings(
        rated_study, assignment_timeout_minutes="10080", seed=str(2**32 - 1), raters_per_item="50", gold_rate="0.5"))
    assert page.status_code == 302
    rated_study.refresh_from_db()
    assert (rated_study.assignment_timeout_minutes, rated_study.seed, rated_study.raters_per_item,
            rated_study.gold_rate) == (10080, 2**32 - 1, 50, 0.5)


def _admin_study(study, **overrides):
    data = {"name": study.name, "slug": study.slug, "instructions": "", "consent_text": "", "gold_rate": "0",
            "rubric": json.dumps(study.rubric), "raters_per_item": "3", "seed": "7",
            "assignment_timeout_minutes": "120", "extra_tasks": "[]", "planted_reading_job": "",
            "study_arms-TOTAL_FORMS": "0", "study_arms-INITIAL_FORMS": "0", "study_arms-MIN_NUM_FORMS": "0",
            "study_arms-MAX_NUM_FORMS": "1000"}
    return {**data, **overrides}


@pytest.mark.parametrize("overrides", OUT_OF_RANGE)
def test_the_admin_refuses_a_study_number_out_of_range(admin_client_, overrides):
    study = Study.objects.create(name="Draft", slug="draft-bounds")
    before = Study.objects.filter(pk=study.pk).values().get()
    page = admin_client_.post(f"/admin/annotations/study/{study.pk}/change/", _admin_study(study, **overrides))
    assert page.status_code == 200 and "errornote" in page.content.decode()
    assert Study.objects.filter(pk=study.pk).values().get() == before


def test_a_study_at_the_longest_timeout_still_releases_and_serves_next_cases(rated_study, clinician,
                                                                           clinician_client):
    Study.objects.filter(pk=rated_study.pk).update(assignment_timeout_minutes=10080)
    assignments_plan(study=rated_study, raters=[clinician, UserFactory(role=CLINICIAN)])
    idle = Assignment.objects.filter(rater=clinician).first()
    Assignment.objects.filter(pk=idle.pk).update(shown_at=timezone.now() - timedelta(days=8),
                                                 status=Assignment.Status.IN_PROGRESS)
    assert assignments_release_idle(study=None) == 1
    assert clinician_client.get("/rate/next/").status_code == 302


# --- arms, assignments, responses and jobs in the admin -------------------------------------

def _arm_form(**overrides):
    data = {"name": "Local", "method": "baseline", "uses_behavior_tokens": "", "prompt_template": "",
            "decoding_params": "{}", "description": "", "base_model": "demo", "adapter_path": "",
            "checkpoint_hash": "", "endpoint_url": "", "served_model": "", "api_key_env": "", "max_concurrency": "8"}
    return {**data, **overrides}


@pytest.mark.parametrize("overrides", [
    {"max_concurrency": "0"}, {"max_concurrency": "257"},
    {"decoding_params": '{"max_new_tokens": 1000000000}'}, {"decoding_params": '{"max_new_tokens": 1.5}'},
    {"decoding_params": '{"temperature": "hot"}'}, {"decoding_params": '{"top_p": 2}'},
    {"decoding_params": '{"do_sample": "yes"}'}, {"decoding_params": "[1, 2]"},
])
def test_the_admin_refuses_an_arm_number_out_of_range(admin_client_, overrides):
    page = admin_client_.post("/admin/annotations/modelarm/add/", _arm_form(**overrides))
    assert page.status_code == 200 and "errornote" in page.content.decode()
    assert not ModelArm.objects.exists()


def test_the_admin_registers_an_arm_within_the_bounds(admin_client_):
    page = admin_client_.post("/admin/annotations/modelarm/add/", _arm_form(
        max_concurrency="256", decoding_params='{"max_new_tokens": 4096, "temperature": 0.7, "do_sample": true, '
                                               '"top_k": 40}'))
    assert page.status_code == 302
    assert ModelArm.objects.get().decoding_params["max_new_tokens"] == 4096


def test_the_api_refuses_an_arm_number_out_of_range(admin_user):
    admin_api = APIClient()
    admin_api.force_login(admin_user)
    for payload in ({"max_concurrency": 0}, {"decoding_params": {"max_new_tokens": 5000}},
                    {"decoding_params": {"temperature": 2.5}}):
        response = admin_api.post("/api/arms/", {"name": "Served", "method": "baseline", "base_model": "demo",
                                                 **payload}, format="json")
        assert response.status_code == 400, payload
    assert not ModelArm.objects.exists()


def _change(admin_client_, obj, data: dict):
    name = type(obj).__name__.lower()
    return admin_client_.post(f"/admin/annotations/{name}/{obj.pk}/change/", data)


@pytest.mark.parametrize(("field", "value"), [("active_seconds", "-5"), ("active_seconds", "1e12"),
                                              ("queue_position", "100000000"), ("square_row", "26")])
def test_the_admin_refuses_an_assignment_number_out_of_range(rated_study, clinician, admin_client_, field, value):
    assignments_plan(study=rated_study, raters=[clinician])
    assignment = Assignment.objects.filter(rater=clinician).first()
    before = Assignment.objects.filter(pk=assignment.pk).values().get()
    data = {"study": rated_study.pk, "case": assignment.case_id, "rater": clinician.pk,
            "slots": json.dumps(assignment.slots), "square_row": "0", "queue_position": "0", "status": "pending",
            "draft": "{}", "active_seconds": "0", field: value}
    page = _change(admin_client_, assignment, data)
    assert page.status_code == 200 and "errornote" in page.content.decode()
    assert Assignment.objects.filter(pk=assignment.pk).values().get() == before


@pytest.mark.parametrize(("field", "value"), [("latency_s", "-1"), ("latency_s", "nan"),
                                              ("completion_tokens", "1000000000"), ("prompt_tokens", "-1")])
def test_the_admin_refuses_a_response_number_out_of_range(rated_study, admin_client_, field, value):
    response = Response.objects.filter(case__study=rated_study).first()
    before = Response.objects.filter(pk=response.pk).values().get()
    data = {"case": response.case_id, "arm": response.arm_id, "job": "", "text": response.text,
            "raw_text": response.raw_text, "predicted_behavior": "", "prompt_tokens": "10",
            "completion_tokens": "20", "latency_s": "0.5", "provenance": "{}", "reading": "null", field: value}
    page = _change(admin_client_, response, data)
    assert page.status_code == 200 and "errornote" in page.content.decode()
    assert Response.objects.filter(pk=response.pk).values().get() == before


def test_the_admin_refuses_a_generation_seed_numpy_cannot_take(rated_study, admin_client_):
    arm = rated_study.study_arms.first().arm
    job = GenerationJob.objects.create(study=rated_study, arm=arm)
    data = {"study": rated_study.pk, "arm": arm.pk, "status": "queued", "selection": "{}", "decoding_params": "{}",
            "seed": str(2**32), "created_by": ""}
    page = _change(admin_client_, job, data)
    assert page.status_code == 200 and "errornote" in page.content.decode()
    assert GenerationJob.objects.get(pk=job.pk).seed == 0


# --- what was stored before the bounds ---------------------------------------------------

def test_the_migration_brings_stored_numbers_within_the_bounds(rated_study):
    from django.apps import apps

    migration = importlib.import_module("annotations.migrations.0020_bounded_numbers")
    Study.objects.filter(pk=rated_study.pk).update(assignment_timeout_minutes=2147483647, raters_per_item=0,
                                                   gold_rate=0.9)
    arm = ModelArm.objects.create(name="Served", method="baseline", endpoint_url="http://gpu-node:8000/v1",
                                  served_model="m", max_concurrency=5000)
    migration.clamp_stored_numbers(apps, None)
    rated_study.refresh_from_db()
    arm.refresh_from_db()
    assert (rated_study.assignment_timeout_minutes, rated_study.raters_per_item, rated_study.gold_rate,
            arm.max_concurrency) == (10080, 1, 0.5, 256)
    assert assignments_release_idle(study=rated_study) == 0
