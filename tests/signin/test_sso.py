"""Single sign-on through a real OpenID provider on loopback (tests/oidc_provider), never a mock."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from pathlib import Path
from urllib.parse import parse_qs, quote, urlencode, urlsplit

import jwt
import pytest
import requests

from .conftest import Browser, page_forms

PASSWORD = "correct horse battery staple"


def _code_flow(provider, client_id: str, secret: str, redirect_uri: str, username: str) -> dict:
    """The authorization code flow with PKCE and a nonce, as any relying party runs it."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    nonce, state = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    query = urlencode({"response_type": "code", "client_id": client_id, "redirect_uri": redirect_uri,
                       "scope": "openid profile email", "state": state, "nonce": nonce,
                       "code_challenge": challenge, "code_challenge_method": "S256"})  # fmt: skip
    browser = Browser()
    login = browser.go(f"{provider.issuer}/authorize/?{query}")
    (form,) = page_forms(login.text)
    # The provider sends the browser back to the relying party, which is not running here.
    back = browser.submit(login, form, stop_at=redirect_uri, username=username, password=PASSWORD)
    callback = parse_qs(urlsplit(back.url).query)
    assert callback["state"] == [state]
    tokens = requests.post(f"{provider.issuer}/token/", timeout=10, data={
        "grant_type": "authorization_code", "code": callback["code"][0], "redirect_uri": redirect_uri,
        "client_id": client_id, "client_secret": secret, "code_verifier": verifier,
    }).json()  # fmt: skip
    return {"tokens": tokens, "nonce": nonce}


def _verified_claims(provider, id_token: str, audience: str) -> dict:
    jwks = requests.get(f"{provider.issuer}/.well-known/jwks.json", timeout=10).json()
    key = jwt.PyJWKSet.from_dict(jwks)[jwt.get_unverified_header(id_token)["kid"]]
    return jwt.decode(id_token, key=key, algorithms=["RS256"], audience=audience, issuer=provider.issuer)


def test_provider_issues_signed_id_tokens_with_groups_nonce_and_pkce(untampered):
    provider = untampered
    provider.register_client("rp-check", "rp-check-secret", ["http://127.0.0.1:1/callback"])
    sub = provider.save_user("pat", password=PASSWORD, email="pat@example.com", name="Pat Lee",
                             groups=["cs-agents", "staff"])  # fmt: skip
    flow = _code_flow(provider, "rp-check", "rp-check-secret", "http://127.0.0.1:1/callback", "pat")
    claims = _verified_claims(provider, flow["tokens"]["id_token"], "rp-check")
    assert claims["sub"] == sub
    assert claims["nonce"] == flow["nonce"]
    assert claims["groups"] == ["cs-agents", "staff"]
    assert (claims["email"], claims["email_verified"], claims["preferred_username"], claims["name"]) == (
        "pat@example.com", True, "pat", "Pat Lee",
    )  # fmt: skip
    userinfo = requests.get(f"{provider.issuer}/userinfo/", timeout=10,
                            headers={"Authorization": f"Bearer {flow['tokens']['access_token']}"}).json()  # fmt: skip
    assert userinfo["groups"] == ["cs-agents", "staff"] and userinfo["sub"] == sub


def test_provider_requires_pkce(untampered):
    untampered.register_client("rp-nopkce", "secret-nopkce", ["http://127.0.0.1:1/callback"])
    untampered.save_user("pkce-less", password=PASSWORD)
    browser = Browser()
    query = urlencode({"response_type": "code", "client_id": "rp-nopkce", "scope": "openid",
                       "redirect_uri": "http://127.0.0.1:1/callback"})  # fmt: skip
    login = browser.go(f"{untampered.issuer}/authorize/?{query}")
    if login.url.startswith(untampered.url + "/accounts/login/"):
        (form,) = page_forms(login.text)
        login = browser.submit(login, form, stop_at="http://127.0.0.1:1/", username="pkce-less", password=PASSWORD)
    assert "code=" not in login.url
    assert "error=invalid_request" in login.url or login.status == 400, (login.url, login.status, login.text)


@pytest.mark.parametrize("mode", ["foreign-key", "altered-payload", "wrong-audience", "wrong-issuer", "expired"])
def test_provider_tamper_switch_spoils_id_tokens(untampered, mode):
    provider = untampered
    provider.register_client("rp-check", "rp-check-secret", ["http://127.0.0.1:1/callback"])
    provider.save_user("pat", password=PASSWORD, groups=["cs-agents"])
    provider.tamper(mode)
    flow = _code_flow(provider, "rp-check", "rp-check-secret", "http://127.0.0.1:1/callback", "pat")
    with pytest.raises(jwt.PyJWTError):
        _verified_claims(provider, flow["tokens"]["id_token"], "rp-check")
    header = json.loads(base64.urlsafe_b64decode(flow["tokens"]["id_token"].split(".")[0] + "=="))
    assert header["alg"] == "RS256"


# The dashboard through single sign-on ------------------------------------------------------------

from django.contrib.auth import get_user_model  # noqa: E402
from django.urls import reverse  # noqa: E402

from customers_app.models import AuditEntry  # noqa: E402
from customers_app.roles import role_key_of  # noqa: E402
from customers_app.signin.no_access import NO_ACCESS_PATH  # noqa: E402
from customers_app.signin.sso import ROLE_CHANGE_ACTION  # noqa: E402

from .conftest import CALLBACK_PATH, TEST_CLIENT_ORIGIN, sign_in_with_sso, sso_button  # noqa: E402

PROVIDER_NAME = "Acme Login"
LANDING = TEST_CLIENT_ORIGIN + "/customers/"
ROLE_MAP = {"support": ["cs-agents"], "marketer": ["marketing"], "admin": ["dashboard-admins"]}


class SsoDashboard:
    """The dashboard in this process (Django test client) configured for the test provider."""

    def __init__(self, client, provider):
        self.client, self.provider = client, provider

    def sign_in(self, username: str, stop_at: str = LANDING):
        browser = Browser(self.client)
        page = sign_in_with_sso(browser, TEST_CLIENT_ORIGIN, self.provider, username=username, password=PASSWORD,
                                provider_name=PROVIDER_NAME, stop_at=stop_at)  # fmt: skip
        return page

    def signed_in_user(self):
        user_id = self.client.session.get("_auth_user_id")
        return get_user_model().objects.get(pk=user_id) if user_id else None

    def log_out(self):
        self.client.post(reverse("account_logout"))


@pytest.fixture
def sso(db, settings, client, untampered):
    untampered.register_client("dashboard-tests", "dashboard-tests-secret", [TEST_CLIENT_ORIGIN + CALLBACK_PATH])
    settings.OIDC_SERVER_URL = untampered.issuer
    settings.OIDC_CLIENT_ID = "dashboard-tests"
    settings.OIDC_CLIENT_SECRET = "dashboard-tests-secret"
    settings.OIDC_PROVIDER_NAME = PROVIDER_NAME
    settings.OIDC_ROLE_MAP = ROLE_MAP
    settings.SOCIALACCOUNT_PROVIDERS = {
        "openid_connect": {
            "OAUTH_PKCE_ENABLED": True,
            "APPS": [{"provider_id": "oidc", "name": PROVIDER_NAME, "client_id": "dashboard-tests",
                      "secret": "dashboard-tests-secret", "settings": {"server_url": untampered.issuer}}],
        }
    }  # fmt: skip
    return SsoDashboard(client, untampered)


def test_first_sso_login_signs_up_with_the_role_of_the_mapped_group(sso):
    sub = sso.provider.save_user("sam", password=PASSWORD, email="sam@example.com", name="Sam Ortiz",
                                 groups=["cs-agents", "everyone"])  # fmt: skip
    page = sso.sign_in("sam")
    assert page.url == LANDING, (page.url, page.history, page.text[:3000])
    user = sso.signed_in_user()
    assert (user.username, user.email, user.first_name, user.has_usable_password()) == (
        "sam", "sam@example.com", "Sam", False,
    )  # fmt: skip
    assert role_key_of(user) == "support"
    assert user.socialaccount_set.get().uid == sub
    entry = AuditEntry.objects.get(action=ROLE_CHANGE_ACTION)
    assert entry.actor == user and entry.changes == {"role": {"before": None, "after": "support"}}


def test_role_follows_the_provider_groups_at_every_login(sso):
    sso.provider.save_user("robin", password=PASSWORD, groups=["cs-agents"])
    assert sso.sign_in("robin").url == LANDING
    user = sso.signed_in_user()
    sso.log_out()

    sso.provider.set_groups("robin", ["cs-agents", "marketing"])
    assert sso.sign_in("robin").url == LANDING
    user = get_user_model().objects.get(pk=user.pk)
    assert role_key_of(user) == "marketer"  # several mapped groups: the most powerful role
    sso.log_out()

    sso.provider.set_groups("robin", ["everyone"])  # left every mapped group at the provider
    page = sso.sign_in("robin", stop_at="")
    user = get_user_model().objects.get(pk=user.pk)
    assert role_key_of(user) == ""
    assert (page.url, page.status) == (LANDING, 403) and "no access to the dashboard yet" in page.text
    changes = [e.changes["role"] for e in AuditEntry.objects.filter(action=ROLE_CHANGE_ACTION).order_by("pk")]
    assert changes == [
        {"before": None, "after": "support"},
        {"before": "support", "after": "marketer"},
        {"before": "marketer", "after": None},
    ]


def test_without_a_role_map_roles_are_left_to_admins(sso, settings):
    settings.OIDC_ROLE_MAP = {}
    sso.provider.save_user("kim", password=PASSWORD, groups=["dashboard-admins"])
    assert sso.sign_in("kim", stop_at="").status == 403
    user = sso.signed_in_user()
    assert role_key_of(user) == ""
    sso.log_out()
    from customers_app.roles import set_role

    set_role(user, "marketer")  # as an admin would on the Team page
    assert sso.sign_in("kim").url == LANDING
    assert role_key_of(get_user_model().objects.get(pk=user.pk)) == "marketer"
    assert not AuditEntry.objects.filter(action=ROLE_CHANGE_ACTION).exists()


def test_sso_never_takes_over_a_local_account_of_the_same_name(sso):
    local = get_user_model().objects.create_user("alex", password="break-glass-password-1")
    sso.provider.save_user("alex", password=PASSWORD, groups=["cs-agents"])
    assert sso.sign_in("alex").url == LANDING
    user = sso.signed_in_user()
    assert user.pk != local.pk and user.username.startswith("alex") and user.username != "alex"
    assert not local.socialaccount_set.exists()


@pytest.mark.parametrize(
    "mode", ["foreign-key", "altered-payload", "wrong-audience", "wrong-issuer", "expired", "wrong-nonce"]
)
def test_a_tampered_id_token_is_refused(sso, mode):
    sso.provider.save_user("mallory", password=PASSWORD, groups=["dashboard-admins"])
    sso.provider.tamper(mode)
    page = sso.sign_in("mallory", stop_at="")
    assert sso.signed_in_user() is None, (mode, page.url)
    assert not get_user_model().objects.filter(username__in=["mallory", "forged"]).exists()
    assert page.status == 401 and "third-party account" in page.text, (page.url, page.text[:2000])


def test_a_user_with_no_mapped_group_sees_the_no_access_page_and_nothing_else(sso):
    sso.provider.save_user("noor", password=PASSWORD, groups=["everyone"])
    page = sso.sign_in("noor", stop_at="")
    assert (page.url, page.status) == (LANDING, 403)  # the landing page, in place
    assert "no access to the dashboard yet" in page.text
    assert sso.client.get(NO_ACCESS_PATH).status_code == 200
    assert "cs-agents" in page.text and "dashboard-admins" in page.text  # which groups to ask IT for
    client = sso.client
    for path in ["/customers/", "/customers/overview/", "/audit/", "/jobs/", "/customers/import/"]:
        response = client.get(path)
        assert response.status_code == 403 and "no access to the dashboard yet" in response.content.decode(), path
    assert client.get("/customers/", headers={"HX-Request": "true"}).status_code == 403
    assert client.post("/customers/new/", {"email": "x@example.com"}).status_code == 403
    assert client.get(reverse("mfa_index")).status_code == 200  # their own account security
    client.post(reverse("account_logout"))
    assert client.get(NO_ACCESS_PATH).status_code == 302 and "_auth_user_id" not in client.session


def test_with_password_login_off_only_sso_is_offered_and_the_password_form_is_refused(sso, settings, client):
    settings.PASSWORD_LOGIN = False
    get_user_model().objects.create_user("glass", password="break-glass-password-1")
    page = Browser(client).go(TEST_CLIENT_ORIGIN + "/accounts/login/")
    sso_button(page, PROVIDER_NAME)
    assert 'name="password"' not in page.text
    response = client.post("/accounts/login/", {"login": "glass", "password": "break-glass-password-1"})
    assert response.status_code == 302 and "_auth_user_id" not in client.session
    assert "turned off" in client.get(response.headers["Location"]).content.decode()

    settings.PASSWORD_LOGIN = True  # the break-glass switch: the same account gets in with its password
    response = client.post("/accounts/login/", {"login": "glass", "password": "break-glass-password-1"})
    assert client.session.get("_auth_user_id") == str(get_user_model().objects.get(username="glass").pk)


def test_the_documented_redirect_url_is_the_one_allauth_sends(sso):
    assert reverse("openid_connect_callback", kwargs={"provider_id": "oidc"}) == CALLBACK_PATH
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    assert f"<dashboard>{CALLBACK_PATH}" in readme
    page = Browser(sso.client).go(TEST_CLIENT_ORIGIN + "/accounts/login/")
    provider_login = Browser(sso.client).submit(page, sso_button(page, PROVIDER_NAME), stop_at=sso.provider.url)
    assert f"redirect_uri={quote(TEST_CLIENT_ORIGIN + CALLBACK_PATH, safe='')}" in provider_login.url


def test_each_authorization_request_carries_pkce_state_and_a_fresh_nonce(sso):
    from urllib.parse import parse_qs, unquote, urlsplit

    def authorize_params() -> dict:
        page = Browser(sso.client).go(TEST_CLIENT_ORIGIN + "/accounts/login/")
        provider_login = Browser(sso.client).submit(page, sso_button(page, PROVIDER_NAME), stop_at=sso.provider.url)
        url = unquote(provider_login.url)  # the provider's login page holds the authorize URL as ?next=
        return {k: v[0] for k, v in parse_qs(urlsplit(url[url.index("/authorize/"):]).query).items()}

    first, second = authorize_params(), authorize_params()
    for params in (first, second):
        assert params["code_challenge_method"] == "S256" and params["code_challenge"]
        assert params["state"] and len(params["nonce"]) >= 20
    assert first["nonce"] != second["nonce"] and first["state"] != second["state"]


def test_role_map_from_the_environment_is_checked_at_start():
    from django.core.exceptions import ImproperlyConfigured

    from dashboard.settings import _role_map

    assert _role_map("support=cs-agents, admin=dashboard-admins,support=helpdesk") == {
        "support": ["cs-agents", "helpdesk"], "admin": ["dashboard-admins"],
    }  # fmt: skip
    with pytest.raises(ImproperlyConfigured, match="superuser=it"):
        _role_map("superuser=it")


def test_served_dashboard_configured_from_the_environment_signs_in_through_the_provider(untampered, tmp_path):
    """The whole product under gunicorn, SSO set up by environment variables only, as an operator does."""
    from tests.conftest import ServedProduct, free_port, prepare_product, product_env

    port = free_port()
    dashboard = f"http://127.0.0.1:{port}"
    untampered.register_client("served-dashboard", "served-secret", [dashboard + CALLBACK_PATH])
    untampered.save_user("jo", password=PASSWORD, email="jo@example.com", groups=["marketing"])
    env = product_env(tmp_path, port, OIDC_SERVER_URL=untampered.issuer, OIDC_CLIENT_ID="served-dashboard",
                      OIDC_CLIENT_SECRET="served-secret", OIDC_PROVIDER_NAME=PROVIDER_NAME,
                      OIDC_ROLE_MAP="support=cs-agents,marketer=marketing,admin=dashboard-admins")  # fmt: skip
    prepare_product(env, 0)
    product = ServedProduct(env, tmp_path / "gunicorn.log", workers=1, threads=4, task_worker=False).start()
    try:
        browser = Browser()
        login_page = browser.go(dashboard + "/accounts/login/")
        assert 'name="password"' not in login_page.text  # PASSWORD_LOGIN defaults to off with SSO
        page = sign_in_with_sso(browser, dashboard, untampered, username="jo", password=PASSWORD,
                                provider_name=PROVIDER_NAME, stop_at=dashboard + "/customers/")  # fmt: skip
        assert page.url == dashboard + "/customers/", (page.url, page.history)
        assert "(Marketing)" in browser.go(dashboard + "/accounts/no-access/").text  # has a role: sent on
    finally:
        product.stop()
