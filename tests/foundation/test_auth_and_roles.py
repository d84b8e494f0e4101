"""Login everywhere, the three roles and their permissions, and the user command."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from customers_app.roles import (
    ADD,
    BULK_UPDATE,
    CHANGE,
    DELETE,
    ERASE,
    EXPORT,
    IMPORT,
    VIEW,
    VIEW_AUDIT,
    perm,
)

pytestmark = pytest.mark.django_db


def test_every_page_redirects_anonymous_users_to_the_login(client):
    for url in ["/customers/", "/customers/cust_x/", "/customers/jump/?q=x"]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")


def test_home_redirects_to_the_customer_list(support_client):
    response = support_client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/customers/"


def test_login_page_has_labelled_username_and_password(client):
    response = client.get("/accounts/login/")
    html = response.content.decode()
    assert response.status_code == 200
    assert '<label for="id_login">Username</label>' in html
    assert '<label for="id_password">Password</label>' in html


def test_login_with_the_right_password_lands_on_the_list(client):
    call_command("dashboard_user", "agent", role="support", password="correct-horse-battery")
    response = client.post("/accounts/login/", {"login": "agent", "password": "correct-horse-battery"})
    assert response.status_code == 302
    assert response["Location"] == "/customers/"
    client.logout()
    failed = client.post("/accounts/login/", {"login": "agent", "password": "wrong"})
    assert failed.status_code == 200
    assert "The username and/or password you specified are not correct." in failed.content.decode()


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        ("support", {VIEW, CHANGE}),
        ("marketer", {VIEW, ADD, IMPORT, BULK_UPDATE, EXPORT}),
        ("admin", {VIEW, CHANGE, ADD, IMPORT, BULK_UPDATE, EXPORT, DELETE, ERASE, VIEW_AUDIT}),
    ],
)
def test_each_role_has_exactly_its_permissions(role, allowed):
    call_command("dashboard_user", f"{role}-person", role=role, password="correct-horse-battery")
    user = get_user_model().objects.get(username=f"{role}-person")
    everything = {VIEW, CHANGE, ADD, IMPORT, BULK_UPDATE, EXPORT, DELETE, ERASE, VIEW_AUDIT}
    for codename in everything:
        assert user.has_perm(perm(codename)) is (codename in allowed), codename


def test_a_user_without_a_role_gets_403(client):
    user = get_user_model().objects.create_user("nobody", password="correct-horse-battery")
    client.force_login(user)
    assert client.get("/customers/").status_code == 403


def test_dashboard_user_updates_an_existing_user_to_one_role():
    call_command("dashboard_user", "sam", role="admin", password="correct-horse-battery")
    call_command("dashboard_user", "sam", role="support", password="another-long-password")
    user = get_user_model().objects.get(username="sam")
    assert [g.name for g in user.groups.all()] == ["Support"]
    assert user.check_password("another-long-password")
    assert not user.has_perm(perm(DELETE))


def test_dashboard_user_prompts_for_the_password(monkeypatch):
    answers = iter(["prompted-long-password", "prompted-long-password"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    call_command("dashboard_user", "kim", role="marketer")
    assert get_user_model().objects.get(username="kim").check_password("prompted-long-password")


def test_dashboard_user_rejects_an_unknown_role_and_weak_passwords():
    with pytest.raises(CommandError):
        call_command("dashboard_user", "lee", role="owner", password="correct-horse-battery")
    with pytest.raises(CommandError, match="too short"):
        call_command("dashboard_user", "lee", role="support", password="abc")
    assert not get_user_model().objects.filter(username="lee").exists()


def test_demo_users_use_the_demo_password(settings):
    call_command("demo_users")
    for role in ["support", "marketer", "admin"]:
        assert get_user_model().objects.get(username=role).check_password(settings.DEMO_PASSWORD)


def test_every_page_shows_the_sandbox_badge_in_sandbox_mode(client):
    html = client.get("/accounts/login/").content.decode()
    assert ">Sandbox</span>" in html
