"""The API budget as people meet it: the footer, the admins' /budget/ page, and a spent budget that
answers a page (or an htmx request) at once with when to retry, without calling Voucherify."""

from __future__ import annotations

import re
import time

import pytest

from customers_app.services import budget

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("use_sandbox_server")]


@pytest.fixture(autouse=True)
def fresh_budget():
    budget.reset()
    yield
    budget.reset()


def test_admins_see_what_is_using_the_budget(admin_role_client, settings):
    settings.VOUCHERIFY_RATE_LIMIT_PER_MINUTE = 100
    admin_role_client.get("/customers/")
    with budget.background():
        budget.acquire()
    html = admin_role_client.get("/budget/").content.decode()
    assert re.search(r'data-budget="limit">100 calls', html)
    interactive = int(re.search(r'data-budget="interactive">(\d+)<', html).group(1))
    assert interactive >= 1 and re.search(r'data-budget="background">1\b', html)
    assert "at most 50" in html  # half the limit for background work
    assert 'href="/budget/"' in html  # the footer links admins here


def test_a_spent_budget_answers_at_once_with_the_retry_time(support_client, settings):
    settings.VOUCHERIFY_RATE_LIMIT_PER_MINUTE = 3
    for _ in range(3):
        budget.acquire(budget.INTERACTIVE)
    started = time.monotonic()
    response = support_client.get("/customers/")
    assert time.monotonic() - started < 1
    assert response.status_code == 429 and int(response["Retry-After"]) >= 1
    html = response.content.decode()
    assert "API budget is used up" in html
    assert re.search(r"Voucherify accepts calls again in \d+ s, at \d\d:\d\d:\d\d UTC", html)
    assert 'href="/customers/">Try again</a>' in html


def test_an_htmx_request_gets_the_same_as_an_alert(support_client, settings):
    settings.VOUCHERIFY_RATE_LIMIT_PER_MINUTE = 1
    budget.acquire(budget.INTERACTIVE)
    response = support_client.get(
        "/customers/?city=Warsaw", HTTP_HX_REQUEST="true", HTTP_HX_CURRENT_URL="http://testserver/customers/?city=Warsaw"
    )
    assert response.status_code == 429 and response["HX-Retarget"] == "#alerts"
    html = response.content.decode()
    assert 'role="alert"' in html and "Voucherify accepts calls again in" in html
    assert "Try again</a>" in html and "<html" not in html


def test_others_may_not_see_the_budget_page(support_client, marketer_client):
    assert support_client.get("/budget/").status_code == 403
