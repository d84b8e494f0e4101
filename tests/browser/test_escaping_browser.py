"""A hostile customer in a real browser: no payload ever runs (no dialog) and nothing trips the CSP."""

from __future__ import annotations

import uuid
from urllib.parse import quote

import pytest

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
JS_URL = "javascript:alert(1)"
TEMPLATE = "{{ 7*7 }}"
ATTR = "' onmouseover='alert(1)"
SVG = "<svg onload=alert(1)>"


@pytest.fixture
def hostile(sandbox_server):
    tag = uuid.uuid4().hex[:12]
    email = f"{SCRIPT}\"><img/src=x/onerror=alert(1)>'onmouseover='alert(1)'.{tag}@example.com"
    body = {
        "source_id": f"{JS_URL}{SCRIPT}{IMG}{ATTR}{TEMPLATE}-{tag}",
        "name": f"{SCRIPT} Evil {IMG}",
        "email": email,
        "phone": f"+1 555 0100 {IMG}",
        "description": f"{SCRIPT}\n{IMG}\n{JS_URL}\n{TEMPLATE}\n{ATTR}",
        "address": {"line_1": SCRIPT, "line_2": IMG, "city": JS_URL, "state": TEMPLATE, "country": SVG},
        "metadata": {SCRIPT: IMG, IMG: SCRIPT, ATTR: JS_URL, "nested": {"<b>k</b>": SCRIPT, "list": [IMG, ATTR]}},
    }
    response = sandbox_server.api("POST", "/v1/customers", json=body)
    assert response.status_code == 200, response.text
    customer = response.json()
    updated = sandbox_server.api("PUT", f"/v1/customers/{customer['id']}", json={"name": f"{body['name']} {ATTR}"})
    assert updated.status_code == 200, updated.text
    yield updated.json()
    sandbox_server.api("DELETE", f"/v1/customers/{customer['id']}")


def watch(page) -> tuple[list[str], list[str]]:
    dialogs: list[str] = []
    problems: list[str] = []

    def on_dialog(dialog):
        dialogs.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", on_dialog)
    page.on("console", lambda m: problems.append(m.text) if "Content Security Policy" in m.text else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    return dialogs, problems


def poke(page) -> None:
    """Hovers, focuses and opens everything a payload could hook into."""
    page.locator("details").evaluate_all("els => els.forEach(e => { e.open = true; })")
    for selector in ("td", "dd", "code", "th", "h1", "pre", "address"):
        for element in page.locator(selector).all()[:40]:
            if element.is_visible():
                element.hover()
    page.wait_for_timeout(200)


def test_hostile_customer_pages_run_nothing(login_page, hostile):
    page = login_page("admin")
    dialogs, problems = watch(page)
    base = f"/customers/{hostile['id']}/"
    for url in (
        base,
        f"/customers/{quote(hostile['source_id'], safe='/')}/",
        *(f"{base}{tab}/" for tab in ("activity", "redeemables", "segments", "history")),
        f"{base}edit/",
        f"{base}delete/",
        f"{base}erase/",
        f"/customers/?email={quote(hostile['email'], safe='')}",
        f"/customers/jump/?q={quote(SCRIPT + IMG, safe='')}",
    ):
        page.goto(url)
        page.wait_for_load_state("networkidle")
        poke(page)
        assert not dialogs, f"{url}: a dialog opened: {dialogs}"
        assert not problems, f"{url}: {problems}"
    assert page.title()  # still on our page


def test_hostile_customer_tabs_swapped_in_by_htmx_run_nothing(login_page, hostile):
    page = login_page("admin")
    dialogs, problems = watch(page)
    page.goto(f"/customers/{hostile['id']}/")
    page.wait_for_selector("tr[data-activity-id]")
    assert page.get_by_role("heading", level=1).inner_text() == hostile["name"]
    poke(page)
    for tab in ("Redeemables", "Segments", "History", "Activity"):
        page.get_by_role("tab", name=tab).click()
        page.wait_for_url(f"**/customers/{hostile['id']}/{tab.lower()}/")
        page.wait_for_load_state("networkidle")
        poke(page)
        assert not dialogs, f"{tab}: a dialog opened: {dialogs}"
        assert not problems, f"{tab}: {problems}"
    # The payloads are on screen as text.
    text = page.locator("main").inner_text()
    assert SCRIPT in text and IMG in text
    assert page.locator("img, svg, iframe").count() == 0
