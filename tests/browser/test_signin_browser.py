"""Sign-in in a real browser: password then authenticator code, and an expired step-up asked again.

Its own served product with REAUTH_SECONDS=15, so the step-up's window runs out within the test."""

from __future__ import annotations

import re
import time
import uuid

import pyotp
import pytest

from tests.conftest import ServedProduct, free_port, prepare_product, product_env

REAUTH_SECONDS = 15


@pytest.fixture(scope="module")
def product(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("signin-browser")
    env = product_env(workdir, free_port(), REAUTH_SECONDS=str(REAUTH_SECONDS))
    prepare_product(env, 20)
    served = ServedProduct(env, workdir / "gunicorn.log", workers=1, task_worker=False).start()
    yield served
    served.stop()


def _api(product, method: str, path: str, **kwargs):
    import requests

    headers = {"X-App-Id": "sandbox-app-id", "X-App-Token": "sandbox-app-token"}
    return requests.request(method, product.url + "/sandbox" + path, headers=headers, timeout=10, **kwargs)


def _customer(product) -> dict:
    tag = uuid.uuid4().hex[:10]
    body = {"source_id": f"signin-{tag}", "name": f"Stella Step {tag}", "email": f"stella.{tag}@example.com"}
    response = _api(product, "POST", "/v1/customers", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def _sign_in_admin(page, product) -> None:
    from django.conf import settings

    page.goto("/accounts/login/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(product.env["DEMO_PASSWORD"])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/accounts/2fa/authenticate/")
    # A wrong code first: refused, still on the second step.
    right = pyotp.TOTP(settings.DEMO_TOTP_SECRET).now()
    page.get_by_label("Code").fill("000000" if right != "000000" else "111111")
    page.get_by_role("button", name="Sign In").click()
    assert "Incorrect code" in page.content()
    page.get_by_label("Code").fill(pyotp.TOTP(settings.DEMO_TOTP_SECRET).now())
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url("**/customers/")


def test_admin_signs_in_with_password_and_code_erases_and_an_expired_step_up_is_asked_again(browser, product):
    customer = _customer(product)
    context = browser.new_context(base_url=product.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    _sign_in_admin(page, product)
    signed_in_at = time.monotonic()

    # Just signed in: an erasure goes straight through.
    erased = _customer(product)
    page.goto(f"/customers/{erased['id']}/erase/")
    page.get_by_label("Request reference").fill("GDPR-SIGNIN-1")
    page.get_by_label("Requested by").select_option("data_subject")
    page.get_by_label("Reason").fill("Right to erasure, GDPR art. 17(1)(a)")
    page.get_by_label("Type the email to confirm the erasure").fill(erased["email"])
    page.get_by_role("button", name="Yes, erase this customer").click()
    page.wait_for_url(re.compile(r"/(erasures|privacy)/\d+/$"))
    assert "Erased 1 customer record" in page.locator("#alerts").inner_text()
    assert _api(product, "GET", f"/v1/customers/{erased['id']}").status_code == 404

    # Wait until the sign-in is older than the step-up window.
    time.sleep(max(0.0, signed_in_at + REAUTH_SECONDS + 1 - time.monotonic()))
    page.goto(f"/customers/{customer['id']}/delete/")
    page.get_by_label("Type the customer's email to confirm").fill(customer["email"])
    page.get_by_role("button", name="Yes, delete this customer").click()
    page.wait_for_url("**/accounts/reauthenticate/**")
    assert "confirm it is you" in page.content()
    assert _api(product, "GET", f"/v1/customers/{customer['id']}").status_code == 200

    page.get_by_label("Password").fill(product.env["DEMO_PASSWORD"])
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url(f"**/customers/{customer['id']}/delete/")
    # Back on the form with what was typed; one more click does it.
    assert page.get_by_label("Type the customer's email to confirm").input_value() == customer["email"]
    page.get_by_role("button", name="Yes, delete this customer").click()
    page.wait_for_url("**/customers/")
    assert _api(product, "GET", f"/v1/customers/{customer['id']}").status_code == 404
    context.close()


def test_a_security_key_is_added_and_then_signs_the_admin_in(browser, product):
    """WebAuthn with Chromium's virtual authenticator (DevTools protocol): no real key needed. Through
    localhost: an IP address cannot be a WebAuthn relying party id."""
    context = browser.new_context(base_url=product.url.replace("127.0.0.1", "localhost"))
    context.set_default_timeout(15_000)
    page = context.new_page()
    devtools = context.new_cdp_session(page)
    devtools.send("WebAuthn.enable")
    devtools.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "usb",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
            }
        },
    )
    _sign_in_admin(page, product)

    page.goto("/accounts/2fa/webauthn/add/")
    page.get_by_label("Name").fill("Test key")
    errors = []
    page.on("console", lambda message: errors.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))
    with page.expect_navigation():
        page.get_by_role("button", name="Add").click()
    assert not [error for error in errors if error.startswith(("error", "pageerror"))], errors
    page.goto("/accounts/2fa/webauthn/")
    assert "Test key" in page.content()

    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/accounts/login/**")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill(product.env["DEMO_PASSWORD"])
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url("**/accounts/2fa/authenticate/")
    page.get_by_role("button", name="Use a security key").click()
    page.wait_for_url("**/customers/")
    context.close()
