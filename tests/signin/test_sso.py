"""Single sign-on through a real OpenID provider on loopback (tests/oidc_provider), never a mock."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from urllib.parse import parse_qs, urlencode, urlsplit

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
