"""Two factors with the Django test client: the real allauth second step, computed codes, recovery codes,
enrolment enforced per role and on every dangerous page, and failed codes counting toward the lockout."""

from __future__ import annotations

import re
import time

import pyotp
import pytest
from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.urls import URLPattern, get_resolver, reverse

from customers_app.management.commands.dashboard_user import set_user_role
from customers_app.signin.factors import enrol_totp

pytestmark = pytest.mark.django_db

SECRET = "MFRGGZDFMZTWQ2LKNNWG23TPOBYXE43U"
PASSWORD = "a-long-test-password"


def _password_step(client, username: str):
    return client.post("/accounts/login/", {"login": username, "password": PASSWORD})


def _code(offset: float = 0) -> str:
    return pyotp.TOTP(SECRET).at(time.time() + offset)


@pytest.fixture
def enrolled_admin():
    user, _ = set_user_role("mfa-admin", "admin", PASSWORD)
    enrol_totp(user, SECRET)
    return user


def test_password_then_a_computed_code_signs_the_admin_in(client, enrolled_admin):
    first = _password_step(client, "mfa-admin")
    assert first.status_code == 302
    assert first["Location"] == "/accounts/2fa/authenticate/"
    # Half signed in is not signed in.
    assert client.get("/customers/").status_code == 302
    page = client.get("/accounts/2fa/authenticate/")
    assert '<label for="id_code">' in page.content.decode()
    done = client.post("/accounts/2fa/authenticate/", {"code": _code()})
    assert done.status_code == 302
    assert done["Location"] == "/customers/"
    assert client.session["_auth_user_id"] == str(enrolled_admin.pk)


def test_a_wrong_code_is_refused_and_a_used_code_cannot_be_replayed(client, enrolled_admin):
    _password_step(client, "mfa-admin")
    wrong = client.post("/accounts/2fa/authenticate/", {"code": "000000" if _code() != "000000" else "111111"})
    assert wrong.status_code == 200
    assert "Incorrect code." in wrong.content.decode()
    assert "_auth_user_id" not in client.session
    code = _code()
    assert client.post("/accounts/2fa/authenticate/", {"code": code}).status_code == 302
    client.logout()
    _password_step(client, "mfa-admin")
    replay = client.post("/accounts/2fa/authenticate/", {"code": code})
    assert replay.status_code == 200
    assert "_auth_user_id" not in client.session


def test_a_recovery_code_works_once(client, enrolled_admin):
    recovery = Authenticator.objects.get(user=enrolled_admin, type=Authenticator.Type.RECOVERY_CODES)
    code = RecoveryCodes(recovery).get_unused_codes()[0]
    _password_step(client, "mfa-admin")
    assert client.post("/accounts/2fa/authenticate/", {"code": code})["Location"] == "/customers/"
    client.logout()
    _password_step(client, "mfa-admin")
    assert client.post("/accounts/2fa/authenticate/", {"code": code}).status_code == 200
    assert "_auth_user_id" not in client.session


def test_failed_second_steps_count_toward_the_lockout(client, enrolled_admin, settings):
    from django.test import Client

    _password_step(client, "mfa-admin")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/2fa/authenticate/", {"code": "999999" if _code() != "999999" else "888888"})
    # Locked now: the right code is refused at the second step...
    refused = client.post("/accounts/2fa/authenticate/", {"code": _code()})
    assert "locked for 15 minutes" in refused.content.decode()
    assert "_auth_user_id" not in client.session
    # ... and so is the right password, from a new start.
    fresh = Client()
    locked = _password_step(fresh, "mfa-admin")
    assert locked.status_code == 429
    assert "locked for 15 minutes" in locked.content.decode()
    assert "_auth_user_id" not in fresh.session


def test_the_demo_admin_comes_enrolled_with_the_demo_secret(client, settings):
    call_command("demo_users", verbosity=0)
    admin = get_user_model().objects.get(username="admin")
    assert Authenticator.objects.filter(user=admin, type=Authenticator.Type.TOTP).exists()
    client.post("/accounts/login/", {"login": "admin", "password": settings.DEMO_PASSWORD})
    done = client.post("/accounts/2fa/authenticate/", {"code": pyotp.TOTP(settings.DEMO_TOTP_SECRET).now()})
    assert done["Location"] == "/customers/"
    # The demo marketer too (bulk updates need a factor); support has none and needs none.
    marketer = get_user_model().objects.get(username="marketer")
    assert Authenticator.objects.filter(user=marketer, type=Authenticator.Type.TOTP).exists()
    support = get_user_model().objects.get(username="support")
    assert not Authenticator.objects.filter(user=support).exists()


def test_an_admin_without_a_second_factor_is_sent_to_enrolment_everywhere(client):
    set_user_role("bare-admin", "admin", PASSWORD)
    assert _password_step(client, "bare-admin")["Location"] == "/customers/"
    for url in ["/customers/", "/customers/new/", "/audit/", "/budget/", "/jobs/"]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/2fa/?next="), url
    assert client.get("/accounts/2fa/").status_code == 200


def test_enrolling_an_authenticator_app_from_account_security(client, use_sandbox_server):
    user, _ = set_user_role("new-admin", "admin", PASSWORD)
    _password_step(client, "new-admin")
    page = client.get("/accounts/2fa/totp/activate/")
    assert page.status_code == 200
    secret = re.search(r'id="authenticator_secret"[^>]*value="([A-Z2-7]+)"', page.content.decode()).group(1)
    done = client.post("/accounts/2fa/totp/activate/", {"code": pyotp.TOTP(secret).now()})
    assert done.status_code == 302
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
    assert client.get("/customers/").status_code == 200


def _dangerous_urls(marker: str = "needs_second_factor") -> list[tuple[str, str]]:
    """Every dashboard URL whose view needs a second factor (``dangerous_action``,
    ``second_factor_required``), with sample arguments."""
    found = []
    for pattern in get_resolver("customers_app.urls").url_patterns:
        if isinstance(pattern, URLPattern) and getattr(pattern.callback, marker, False):
            args = [value for value in ("cust_x",) for _ in pattern.pattern.converters]
            kwargs = {
                name: ("1" if type(conv).__name__ == "IntConverter" else "cust_x")
                for name, conv in pattern.pattern.converters.items()
            }
            try:
                url = reverse(f"customers:{pattern.name}", kwargs=kwargs)
            except Exception:  # noqa: BLE001 - UUID converters and the like
                url = reverse(f"customers:{pattern.name}", args=args)
            found.append((pattern.name, url))
    return found


def test_the_dangerous_pages_are_the_destructive_ones():
    assert {"delete", "bulk", "import-confirm"} <= {name for name, _ in _dangerous_urls("dangerous_action")}


def test_every_dangerous_url_refuses_an_unenrolled_user_for_get_and_post(client, use_sandbox_server):
    # A marketer needs no second factor to browse, but does for bulk updates; an admin (superuser of the
    # dashboard) the same for the rest. Nothing is done: the request is sent to enrolment.
    for role in ("marketer", "admin"):
        user, _ = set_user_role(f"unenrolled-{role}", role, PASSWORD)
        client.force_login(user)
        for name, url in _dangerous_urls():
            for method in ("get", "post"):
                response = getattr(client, method)(url)
                if response.status_code in (403, 405):
                    continue  # not this role's page, or not this method: refused anyway
                assert response.status_code == 302, (role, name, method, response.status_code)
                assert response["Location"].startswith("/accounts/2fa/"), (role, name, method)
