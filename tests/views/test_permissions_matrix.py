"""Every dashboard URL against every role, GET and POST: whoever lacks the permission gets 403 and nothing happens."""

from __future__ import annotations

import pytest
from django.urls import URLPattern, get_resolver, reverse

from customers_app import roles
from customers_app.management.commands.dashboard_user import set_user_role
from tests.conftest import fully_signed_in

pytestmark = pytest.mark.django_db

ANY_JOBS = (roles.IMPORT, roles.BULK_UPDATE, roles.EXPORT)

# URL name -> (permissions, any one of which lets a user in; the methods the view answers).
PROTECTED = {
    "list": ((roles.VIEW,), {"GET"}),
    "jump": ((roles.VIEW,), {"GET"}),
    "overview": ((roles.VIEW,), {"GET"}),
    "create": ((roles.ADD,), {"GET", "POST"}),
    "import": ((roles.IMPORT,), {"GET", "POST"}),
    "import-template": ((roles.IMPORT,), {"GET"}),
    "import-map": ((roles.IMPORT,), {"GET", "POST"}),
    "import-preview": ((roles.IMPORT,), {"GET"}),
    "import-confirm": ((roles.IMPORT,), {"POST"}),
    "import-cancel": ((roles.IMPORT,), {"POST"}),
    "export": ((roles.EXPORT,), {"GET"}),
    "bulk": ((roles.BULK_UPDATE,), {"GET", "POST"}),
    "jobs": (ANY_JOBS, {"GET"}),
    "job": (ANY_JOBS, {"GET"}),
    "job-rejected": (ANY_JOBS, {"GET"}),
    "background-job": (ANY_JOBS, {"GET"}),
    "background-job-cancel": (ANY_JOBS, {"POST"}),
    "background-job-download": (ANY_JOBS, {"GET"}),
    "erasures": ((roles.ERASE,), {"GET"}),
    "privacy-requests": ((roles.ERASE,), {"GET"}),
    "privacy-new": ((roles.ERASE,), {"GET", "POST"}),
    "privacy-request": ((roles.ERASE,), {"GET"}),
    "privacy-erase": ((roles.ERASE,), {"GET", "POST"}),
    "privacy-reject": ((roles.ERASE,), {"POST"}),
    "privacy-pack": ((roles.ERASE,), {"GET"}),
    "erasure": ((roles.ERASE,), {"GET"}),
    "erasure-evidence": ((roles.ERASE,), {"GET"}),
    "audit": ((roles.VIEW_AUDIT,), {"GET"}),
    "audit-export": ((roles.VIEW_AUDIT,), {"GET"}),
    "budget": ((roles.VIEW_AUDIT,), {"GET"}),
    "edit": ((roles.CHANGE,), {"GET", "POST"}),
    "activity": ((roles.VIEW,), {"GET"}),
    "redeemables": ((roles.VIEW,), {"GET"}),
    "segments": ((roles.VIEW,), {"GET"}),
    "delete": ((roles.DELETE,), {"GET", "POST"}),
    "erase": ((roles.ERASE,), {"GET", "POST"}),
    "history": ((roles.VIEW_AUDIT,), {"GET"}),
    "detail": ((roles.VIEW,), {"GET"}),
    "team": ((roles.MANAGE_TEAM,), {"GET"}),
    "team-role": ((roles.MANAGE_TEAM,), {"GET", "POST"}),
    "team-deactivate": ((roles.MANAGE_TEAM,), {"GET", "POST"}),
    "team-sessions-revoke": ((roles.MANAGE_TEAM,), {"GET", "POST"}),
    # Anyone with a role may end all of their own sessions (a user without one has the Log out button).
    "log-out-everywhere": (tuple(roles.PERMISSIONS), {"POST"}),
}
ARGS = {
    "customer_id": "cust_matrix_nobody",
    "async_action_id": "aa_matrix_nobody",
    "pk": 999999,
    "job_id": "00000000-0000-4000-8000-000000000000",
    "user_id": 999999,
}
ROLES = ["support", "marketer", "admin", None]  # None: signed in, but in no role



def dashboard_urls() -> list[tuple[str, str]]:
    patterns = get_resolver().url_patterns
    app = next(p for p in patterns if getattr(p, "app_name", None) == "customers")
    found = []
    for pattern in app.url_patterns:
        assert isinstance(pattern, URLPattern)
        kwargs = {name: ARGS[name] for name in pattern.pattern.converters}
        found.append((pattern.name, reverse(f"customers:{pattern.name}", kwargs=kwargs)))
    return found


def granted(role: str | None) -> set[str]:
    if role is None:
        return set()
    return set(roles.ROLE_GROUPS[role][1])


def cases():
    for name, url in dashboard_urls():
        for role in ROLES:
            yield pytest.param(name, url, role, id=f"{name}-{role or 'norole'}")


def test_every_dashboard_url_has_a_row_in_the_matrix():
    missing = [name for name, _ in dashboard_urls() if name not in PROTECTED]
    assert not missing, f"Add these URL names to PROTECTED with their permission: {missing}"


@pytest.fixture
def signed_in(client, use_sandbox_server):
    def login(role: str | None):
        from django.contrib.auth import get_user_model

        if role is None:
            user = get_user_model().objects.create_user("no-role-user", password="a-long-test-password")
        else:
            user, _ = set_user_role(f"{role}-matrix", role, "a-long-test-password")
        # Enrolled and freshly signed in: this test is about permissions (tests/signin covers the factors).
        fully_signed_in(client, user)
        return client

    return login


@pytest.mark.parametrize(("name", "url", "role"), list(cases()))
def test_role_against_url(signed_in, name, url, role):
    permissions, methods = PROTECTED[name]
    client = signed_in(role)
    allowed = bool(granted(role) & set(permissions))
    get = client.get(url)
    post = client.post(url, {"confirmation": "x"})
    if allowed:
        assert get.status_code != 403 if "GET" in methods else get.status_code == 405
        return
    for method, response in (("GET", get), ("POST", post)):
        assert response.status_code == 403, f"{role} {method} {url}"


GDPR_AND_AUDIT = {"delete", "erase", "erasures", "erasure", "erasure-evidence", "audit", "audit-export", "history"}


@pytest.mark.parametrize("role", ["support", "marketer", None])
def test_refused_users_get_403_for_any_method_on_gdpr_and_audit_urls(signed_in, role):
    client = signed_in(role)
    for name, url in dashboard_urls():
        if name in GDPR_AND_AUDIT or name.startswith("privacy-"):
            if granted(role) & set(PROTECTED[name][0]):
                continue
            for method in ("get", "post", "put", "delete"):
                assert getattr(client, method)(url).status_code == 403, f"{role} {method.upper()} {url}"
