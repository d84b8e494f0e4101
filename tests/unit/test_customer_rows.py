"""The list's rows: each customer's created and updated times, shared when they are the same moment."""

from __future__ import annotations

import json
import re

from customers_app.templatetags.dashboard import customer_rows
from customers_app.types import ListedCustomerPage


def rows(*customers: dict) -> list[list[str]]:
    page = ListedCustomerPage.from_json(json.dumps({"customers": list(customers)}).encode())
    html = str(customer_rows(page.customers))
    return [re.findall(r'<time datetime="([^"]+)"', row) for row in html.split("\n")]


def test_created_and_updated_each_show_their_own_time_and_a_missing_one_a_dash():
    never = {"id": "c1", "created_at": "2026-11-30T07:48:44.485Z", "updated_at": "2026-11-30T07:48:44.485Z"}
    edited = {"id": "c2", "created_at": "2026-11-30T07:48:44.485Z", "updated_at": "2026-12-01T09:00:00.000Z"}
    offset = {"id": "c3", "created_at": "2026-11-30T08:48:44+01:00", "updated_at": None}
    assert rows(never, edited, offset) == [
        ["2026-11-30T07:48:44.485Z", "2026-11-30T07:48:44.485Z"],
        ["2026-11-30T07:48:44.485Z", "2026-12-01T09:00:00.000Z"],
        ["2026-11-30T07:48:44.000Z"],  # written in UTC; no update time: a dash
    ]
    html = str(customer_rows(ListedCustomerPage.from_json(json.dumps({"customers": [offset]}).encode()).customers))
    assert html.endswith("<td>—</td></tr>")
