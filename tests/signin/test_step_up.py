"""Step-up before dangerous actions: an authentication within REAUTH_SECONDS, else asked again, and back
on the form with what was typed. Against the real sandbox server; the delete is the dangerous action."""

from __future__ import annotations

import html
import time
import uuid

import pyotp
import pytest
from django.urls import reverse

from customers_app.management.commands.dashboard_user import set_user_role
from customers_app.signin.factors import enrol_totp
from customers_app.signin.guards import AUTHENTICATED_AT_KEY
from tests.csv_samples import remove_created_customers  # noqa: F401 - a fixture

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("remove_created_customers")]

SECRET = "KRUGKIDROVUWG2ZAMJZG653OEBTG66BA"
PASSWORD = "a-long-test-password"


@pytest.fixture
def customer(use_sandbox_server):
    source_id = f"stepup-{uuid.uuid4().hex[:12]}"
    body = {"source_id": source_id, "name": "Sam Step", "email": f"{source_id}@example.com"}
    response = use_sandbox_server.api("POST", "/v1/customers", json=body)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture
def admin_signed_in_long_ago(client, settings):
    """An enrolled admin whose last authentication is older than REAUTH_SECONDS."""
    user, _ = set_user_role("stepup-admin", "admin", PASSWORD)
    enrol_totp(user, SECRET)
    client.force_login(user)
    session = client.session
    session[AUTHENTICATED_AT_KEY] = time.time() - settings.REAUTH_SECONDS - 1
    session.save()
    return client


def _exists(server, customer_id: str) -> bool:
    return server.api("GET", f"/v1/customers/{customer_id}").status_code == 200


def test_an_old_session_is_asked_again_and_lands_back_on_the_form_with_what_it_typed(
    admin_signed_in_long_ago, customer, use_sandbox_server
):
    client = admin_signed_in_long_ago
    url = reverse("customers:delete", args=[customer["id"]])
    asked = client.post(url, {"confirmation": customer["email"]})
    assert asked.status_code == 302
    assert asked["Location"] == f"/accounts/reauthenticate/?next={url.replace('/', '%2F')}"
    assert _exists(use_sandbox_server, customer["id"]), "nothing may happen before the step-up"

    page = client.get(asked["Location"])
    assert page.status_code == 200
    wrong = client.post(asked["Location"], {"password": "not-the-password"})
    assert wrong.status_code == 200
    back = client.post(asked["Location"], {"password": PASSWORD})
    assert back.status_code == 302
    assert back["Location"] == url

    form = html.unescape(client.get(url).content.decode())
    assert f'value="{customer["email"]}"' in form  # what they had typed, to confirm once more
    assert _exists(use_sandbox_server, customer["id"])
    done = client.post(url, {"confirmation": customer["email"]})
    assert done.status_code == 302
    assert done["Location"] == reverse("customers:list")
    assert not _exists(use_sandbox_server, customer["id"])


def test_the_second_factor_also_counts_as_a_fresh_authentication(admin_signed_in_long_ago, customer):
    client = admin_signed_in_long_ago
    url = reverse("customers:delete", args=[customer["id"]])
    client.post(url, {"confirmation": customer["email"]})
    back = client.post(f"/accounts/2fa/reauthenticate/?next={url}", {"code": pyotp.TOTP(SECRET).now()})
    assert back.status_code == 302
    assert back["Location"] == url
    assert client.post(url, {"confirmation": customer["email"]})["Location"] == reverse("customers:list")


def test_a_recent_authentication_needs_no_step_up(client, customer, settings):
    user, _ = set_user_role("fresh-admin", "admin", PASSWORD)
    enrol_totp(user, SECRET)
    client.post("/accounts/login/", {"login": "fresh-admin", "password": PASSWORD})
    client.post("/accounts/2fa/authenticate/", {"code": pyotp.TOTP(SECRET).now()})
    url = reverse("customers:delete", args=[customer["id"]])
    assert client.post(url, {"confirmation": customer["email"]})["Location"] == reverse("customers:list")


def test_the_window_is_reauth_seconds(admin_signed_in_long_ago, customer, settings):
    settings.REAUTH_SECONDS = 10 * 60  # the session's authentication is 5 minutes old: within 10
    url = reverse("customers:delete", args=[customer["id"]])
    assert admin_signed_in_long_ago.post(url, {"confirmation": customer["email"]})["Location"] == reverse(
        "customers:list"
    )


def test_import_confirm_steps_up_to_the_preview_page(admin_signed_in_long_ago):
    # The confirm URL takes only POST: after the step-up the user lands on the preview with its button.
    asked = admin_signed_in_long_ago.post(reverse("customers:import-confirm"))
    assert asked.status_code == 302
    assert asked["Location"].startswith("/accounts/reauthenticate/?next=")
    assert asked["Location"].endswith(reverse("customers:import-preview").replace("/", "%2F"))


def test_bulk_update_steps_up_and_shows_the_preview_again(admin_signed_in_long_ago, customer):
    client = admin_signed_in_long_ago
    data = {"id": customer["id"], "set-address_city": "Steptown"}
    asked = client.post(reverse("customers:bulk"), data)
    assert asked.status_code == 302
    assert asked["Location"].startswith("/accounts/reauthenticate/")
    client.post(asked["Location"], {"password": PASSWORD})
    preview = html.unescape(client.get(reverse("customers:bulk")).content.decode())
    assert "Steptown" in preview
    assert customer["id"] in preview
