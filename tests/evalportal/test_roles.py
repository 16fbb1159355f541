"""Roles as groups: each role lands where it works, and the admin is for admins only."""

import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from annotations.models import AuditEvent
from evalportal.roles import ADMIN, CLINICIAN, RESEARCHER, user_role
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("role", "target"), [(CLINICIAN, "/rate/"), (RESEARCHER, "/studies/"), (ADMIN, "/studies/")])
@pytest.mark.sqlite
def test_home_sends_each_role_where_it_works(role, target):
    client = Client()
    client.force_login(UserFactory(role=role))
    response = client.get("/")
    assert response.status_code == 302 and response["Location"] == target
    assert client.get(target).status_code == 200


def test_anonymous_home_goes_to_login():
    response = Client().get("/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_user_without_role_is_told_so():
    user = get_user_model().objects.create_user("nobody", password="pw-for-tests-123")
    client = Client()
    client.force_login(user)
    response = client.get("/", follow=True)
    assert response.status_code == 403
    assert "no role" in response.content.decode()


def test_login_with_password_then_logout():
    UserFactory(username="dr_lee", role=CLINICIAN)
    client = Client()
    response = client.post("/accounts/login/", {"username": "dr_lee", "password": "pw-for-tests-123"})
    assert response.status_code == 302 and response["Location"] == "/"
    assert client.get("/rate/").status_code == 200
    client.post("/accounts/logout/")
    assert client.get("/rate/").status_code == 302


def test_wrong_password_is_refused_with_a_message():
    UserFactory(username="dr_lee", role=CLINICIAN)
    response = Client().post("/accounts/login/", {"username": "dr_lee", "password": "wrong"})
    assert response.status_code == 200
    assert "didn't match" in response.content.decode()


class TestCreateUserCommand:
    @pytest.mark.parametrize("role", [CLINICIAN, RESEARCHER, ADMIN])
    def test_creates_a_user_with_the_role(self, role):
        out = io.StringIO()
        call_command("create_user", "dr_ash", "--role", role, "--password", "a-long-passphrase-42", stdout=out)
        user = get_user_model().objects.get(username="dr_ash")
        assert user_role(user) == role
        assert user.check_password("a-long-passphrase-42")
        assert user.is_staff is (role == ADMIN)
        assert AuditEvent.objects.filter(action="user.role", object_id=str(user.pk)).exists()

    def test_refuses_a_weak_password_an_unknown_role_and_a_taken_name(self):
        with pytest.raises(CommandError, match="Password refused"):
            call_command("create_user", "dr_ash", "--role", CLINICIAN, "--password", "123")
        with pytest.raises(CommandError):
            call_command("create_user", "dr_ash", "--role", "surgeon", "--password", "a-long-passphrase-42")
        call_command("create_user", "dr_ash", "--role", CLINICIAN, "--password", "a-long-passphrase-42",
                     stdout=io.StringIO())
        with pytest.raises(CommandError, match="already exists"):
            call_command("create_user", "dr_ash", "--role", ADMIN, "--password", "a-long-passphrase-42")
        assert user_role(get_user_model().objects.get(username="dr_ash")) == CLINICIAN


ADMIN_PAGES = [
    "admin:index",
    "admin:annotations_study_changelist", "admin:annotations_study_add",
    "admin:annotations_case_changelist", "admin:annotations_case_import",
    "admin:annotations_modelarm_changelist", "admin:annotations_modelarm_add",
    "admin:annotations_generationjob_changelist", "admin:annotations_trainingjob_changelist",
    "admin:annotations_response_changelist", "admin:annotations_assignment_changelist",
    "admin:annotations_submission_changelist", "admin:annotations_rating_changelist",
    "admin:annotations_preference_changelist", "admin:annotations_auditevent_changelist",
    "admin:annotations_studyrater_changelist", "admin:annotations_invitation_changelist",
    "admin:annotations_harmdecision_changelist", "admin:annotations_practiceattempt_changelist",
    "admin:auth_user_changelist",
]


@pytest.mark.parametrize("name", ADMIN_PAGES)
def test_admin_pages_load_for_admins(admin_client_, name):
    assert admin_client_.get(reverse(name)).status_code == 200


@pytest.mark.parametrize("name", ADMIN_PAGES)
@pytest.mark.parametrize("role", [CLINICIAN, RESEARCHER])
def test_admin_pages_are_refused_to_other_roles(role, name):
    client = Client()
    client.force_login(UserFactory(role=role))
    response = client.get(reverse(name))
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


def test_admin_lists_with_filters_and_search_load_with_data(admin_client_, study, example_cases_bytes):
    from annotations.services.cases import case_import

    case_import(study=study, data=example_cases_bytes)
    response = admin_client_.get(reverse("admin:annotations_case_changelist") + "?category=proactive&q=example")
    html = response.content.decode()
    assert response.status_code == 200
    assert "example-omission-001" in html and "example-ddx-001" not in html


def test_audit_events_cannot_be_edited_in_admin(admin_client_, study, example_cases_bytes):
    from annotations.services.cases import case_import

    case_import(study=study, data=example_cases_bytes)
    event = AuditEvent.objects.get(action="cases.import")
    url = reverse("admin:annotations_auditevent_change", args=[event.pk])
    assert admin_client_.post(url, {"summary": "forged"}).status_code == 403
    event.refresh_from_db()
    assert event.summary != "forged"
    with pytest.raises(RuntimeError):
        event.save()


@pytest.mark.parametrize(("url", "roles_ok"), [("/studies/", {RESEARCHER, ADMIN}), ("/rate/", {CLINICIAN})])
@pytest.mark.sqlite
def test_role_pages_refuse_other_roles(url, roles_ok):
    for role in (CLINICIAN, RESEARCHER, ADMIN):
        client = Client()
        client.force_login(UserFactory(role=role))
        assert client.get(url).status_code == (200 if role in roles_ok else 403), role


@pytest.mark.sqlite
def test_a_role_change_applies_to_a_signed_in_user_at_once():
    from annotations.services.users import user_create, user_set_role

    user = user_create(username="switcher", password="pw-for-tests-123", role=CLINICIAN)
    client = Client()
    assert client.post("/accounts/login/", {"username": "switcher", "password": "pw-for-tests-123"}).status_code == 302
    assert client.get("/rate/").status_code == 200 and client.get("/studies/").status_code == 403

    user_set_role(user=user, role=RESEARCHER)
    assert client.get("/rate/").status_code == 403 and client.get("/studies/").status_code == 200

    user.groups.clear()
    assert client.get("/studies/").status_code == 403


@pytest.mark.sqlite
def test_the_session_user_and_role_come_in_one_query(django_assert_num_queries):
    from evalportal.roles import RoleAwareModelBackend

    user = UserFactory(role=RESEARCHER)
    with django_assert_num_queries(1):
        loaded = RoleAwareModelBackend().get_user(user.pk)
        assert user_role(loaded) == RESEARCHER
    inactive = UserFactory(role=CLINICIAN, is_active=False)
    assert RoleAwareModelBackend().get_user(inactive.pk) is None
    assert RoleAwareModelBackend().get_user(10**9) is None


@pytest.mark.sqlite
def test_a_user_put_in_several_role_groups_has_the_highest_role():
    from django.contrib.auth.models import Group

    from evalportal.roles import RoleAwareModelBackend, ensure_role_groups

    groups = ensure_role_groups()
    user = UserFactory(role=CLINICIAN)
    user.groups.add(groups[RESEARCHER], Group.objects.create(name="ward-7"))
    assert user_role(RoleAwareModelBackend().get_user(user.pk)) == RESEARCHER
    fresh = get_user_model().objects.get(pk=user.pk)
    assert user_role(fresh) == RESEARCHER  # the same rule without the backend
