"""Security headers, login lockout, idle sessions and the health check."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model

pytestmark = pytest.mark.django_db


def test_pages_carry_a_strict_content_security_policy(client):
    response = client.get("/accounts/login/")
    policy = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["script-src"].startswith("'self' 'nonce-")
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert directives["frame-ancestors"] == "'none'"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["X-Frame-Options"] == "DENY"
    nonce = directives["script-src"].split("'nonce-")[1].rstrip("'")
    html = response.content.decode()
    assert html.count("<script") == html.count(f'nonce="{nonce}"') > 0


def test_repeated_failed_logins_lock_the_account_and_say_so(client, settings):
    get_user_model().objects.create_user("target", password="the-right-password-123")
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert client.post("/accounts/login/", {"login": "target", "password": "wrong"}).status_code == 200
    locked = client.post("/accounts/login/", {"login": "target", "password": "wrong"})
    assert locked.status_code == 429
    assert "locked for 15 minutes" in locked.content.decode()
    # Even the right password is refused while the lock lasts.
    again = client.post("/accounts/login/", {"login": "target", "password": "the-right-password-123"})
    assert again.status_code == 429


def test_sessions_expire_after_the_configured_idle_time(settings, support_client):
    """A session in use has its expiry moved on at most once a minute; one left alone that long ends."""
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    from customers_app.session_middleware import REFRESHED_AT_KEY

    settings.SESSION_COOKIE_AGE = 1234
    key = support_client.cookies["sessionid"].value
    stored = Session.objects.filter(session_key=key)

    def expires_in() -> float:
        return (stored.get().expire_date - timezone.now()).total_seconds()

    response = support_client.get("/accounts/login/")  # the first request after signing in starts the clock
    assert response.cookies["sessionid"]["max-age"] == 1234
    assert 1230 < expires_in() <= 1234
    written = stored.get().session_data

    # More requests within the minute write nothing: no new cookie, the same row.
    for _ in range(3):
        response = support_client.get("/accounts/login/")
        assert "sessionid" not in response.cookies
    assert stored.get().session_data == written

    # A minute later (the last write as if 61 s ago) a request moves the expiry on again.
    data = stored.get().get_decoded()
    data[REFRESHED_AT_KEY] -= 61
    stored.update(session_data=Session.objects.encode(data), expire_date=timezone.now() + timedelta(seconds=1234 - 61))
    response = support_client.get("/accounts/login/")
    assert response.cookies["sessionid"]["max-age"] == 1234
    assert 1230 < expires_in() <= 1234

    # Left idle for the whole time, the session is over: the next page asks to sign in again.
    stored.update(expire_date=timezone.now() - timedelta(seconds=1))
    response = support_client.get("/customers/")
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_healthz_needs_no_login_and_reports_both_checks(client, use_sandbox_server):
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert {key: body[key] for key in ("status", "database", "voucherify")} == {
        "status": "ok", "database": "ok", "voucherify": "ok"
    }
    assert body["api_budget"]["limit"] == 2000 and body["api_budget"]["used"]["interactive"] >= 1
    assert use_sandbox_server.app_token not in response.content.decode()


def test_healthz_stays_up_but_reports_when_voucherify_does_not_answer(client, settings, httpserver):
    settings.VOUCHERIFY_API_URL = httpserver.url_for("").rstrip("/")
    settings.VOUCHERIFY_IN_PROCESS = False
    httpserver.expect_request("/v1/customers").respond_with_json({"code": 503}, status=503)
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json()["voucherify"] == "unavailable (Unavailable)"
