"""The sign-in tests' real OpenID provider on loopback, and a browser-like walk through single sign-on."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests

from tests.conftest import ROOT, free_port

# The Django test client answers for this host; any other URL is real HTTP.
TEST_CLIENT_ORIGIN = "http://testserver"
CALLBACK_PATH = "/accounts/oidc/oidc/login/callback/"


@dataclass(frozen=True)
class OidcProvider:
    """The test identity provider (tests/oidc_provider) served by gunicorn, and its admin API."""

    url: str  # http://127.0.0.1:PORT
    admin_token: str
    log_path: Path

    @property
    def issuer(self) -> str:
        return self.url + "/o"

    def admin(self, path: str, body: dict) -> dict:
        response = requests.post(
            self.url + "/admin-api/" + path, json=body, timeout=10,
            headers={"Authorization": f"Bearer {self.admin_token}"},
        )  # fmt: skip
        assert response.ok, response.text
        return response.json()

    def save_user(self, username: str, *, password: str, email: str = "", name: str = "", groups=()) -> str:
        """Creates or updates a person at the provider; returns their ``sub``."""
        body = {"username": username, "password": password, "email": email, "name": name, "groups": list(groups)}
        return self.admin("users", body)["sub"]

    def set_groups(self, username: str, groups) -> None:
        self.admin(f"users/{username}/groups", {"groups": list(groups)})

    def register_client(self, client_id: str, client_secret: str, redirect_uris: list[str]) -> None:
        self.admin("clients", {"client_id": client_id, "client_secret": client_secret, "redirect_uris": redirect_uris})

    def tamper(self, mode: str) -> None:
        """Spoils the ID tokens issued from now on (see tests/oidc_provider/validator.py); "" stops."""
        self.admin("tamper", {"mode": mode})


def _start_provider(workdir: Path) -> tuple[subprocess.Popen, OidcProvider]:
    port, token = free_port(), secrets.token_urlsafe(16)
    log_path = workdir / "oidc-provider.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.oidc_provider", "serve", "--port", str(port),
             "--data-dir", str(workdir / "data"), "--admin-token", token],
            cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    provider = OidcProvider(url=f"http://127.0.0.1:{port}", admin_token=token, log_path=log_path)
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(provider.issuer + "/.well-known/openid-configuration", timeout=5).ok:
                return process, provider
        except requests.ConnectionError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError("The OpenID provider did not start:\n" + log_path.read_text()[-4000:])
        time.sleep(0.2)


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory) -> OidcProvider:
    """A real OpenID provider (django-oauth-toolkit, RS256, PKCE required) on a free loopback port."""
    process, provider = _start_provider(tmp_path_factory.mktemp("oidc-provider"))
    yield provider
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture
def untampered(oidc_provider):
    """The provider issues honest ID tokens before and after the test."""
    oidc_provider.tamper("")
    yield oidc_provider
    oidc_provider.tamper("")


class _Forms(HTMLParser):
    """The forms of a page: action, method, fields and the text of their buttons."""

    def __init__(self):
        super().__init__()
        self.forms: list[dict] = []
        self._in_button = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.forms.append({"action": attrs.get("action") or "", "method": (attrs.get("method") or "get").lower(),
                               "fields": {}, "text": ""})  # fmt: skip
        elif (
            self.forms
            and tag in ("input", "button")
            and attrs.get("name")
            and (attrs.get("type") not in ("checkbox", "radio") or "checked" in attrs)
        ):
            self.forms[-1]["fields"].setdefault(attrs["name"], attrs.get("value") or "")
        self._in_button = self._in_button or tag == "button"

    def handle_endtag(self, tag):
        if tag == "button":
            self._in_button = False

    def handle_data(self, data):
        if self._in_button and self.forms:
            self.forms[-1]["text"] += data


def page_forms(html: str) -> list[dict]:
    parser = _Forms()
    parser.feed(html)
    for form in parser.forms:
        form["text"] = " ".join(form["text"].split())
    return parser.forms


@dataclass
class Page:
    url: str
    status: int
    text: str
    history: list[str]  # every URL visited on the way, redirects included


class Browser:
    """A browser-like walk that follows redirects across the dashboard and the provider.

    URLs on ``http://testserver`` go to the Django test client ``client`` (the dashboard in this
    process, with its test settings); any other URL is real HTTP through one ``requests.Session``
    (the provider, or a served dashboard), each keeping its own cookies.
    """

    def __init__(self, client=None):
        self.client = client
        self.http = requests.Session()

    def _send(self, method: str, url: str, data: dict | None):
        if url.startswith(TEST_CLIENT_ORIGIN + "/"):
            path = url[len(TEST_CLIENT_ORIGIN) :]
            response = self.client.post(path, data) if method == "post" else self.client.get(path)
            return response.status_code, response.headers.get("Location", ""), response.content.decode()
        response = self.http.request(method, url, data=data, allow_redirects=False, timeout=30)
        return response.status_code, response.headers.get("Location", ""), response.text

    def go(self, url: str, *, method: str = "get", data: dict | None = None, stop_at: str = "") -> Page:
        """Follows redirects to a page; a redirect to a URL starting with ``stop_at`` is not followed
        (the returned page is that URL, unvisited, with status 0)."""
        history = []
        for _ in range(15):
            history.append(url)
            status, location, text = self._send(method, url, data)
            if status not in (301, 302, 303, 307, 308):
                return Page(url=url, status=status, text=text, history=history)
            url, method, data = urljoin(url, location), "get", None
            if stop_at and url.startswith(stop_at):
                return Page(url=url, status=0, text="", history=history)
        raise AssertionError(f"Too many redirects: {history}")

    def submit(self, page: Page, form: dict, stop_at: str = "", **fields) -> Page:
        action = urljoin(page.url, form["action"] or page.url)
        return self.go(action, method=form["method"], data={**form["fields"], **fields}, stop_at=stop_at)


def sso_button(page: Page, provider_name: str) -> dict:
    """The login page's "Sign in with <name>" form."""
    for form in page_forms(page.text):
        if f"Sign in with {provider_name}" in form["text"]:
            return form
    raise AssertionError(f"No 'Sign in with {provider_name}' button on {page.url}:\n{page.text[:3000]}")


def sign_in_with_sso(browser: Browser, dashboard_url: str, provider: OidcProvider, *, username: str,
                     password: str, provider_name: str, stop_at: str = "") -> Page:  # fmt: skip
    """Dashboard login page → "Sign in with <name>" → the provider's authorize and login form → the
    dashboard's callback → wherever the dashboard lands the person. Returns that last page (or the
    first URL starting with ``stop_at``, unvisited)."""
    login_page = browser.go(dashboard_url + "/accounts/login/")
    assert login_page.status == 200, login_page.text[:2000]
    provider_login = browser.submit(login_page, sso_button(login_page, provider_name))
    assert provider_login.url.startswith(provider.url + "/accounts/login/"), (provider_login.url, provider_login.text)
    (form,) = page_forms(provider_login.text)
    return browser.submit(provider_login, form, stop_at=stop_at, username=username, password=password)
