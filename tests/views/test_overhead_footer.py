"""The footer's budget figures come from the page's own Voucherify call, and match the store."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers_app.services import budget

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("use_sandbox_server")]

FOOTER = re.compile(r"Voucherify API: (\d+) of (\d+) calls left this minute")


@pytest.fixture(autouse=True)
def fresh_budget(settings):
    settings.VOUCHERIFY_RATE_LIMIT_PER_MINUTE = 100
    budget.reset()
    yield
    budget.reset()


def footer(response) -> tuple[int, int]:
    remaining, limit = FOOTER.search(response.content.decode()).groups()
    return int(remaining), int(limit)


def test_the_list_footer_shows_the_window_its_own_call_left_without_reading_it_again(support_client):
    for _ in range(4):
        budget.acquire(budget.INTERACTIVE)
    with budget.background():
        budget.acquire()
    with CaptureQueriesContext(connection) as queries:
        response = support_client.get("/customers/", {"limit": 100})
    assert response.status_code == 200
    assert footer(response) == (budget.usage().remaining, 100)
    assert footer(response)[0] <= 100 - 5 - 1
    sql = [query["sql"] for query in queries]
    last_booking = max(i for i, text in enumerate(sql) if text.startswith("INSERT INTO customers_app_budgetslot"))
    assert not [text for text in sql[last_booking:] if "FROM customers_app_budgetslot" in text]


def test_the_detail_footer_matches_the_store(support_client):
    customer_id = re.search(r'data-customer-id="([^"]+)"', support_client.get("/customers/").content.decode()).group(1)
    budget.acquire(budget.INTERACTIVE)
    response = support_client.get(f"/customers/{customer_id}/")
    assert response.status_code == 200
    assert footer(response) == (budget.usage().remaining, 100)


def test_a_page_without_a_call_reads_the_store_not_an_earlier_page(support_client):
    support_client.get("/customers/")
    for _ in range(3):  # other agents' calls after that page
        budget.acquire(budget.INTERACTIVE)
    response = support_client.get("/customers/jump/")  # no Voucherify call without a query
    assert footer(response) == (budget.usage().remaining, 100)
