"""The one-query permission backend answers exactly as Django's ModelBackend, in one query per request."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers_app.auth_backend import group_names
from customers_app.management.commands.dashboard_user import set_user_role
from customers_app.roles import CHANGE, DELETE, ROLE_GROUPS, VIEW, perm, set_role

pytestmark = pytest.mark.django_db


def fresh(user):
    """The user as the next request loads it: no permission caches yet."""
    return get_user_model().objects.get(pk=user.pk)


def as_model_backend_sees(user) -> tuple[set[str], set[str], set[str]]:
    backend, user = ModelBackend(), fresh(user)
    return backend.get_user_permissions(user), backend.get_group_permissions(user), backend.get_all_permissions(user)


def as_dashboard_sees(user) -> tuple[set[str], set[str], set[str]]:
    user = fresh(user)
    return user.get_user_permissions(), user.get_group_permissions(), user.get_all_permissions()


@pytest.mark.parametrize("role", sorted(ROLE_GROUPS))
def test_every_role_has_the_permissions_model_backend_gives_it(role):
    user, _ = set_user_role(f"{role}-person", role, "a-long-test-password")
    assert as_dashboard_sees(user) == as_model_backend_sees(user)
    assert perm(VIEW) in as_dashboard_sees(user)[2]


def test_own_permissions_groups_without_permissions_and_several_groups_all_count():
    user, _ = set_user_role("mixed", "support", "a-long-test-password")
    user.user_permissions.add(Permission.objects.get(codename=DELETE, content_type__app_label="customers_app"))
    user.groups.add(Group.objects.create(name="Book club"))  # a group with no permissions at all
    user.groups.add(Group.objects.get(name=ROLE_GROUPS["marketer"][0]))
    own, from_groups, every = as_dashboard_sees(user)
    assert (own, from_groups, every) == as_model_backend_sees(user)
    assert own == {perm(DELETE)}
    assert group_names(fresh(user)) == {"Support", "Marketing", "Book club"}


def test_a_user_without_groups_or_permissions_has_none():
    user = get_user_model().objects.create_user("nobody", password="a-long-test-password")
    assert as_dashboard_sees(user) == (set(), set(), set())
    assert group_names(fresh(user)) == frozenset()


def test_superusers_hold_every_permission_and_inactive_users_none():
    admin = get_user_model().objects.create_superuser("root", password="a-long-test-password")
    assert as_dashboard_sees(admin) == as_model_backend_sees(admin)
    assert len(as_dashboard_sees(admin)[2]) == Permission.objects.count()
    user, _ = set_user_role("leaver", "admin", "a-long-test-password")
    user.is_active = False
    user.save()
    assert as_dashboard_sees(user) == (set(), set(), set())
    assert not fresh(user).has_perm(perm(VIEW))


def test_every_permission_check_of_a_request_costs_one_query():
    user = fresh(set_user_role("counted", "marketer", "a-long-test-password")[0])
    with CaptureQueriesContext(connection) as queries:
        assert user.has_perm(perm(VIEW))
        assert not user.has_perm(perm(CHANGE))  # asks ModelBackend and allauth too: they share the sets
        assert user.has_module_perms("customers_app")
        user.get_all_permissions()
        group_names(user)
    assert len(queries) == 1


def test_a_role_change_applies_from_the_next_request(client):
    user, _ = set_user_role("promoted", "support", "a-long-test-password")
    client.force_login(user)
    assert client.get("/customers/import/").status_code == 403
    set_role(user, "marketer")  # as the Team page does
    assert client.get("/customers/import/").status_code == 200
    set_role(user, "support")
    assert client.get("/customers/import/").status_code == 403


def test_a_user_object_whose_role_changes_reads_its_permissions_again():
    user = fresh(set_user_role("moved", "support", "a-long-test-password")[0])
    assert not user.has_perm(perm(DELETE))
    set_role(user, "admin")
    assert group_names(user) == {"Admin"}
    assert user.has_perm(perm(DELETE))


def test_signing_in_still_goes_through_model_backend(client):
    """The backend never authenticates, so sessions name the backend they named before."""
    set_user_role("agent", "support", "correct-horse-battery")
    response = client.post("/accounts/login/", {"login": "agent", "password": "correct-horse-battery"})
    assert response.status_code == 302
    assert client.session["_auth_user_backend"] == "django.contrib.auth.backends.ModelBackend"
    assert client.get("/customers/jump/").status_code == 200
