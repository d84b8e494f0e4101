"""The overview page, from a search index loaded from the sandbox over real HTTP: its figures equal what
the sandbox's own API counts, every chart has its numbers in a table, and a city opens the filtered list."""

from __future__ import annotations

import re
from urllib.parse import unquote_plus

import pytest

from customers_app.search.models import IndexedCustomer
from customers_app.search.sync import run_pass

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("use_sandbox_server")]


@pytest.fixture
def loaded_index(settings):
    settings.SEARCH_RECONCILE_HOURS = 1000
    report = run_pass(full=True)
    assert not report.error, report


def test_the_overview_counts_what_voucherify_holds(support_client, sandbox_server, loaded_index):
    html = support_client.get("/overview/").content.decode()
    total = sandbox_server.api("GET", "/v1/customers", params={"limit": 1}).json()["total"]
    assert re.search(rf'data-figure="total">{total:,}<', html)
    assert "Index updated" in html and "warming up" not in html

    city = re.search(r'<a href="/customers/\?city=([^"]+)">([^<]+)</a>', html)
    name = unquote_plus(city.group(1))
    shown = int(re.search(rf">{re.escape(city.group(2))}</a></td><td>([\d,]+)<", html).group(1).replace(",", ""))
    upstream = sandbox_server.api("GET", "/v1/customers", params={"limit": 1, "city": name}).json()["total"]
    assert shown == upstream

    segments = sandbox_server.api("GET", "/v1/segments", params={"limit": 100}).json()["data"]
    first = segments[0]
    size = sandbox_server.api("GET", "/v1/customers", params={"limit": 1, "segment_id": first["id"]}).json()["total"]
    assert re.search(rf'segment_id={first["id"]}">{re.escape(first["name"])}</a></td><td>{size:,}<', html)


def test_every_chart_is_an_svg_with_a_table_and_links_into_the_list(support_client, loaded_index):
    html = support_client.get("/overview/").content.decode()
    assert html.count('<svg viewBox=') == 4 and html.count('role="group" aria-labelledby') == 4
    for table in ("weeks", "cities", "countries", "segments"):
        assert f'data-table="{table}"' in html
    week_link = re.search(r'href="(/customers/\?created_at_after=[^"]+)"', html).group(1)
    assert "created_at_before=" in week_link


def test_before_the_first_load_the_page_says_search_is_warming_up(support_client):
    IndexedCustomer.objects.all().delete()
    html = support_client.get("/overview/").content.decode()
    assert "warming up" in html and 'data-figure="total">0<' in html
