"""The Team page and sessions: who signs in how, audited role changes, deactivation, ended sessions, step-up."""

from __future__ import annotations

import html
import time
from urllib.parse import urlsplit

import pytest
from allauth.socialaccount.models import SocialAccount
from allauth.usersessions.models import UserSession
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from customers_app.management.commands.dashboard_user import set_user_role
from customers_app.models import AuditEntry
from customers_app.roles import role_key_of
from customers_app.signin.guards import AUTHENTICATED_AT_KEY
from tests.conftest import fully_signed_in

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-test-password"
TEAM = reverse("customers:team")


def page_text(response) -> str:
    return html.unescape(response.content.decode())


def role_url(user) -> str:
    return reverse("customers:team-role", args=[user.pk])


def fresh_user(username: str, role: str = "support"):
    user, _ = set_user_role(username, role, PASSWORD)
    return user


def signed_in_browser(username: str) -> Client:
    """Another browser that signs in through the real login form (so allauth records its session)."""
    browser = Client()
    response = browser.post(reverse("account_login"), {"login": username, "password": PASSWORD})
    assert response.status_code == 302, page_text(response)
    assert browser.get(reverse("usersessions_list")).status_code == 200
    return browser


def sso_user(username: str, role: str = "support"):
    """A user who signs in with single sign-on only (an account linked to the provider, no password)."""
    user = fresh_user(username, role)
    user.set_unusable_password()
    user.save()
    SocialAccount.objects.create(user=user, provider="oidc", uid=f"sub-{username}")
    return user


def row_of(page: str, username: str) -> str:
    start = page.index(f'<tr data-user="{username}"')
    return page[start : page.index("</tr>", start)]


def make_session_old(client) -> None:
    session = client.session
    session[AUTHENTICATED_AT_KEY] = time.time() - 3600
    session.save()


# The page ----------------------------------------------------------------------------------------


def test_team_page_lists_users_with_role_sign_in_second_factor_last_login_and_sessions(admin_role_client):
    fresh_user("sam-support")
    signed_in_browser("sam-support")
    signed_in_browser("sam-support")
    sso_user("olga-sso", "marketer")
    response = admin_role_client.get(TEAM)
    assert response.status_code == 200
    page = page_text(response)

    sam = row_of(page, "sam-support")
    assert ">Support<" in sam
    assert ">Password<" in sam
    assert 'data-field="second-factor">No<' in sam
    assert "<time" in sam  # signed in through the login form: a last login
    assert 'data-field="sessions">2<' in sam

    olga = row_of(page, "olga-sso")
    assert ">Marketing" in olga
    assert ">Single sign-on<" in olga
    assert 'data-field="last-login">Never<' in olga
    assert 'data-field="sessions">0<' in olga

    admin = row_of(page, "admin-user")
    assert ">Admin" in admin
    assert 'data-field="second-factor">Yes<' in admin
    assert "You" in admin


def test_sessions_that_ended_are_not_counted(admin_role_client):
    fresh_user("sam-support")
    browser = signed_in_browser("sam-support")
    browser.post(reverse("account_logout"))
    assert 'data-field="sessions">0<' in row_of(page_text(admin_role_client.get(TEAM)), "sam-support")
    assert not UserSession.objects.filter(user__username="sam-support").exists()  # purged


def test_team_link_is_in_the_navigation_for_admins_only(admin_role_client, login_as):
    assert f'href="{TEAM}"' in page_text(admin_role_client.get(reverse("usersessions_list")))
    support = login_as("support")
    assert f'href="{TEAM}"' not in page_text(support.get(reverse("usersessions_list")))


def test_user_names_are_escaped(admin_role_client):
    fresh_user("<b>bold</b>")
    page = admin_role_client.get(TEAM).content.decode()
    assert "<b>bold</b>" not in page
    assert "&lt;b&gt;bold&lt;/b&gt;" in page


# Roles -------------------------------------------------------------------------------------------


def test_role_change_is_effective_and_audited(admin_role_client):
    sam = fresh_user("sam-support")
    response = admin_role_client.post(role_url(sam), {"role": "marketer"}, follow=True)
    assert response.redirect_chain[-1][0] == TEAM
    assert "sam-support now has the role Marketing" in page_text(response)
    assert role_key_of(get_user_model().objects.get(pk=sam.pk)) == "marketer"
    assert get_user_model().objects.get(pk=sam.pk).has_perm("customers_app.import_customers")
    entry = AuditEntry.objects.get(action=AuditEntry.Action.ROLE_CHANGE)
    assert entry.actor_name == "admin-user"
    assert entry.target_id == f"user:{sam.pk}"
    assert entry.changes == {"role": {"before": "support", "after": "marketer"}}


def test_team_changes_show_in_the_audit_trail(admin_role_client):
    sam = fresh_user("sam-support")
    admin_role_client.post(role_url(sam), {"role": "marketer"})
    admin_role_client.post(reverse("customers:team-sessions-revoke", args=[sam.pk]))
    page = page_text(admin_role_client.get(reverse("customers:audit")))
    assert "Role changed" in page
    assert "Sessions ended" in page
    assert f"user:{sam.pk}" in page


def test_role_can_be_taken_away(admin_role_client):
    sam = fresh_user("sam-support")
    admin_role_client.post(role_url(sam), {"role": ""})
    assert role_key_of(get_user_model().objects.get(pk=sam.pk)) == ""
    assert AuditEntry.objects.get(action=AuditEntry.Action.ROLE_CHANGE).changes["role"]["after"] is None


def test_role_page_shows_the_current_role_selected(admin_role_client):
    sam = fresh_user("sam-support")
    page = page_text(admin_role_client.get(role_url(sam)))
    assert '<option value="support" selected>' in page
    assert "Save role" in page


def test_an_unknown_role_is_an_inline_error_and_changes_nothing(admin_role_client):
    sam = fresh_user("sam-support")
    response = admin_role_client.post(role_url(sam), {"role": "superhero"})
    assert response.status_code == 400
    assert "Select a valid choice" in page_text(response)
    assert 'aria-invalid="true"' in page_text(response)
    assert role_key_of(get_user_model().objects.get(pk=sam.pk)) == "support"
    assert not AuditEntry.objects.filter(action=AuditEntry.Action.ROLE_CHANGE).exists()


@pytest.mark.parametrize("action", ["team-role", "team-deactivate", "team-sessions-revoke"])
def test_an_unknown_user_is_404(admin_role_client, action):
    url = reverse(f"customers:{action}", args=[987654])
    assert admin_role_client.get(url).status_code == 404
    assert admin_role_client.post(url, {"role": "support"}).status_code == 404


def test_an_admin_cannot_remove_their_own_admin_role(admin_role_client):
    me = get_user_model().objects.get(username="admin-user")
    fresh_user("other-admin", "admin")  # not the last admin either: still refused
    response = admin_role_client.post(role_url(me), {"role": "support"})
    assert response.status_code == 400
    assert "You cannot remove the admin role from yourself" in page_text(response)
    assert role_key_of(get_user_model().objects.get(pk=me.pk)) == "admin"
    assert not AuditEntry.objects.filter(action=AuditEntry.Action.ROLE_CHANGE).exists()


def test_the_last_admin_stays_an_admin(client, db):
    boss = get_user_model().objects.create_superuser("boss", password=PASSWORD)
    fully_signed_in(client, boss)
    only_admin = fresh_user("only-admin", "admin")
    response = client.post(role_url(only_admin), {"role": "support"})
    assert response.status_code == 400
    assert "only-admin is the last active admin" in page_text(response)
    assert role_key_of(get_user_model().objects.get(pk=only_admin.pk)) == "admin"


def test_roles_of_sso_users_with_a_role_map_are_refused_and_explained(admin_role_client, settings):
    settings.OIDC_ROLE_MAP = {"support": ["helpdesk"], "marketer": ["marketing"], "admin": ["it"]}
    olga = sso_user("olga-sso")
    team_page = page_text(admin_role_client.get(TEAM))
    assert "Roles of single sign-on users come from your identity provider" in team_page
    assert "Role set by single sign-on" in row_of(team_page, "olga-sso")
    assert "Change their groups at the identity provider" in page_text(admin_role_client.get(role_url(olga)))

    response = admin_role_client.post(role_url(olga), {"role": "admin"})
    assert response.status_code == 400
    assert "sets their role from the company's groups at every login" in page_text(response)
    assert role_key_of(get_user_model().objects.get(pk=olga.pk)) == "support"


def test_without_a_role_map_admins_set_roles_of_sso_users(admin_role_client, settings):
    settings.OIDC_ROLE_MAP = {}
    olga = sso_user("olga-sso")
    admin_role_client.post(role_url(olga), {"role": "marketer"})
    assert role_key_of(get_user_model().objects.get(pk=olga.pk)) == "marketer"


# Step-up -----------------------------------------------------------------------------------------


def test_an_old_sign_in_is_asked_again_and_comes_back_to_the_filled_in_form(admin_role_client):
    sam = fresh_user("sam-support")
    make_session_old(admin_role_client)
    response = admin_role_client.post(role_url(sam), {"role": "admin"})
    assert response.status_code == 302
    reauth = urlsplit(response["Location"])
    assert reauth.path.startswith("/accounts/")
    assert role_key_of(get_user_model().objects.get(pk=sam.pk)) == "support"  # nothing happened yet

    response = admin_role_client.post(response["Location"], {"password": PASSWORD})
    assert response.status_code == 302, page_text(response)
    assert response["Location"] == role_url(sam)
    page = page_text(admin_role_client.get(response["Location"]))
    assert '<option value="admin" selected>' in page  # what they had chosen, to confirm once more
    assert role_key_of(get_user_model().objects.get(pk=sam.pk)) == "support"

    admin_role_client.post(role_url(sam), {"role": "admin"})
    assert role_key_of(get_user_model().objects.get(pk=sam.pk)) == "admin"


@pytest.mark.parametrize("action", ["team-deactivate", "team-sessions-revoke"])
def test_deactivate_and_revoke_need_a_recent_sign_in(admin_role_client, action):
    sam = fresh_user("sam-support")
    browser = signed_in_browser("sam-support")
    make_session_old(admin_role_client)
    response = admin_role_client.post(reverse(f"customers:{action}", args=[sam.pk]))
    assert response.status_code == 302
    assert urlsplit(response["Location"]).path.startswith("/accounts/")
    assert get_user_model().objects.get(pk=sam.pk).is_active
    assert browser.get(reverse("usersessions_list")).status_code == 200


# Deactivation and sessions -----------------------------------------------------------------------


def test_deactivate_stops_sign_in_ends_sessions_and_is_audited(admin_role_client):
    sam = fresh_user("sam-support")
    browser = signed_in_browser("sam-support")
    url = reverse("customers:team-deactivate", args=[sam.pk])
    assert "Yes, deactivate sam-support" in page_text(admin_role_client.get(url))
    response = admin_role_client.post(url, follow=True)
    assert "sam-support can no longer sign in (1 session ended)" in page_text(response)
    assert not get_user_model().objects.get(pk=sam.pk).is_active
    assert browser.get(reverse("usersessions_list")).status_code == 302
    again = Client().post(reverse("account_login"), {"login": "sam-support", "password": PASSWORD})
    assert not again.wsgi_request.user.is_authenticated
    entry = AuditEntry.objects.get(action=AuditEntry.Action.DEACTIVATE)
    assert entry.target_id == f"user:{sam.pk}"
    assert entry.changes["sessions_ended"] == 1
    assert "Deactivated" in row_of(page_text(admin_role_client.get(TEAM)), "sam-support")


def test_an_admin_cannot_deactivate_themselves(admin_role_client):
    me = get_user_model().objects.get(username="admin-user")
    response = admin_role_client.post(reverse("customers:team-deactivate", args=[me.pk]), follow=True)
    assert "You cannot deactivate yourself" in page_text(response)
    assert get_user_model().objects.get(pk=me.pk).is_active
    assert not AuditEntry.objects.filter(action=AuditEntry.Action.DEACTIVATE).exists()


def test_revoking_a_users_sessions_signs_their_other_browser_out(admin_role_client):
    sam = fresh_user("sam-support")
    browser = signed_in_browser("sam-support")
    url = reverse("customers:team-sessions-revoke", args=[sam.pk])
    assert "Sign sam-support out everywhere?" in page_text(admin_role_client.get(url))
    response = admin_role_client.post(url, follow=True)
    assert "sam-support is signed out everywhere (1 session ended)" in page_text(response)

    after = browser.get(reverse("usersessions_list"))
    assert after.status_code == 302
    assert urlsplit(after["Location"]).path == reverse("account_login")
    assert get_user_model().objects.get(pk=sam.pk).is_active  # they may sign in again
    entry = AuditEntry.objects.get(action=AuditEntry.Action.SESSIONS_REVOKED)
    assert entry.actor_name == "admin-user"
    assert entry.changes == {"sessions_ended": 1}


def test_revoking_sessions_of_someone_else_leaves_the_admin_signed_in(admin_role_client):
    sam = fresh_user("sam-support")
    signed_in_browser("sam-support")
    admin_role_client.post(reverse("customers:team-sessions-revoke", args=[sam.pk]))
    assert admin_role_client.get(TEAM).status_code == 200


# Permissions -------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["support", "marketer"])
def test_non_admins_get_403_for_every_team_url_and_nothing_changes(login_as, role):
    sam = fresh_user("sam-support")
    browser = signed_in_browser("sam-support")
    client = login_as(role)
    assert client.get(TEAM).status_code == 403
    for action in ("team-role", "team-deactivate", "team-sessions-revoke"):
        url = reverse(f"customers:{action}", args=[sam.pk])
        assert client.get(url).status_code == 403, url
        assert client.post(url, {"role": "admin"}).status_code == 403, url
    sam = get_user_model().objects.get(pk=sam.pk)
    assert sam.is_active and role_key_of(sam) == "support"
    assert browser.get(reverse("usersessions_list")).status_code == 200
    assert not AuditEntry.objects.filter(action__startswith="user.").exists()


def test_team_urls_need_a_login(client, db):
    response = client.get(TEAM)
    assert response.status_code == 302
    assert urlsplit(response["Location"]).path == reverse("account_login")


# Own sessions ------------------------------------------------------------------------------------


def test_own_sessions_page_is_in_the_dashboard_layout_with_log_out_everywhere(db):
    fresh_user("sam-support")
    browser = signed_in_browser("sam-support")
    page = page_text(browser.get(reverse("usersessions_list")))
    assert "Skip to content" in page  # base.html
    assert 'aria-label="Account"' in page  # the account navigation
    assert "This browser" in page
    assert "Log out everywhere" in page


def test_sign_out_other_sessions_keeps_this_one(db):
    fresh_user("sam-support")
    first = signed_in_browser("sam-support")
    second = signed_in_browser("sam-support")
    assert "Sign out other sessions" in page_text(first.get(reverse("usersessions_list")))
    first.post(reverse("usersessions_list"))
    assert first.get(reverse("usersessions_list")).status_code == 200
    assert second.get(reverse("usersessions_list")).status_code == 302


def test_log_out_everywhere_ends_every_session_this_one_too(db):
    sam = fresh_user("sam-support")
    first = signed_in_browser("sam-support")
    second = signed_in_browser("sam-support")
    response = first.post(reverse("customers:log-out-everywhere"), follow=True)
    assert "You are logged out everywhere" in page_text(response)
    for browser in (first, second):
        assert browser.get(reverse("usersessions_list")).status_code == 302
    assert not UserSession.objects.filter(user=sam).exists()
    entry = AuditEntry.objects.get(action=AuditEntry.Action.SESSIONS_REVOKED)
    assert entry.actor_name == "sam-support"
    assert entry.changes == {"sessions_ended": 2}


def test_log_out_everywhere_takes_only_post(admin_role_client):
    assert admin_role_client.get(reverse("customers:log-out-everywhere")).status_code == 405
    assert admin_role_client.get(TEAM).status_code == 200
