"""The customer page and its tabs against the sandbox over real HTTP: exactly what the API returns."""

from __future__ import annotations

import html
import re
import uuid
from urllib.parse import quote

import pytest

from customers_app.services.customers import customer_activities_list, customer_activity_list
from customers_app.services.voucherify import NotFound

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("use_sandbox_server")]

HTMX = {"HTTP_HX_REQUEST": "true"}
ACTIVITY_ID = re.compile(r'<tr data-activity-id="([^"]+)"')
REDEEMABLE_ID = re.compile(r'<tr data-redeemable-id="([^"]+)"')
SEGMENT_ID = re.compile(r'<li data-segment-id="([^"]+)"')


def page_text(response) -> str:
    return response.content.decode()


def api_customers(sandbox_server, **params) -> list[dict]:
    response = sandbox_server.api("GET", "/v1/customers", params={"limit": 100, **params})
    assert response.status_code == 200, response.text
    return response.json()["customers"]


def first_customer_with(sandbox_server, related: str, minimum: int = 1, **params) -> dict:
    """A seeded customer with at least ``minimum`` activity/redeemables/segments."""
    for customer in api_customers(sandbox_server):
        body = sandbox_server.api("GET", f"/v1/customers/{customer['id']}/{related}", params={"limit": 100}).json()
        if len(body["data"]) >= minimum:
            return customer
    pytest.fail(f"no seeded customer has {minimum} {related}")


def new_customer(sandbox_server, **fields) -> dict:
    body = {"source_id": f"test-detail-{uuid.uuid4()}", **fields}
    response = sandbox_server.api("POST", "/v1/customers", json=body)
    assert response.status_code == 200, response.text
    return response.json()


# Profile ------------------------------------------------------------------------------------------


def test_profile_shows_every_field_with_copy_buttons(support_client, sandbox_server):
    customer = new_customer(
        sandbox_server,
        name="Ada Lovelace",
        email="ada@example.com",
        phone="+44 20 7946 0000",
        birthdate="1815-12-10",
        description="Prefers email.",
        address={"line_1": "12 St James's Square", "city": "London", "postal_code": "SW1Y", "country": "UK"},
        metadata={"tier": "gold", "visits": 12, "vip": True, "joined": "2024-05-01", "prefs": {"lang": "en"}},
    )
    response = support_client.get(f"/customers/{customer['id']}/")
    assert response.status_code == 200
    text = html.unescape(page_text(response))
    for expected in (
        "Ada Lovelace", "ada@example.com", "+44 20 7946 0000", "10 December 1815", "Prefers email.",
        "12 St James's Square", "SW1Y London", "UK",
    ):  # fmt: skip
        assert expected in text
    assert f'data-copy="{customer["id"]}"' in text
    assert f'data-copy="{customer["source_id"]}"' in text
    assert '<tr data-metadata-key="visits">' in text
    assert "number</span></td><td>12</td>" in text
    assert "boolean</span></td><td>true</td>" in text
    assert "date</span></td><td>2024-05-01</td>" in text
    assert '<pre class="json">{"lang": "en"}</pre>' in text
    assert "Redemptions" in text and "Orders" in text


def test_profile_shows_loyalty_and_summary_figures_from_the_api(support_client, sandbox_server):
    customer = next(c for c in api_customers(sandbox_server) if c["loyalty"] and c["loyalty"]["points"])
    text = html.unescape(page_text(support_client.get(f"/customers/{customer['id']}/")))
    assert "Loyalty" in text
    assert f"<dt>Points</dt><dd>{customer['loyalty']['points']}</dd>" in text
    redemptions = customer["summary"]["redemptions"]
    assert f"<dt>Redeemed</dt><dd>{redemptions['total_redeemed']}</dd>" in text
    orders = customer["summary"]["orders"]
    assert f"<dt>Orders</dt><dd>{orders['total_count']}</dd>" in text
    for campaign in customer["loyalty"]["campaigns"]:
        assert campaign in text


def test_source_id_opens_the_same_page(support_client, sandbox_server):
    customer = new_customer(sandbox_server, name="By source")
    response = support_client.get(f"/customers/{quote(customer['source_id'])}/")
    assert response.status_code == 200
    assert f'data-customer-id="{customer["id"]}"' in page_text(response)


def test_source_id_with_a_slash_opens_the_customer_and_its_tabs(support_client, sandbox_server):
    customer = new_customer(sandbox_server, source_id=f"shop/{uuid.uuid4()}", name="Slashed")
    response = support_client.get(f"/customers/{customer['source_id']}/")
    assert response.status_code == 200
    response = support_client.get(f"/customers/{customer['source_id']}/activity/")
    assert response.status_code == 200
    assert "Customer created" in page_text(response)


def test_unknown_customer_is_a_friendly_404_with_the_jump_box(support_client):
    response = support_client.get("/customers/cust_doesnotexist000000000000/")
    assert response.status_code == 404
    text = page_text(response)
    assert "No customer “cust_doesnotexist000000000000”" in text
    assert 'action="/customers/jump/"' in text
    assert "request id" in text


@pytest.mark.parametrize("tab", ["activity", "redeemables", "segments"])
def test_unknown_customer_tab_is_a_404(support_client, tab):
    response = support_client.get(f"/customers/cust_doesnotexist000000000000/{tab}/")
    assert response.status_code == 404


def test_unknown_customer_tab_fragment_says_so_in_the_panel(support_client):
    response = support_client.get("/customers/cust_doesnotexist000000000000/activity/", **HTMX)
    assert response.status_code == 404
    text = page_text(response)
    assert text.lstrip().startswith('<section id="customer-tabs"')
    assert "<html" not in text


def test_name_with_markup_is_escaped_everywhere(support_client, sandbox_server):
    evil = "<script>alert(1)</script>"
    customer = new_customer(sandbox_server, name=evil, description=evil, metadata={evil: evil})
    for url in (f"/customers/{customer['id']}/", f"/customers/{customer['id']}/edit/"):
        text = page_text(support_client.get(url))
        assert "<script>alert(1)</script>" not in text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    text = page_text(support_client.get(f"/customers/{customer['id']}/activity/"))
    assert "<script>alert(1)</script>" not in text


def test_detail_requires_the_view_permission(client, db, sandbox_server):
    from django.contrib.auth.models import User

    user = User.objects.create_user("nobody", password="a-long-test-password")
    client.force_login(user)
    customer = api_customers(sandbox_server)[0]
    assert client.get(f"/customers/{customer['id']}/").status_code == 403
    assert client.get(f"/customers/{customer['id']}/activity/").status_code == 403


def test_edit_button_only_for_roles_that_may_edit(login_as, sandbox_server):
    customer = api_customers(sandbox_server)[0]
    support = page_text(login_as("support").get(f"/customers/{customer['id']}/"))
    assert f'href="/customers/{customer["id"]}/edit/"' in support
    marketer = page_text(login_as("marketer").get(f"/customers/{customer['id']}/"))
    assert f'href="/customers/{customer["id"]}/edit/"' not in marketer


# Shell and tabs ---------------------------------------------------------------------------------


def test_shell_does_not_wait_for_the_tabs(support_client, sandbox_server):
    """The bare page shows the profile and lets the Activity panel load itself."""
    customer = first_customer_with(sandbox_server, "activity")
    text = page_text(support_client.get(f"/customers/{customer['id']}/"))
    assert ACTIVITY_ID.findall(text) == []
    assert f'hx-get="/customers/{customer["id"]}/activity/" hx-trigger="load"' in text
    assert f'<a href="/customers/{customer["id"]}/activity/">Show activity</a>' in text
    assert 'role="tablist"' in text
    assert re.search(r'id="tab-activity"[^>]*aria-selected="true"', text, re.S)


def test_tab_strip_is_an_accessible_tablist_with_real_links(support_client, sandbox_server):
    customer = api_customers(sandbox_server)[0]
    text = page_text(support_client.get(f"/customers/{customer['id']}/segments/"))
    for slug in ("activity", "redeemables", "segments"):
        url = f"/customers/{customer['id']}/{slug}/"
        assert re.search(rf'role="tab" id="tab-{slug}" href="{url}"', text)
        assert f'hx-get="{url}" hx-target="#customer-tabs"' in text
    assert re.search(r'id="tab-segments"[^>]*aria-selected="true"[^>]*tabindex="0"', text, re.S)
    assert re.search(r'id="tab-activity"[^>]*aria-selected="false"[^>]*tabindex="-1"', text, re.S)
    assert 'role="tabpanel" aria-labelledby="tab-segments"' in text


def test_activity_tab_lists_the_api_activity_in_order(support_client, sandbox_server):
    customer = first_customer_with(sandbox_server, "activity", minimum=2)
    expected = sandbox_server.api("GET", f"/v1/customers/{customer['id']}/activity", params={"limit": 25}).json()
    response = support_client.get(f"/customers/{customer['id']}/activity/")
    assert response.status_code == 200
    text = page_text(response)
    assert ACTIVITY_ID.findall(text) == [event["id"] for event in expected["data"]]
    assert "Customer created" in text
    # A whole page: profile and panel together, no waiting placeholder.
    assert f'data-customer-id="{customer["id"]}"' in text
    assert 'hx-trigger="load"' not in text


def test_activity_tab_as_htmx_fragment_is_the_tab_strip_and_panel_only(support_client, sandbox_server):
    customer = first_customer_with(sandbox_server, "activity")
    response = support_client.get(f"/customers/{customer['id']}/activity/", **HTMX)
    assert response.status_code == 200
    text = page_text(response)
    assert text.lstrip().startswith('<section id="customer-tabs"')
    assert "<html" not in text and "profile-fields" not in text
    assert ACTIVITY_ID.findall(text)
    assert "HX-Request" in response["Vary"]


def test_history_restore_gets_the_whole_page(support_client, sandbox_server):
    customer = api_customers(sandbox_server)[0]
    response = support_client.get(
        f"/customers/{customer['id']}/redeemables/", HTTP_HX_HISTORY_RESTORE_REQUEST="true", **HTMX
    )
    assert "<html" in page_text(response)


def test_activity_filters_are_sent_to_the_api(support_client, sandbox_server):
    customer = first_customer_with(sandbox_server, "activity", minimum=2)
    params = {"type": "customer.created", "category": "ACTION", "start_date": "2000-01-01"}
    expected = sandbox_server.api(
        "GET", f"/v1/customers/{customer['id']}/activity", params={"limit": 25, **params}
    ).json()
    text = page_text(support_client.get(f"/customers/{customer['id']}/activity/", params))
    assert ACTIVITY_ID.findall(text) == [event["id"] for event in expected["data"]]
    assert len(expected["data"]) == 1


def test_activity_campaign_type_and_end_date_filters(support_client, sandbox_server):
    customer = first_customer_with(sandbox_server, "activity", minimum=2)
    params = {"campaign_type": "LOYALTY_PROGRAM", "end_date": "2100-01-01T00:00:00Z"}
    expected = sandbox_server.api(
        "GET", f"/v1/customers/{customer['id']}/activity", params={"limit": 25, **params}
    ).json()
    text = page_text(support_client.get(f"/customers/{customer['id']}/activity/", params))
    assert ACTIVITY_ID.findall(text) == [event["id"] for event in expected["data"]]


def test_activity_filter_with_no_match_has_its_own_empty_state(support_client, sandbox_server):
    customer = new_customer(sandbox_server, name="Quiet")
    text = page_text(support_client.get(f"/customers/{customer['id']}/activity/", {"type": "customer.order.paid"}))
    assert "No activity matches these filters." in text


def test_bad_activity_date_is_a_form_error_not_an_api_call(support_client, sandbox_server):
    customer = api_customers(sandbox_server)[0]
    text = page_text(support_client.get(f"/customers/{customer['id']}/activity/", {"start_date": "yesterday"}))
    assert "is not a date" in html.unescape(text)


def test_activity_load_more_follows_the_cursor(support_client, sandbox_server):
    customer = new_customer(sandbox_server, name="Busy")
    for index in range(28):
        sandbox_server.api("PUT", f"/v1/customers/{customer['id']}", json={"description": f"v{index}"})
    expected = sandbox_server.api("GET", f"/v1/customers/{customer['id']}/activity", params={"limit": 100}).json()
    all_ids = [event["id"] for event in expected["data"]]
    assert len(all_ids) > 25

    first = page_text(support_client.get(f"/customers/{customer['id']}/activity/", **HTMX))
    assert ACTIVITY_ID.findall(first) == all_ids[:25]
    more = re.search(r'<a href="([^"]+)" hx-get="[^"]+" hx-target="closest tbody"', first)
    assert more, "no Load more link"
    more_url = html.unescape(more.group(1))
    assert f"starting_after_id={all_ids[24]}" in more_url

    rows = support_client.get(more_url, **HTMX)
    text = page_text(rows)
    assert text.lstrip().startswith("<tbody>")
    assert ACTIVITY_ID.findall(text) == all_ids[25:50]
    # Without JavaScript the same link is a whole page.
    assert "<html" in page_text(support_client.get(more_url))


def test_redeemables_tab_matches_the_api(support_client, sandbox_server):
    customer = first_customer_with(sandbox_server, "redeemables", minimum=2)
    expected = sandbox_server.api("GET", f"/v1/customers/{customer['id']}/redeemables", params={"limit": 25}).json()
    text = html.unescape(page_text(support_client.get(f"/customers/{customer['id']}/redeemables/")))
    assert REDEEMABLE_ID.findall(text) == [item["id"] for item in expected["data"]]
    for item in expected["data"]:
        voucher = item["redeemable"]["voucher"]
        assert voucher["code"] in text
        if "gift" in voucher:
            assert f"{voucher['gift']['balance'] / 100:,.2f}" in text
        if "loyalty_card" in voucher:
            assert f"{voucher['loyalty_card']['balance']:,} points" in text
    assert f"{expected['total']} held" in text


def test_redeemables_load_more_uses_the_api_cursor(support_client, sandbox_server):
    customer = first_customer_with(sandbox_server, "redeemables", minimum=2)
    expected = sandbox_server.api("GET", f"/v1/customers/{customer['id']}/redeemables", params={"limit": 100}).json()
    ids = [item["id"] for item in expected["data"]]
    text = page_text(
        support_client.get(f"/customers/{customer['id']}/redeemables/", {"starting_after_id": ids[0]}, **HTMX)
    )
    assert text.lstrip().startswith("<tbody>")
    assert REDEEMABLE_ID.findall(text) == ids[1:26]


def test_segments_tab_links_each_segment_to_the_filtered_list(support_client, sandbox_server):
    customer = first_customer_with(sandbox_server, "segments")
    expected = sandbox_server.api("GET", f"/v1/customers/{customer['id']}/segments").json()["data"]
    text = page_text(support_client.get(f"/customers/{customer['id']}/segments/"))
    assert SEGMENT_ID.findall(text) == [segment["id"] for segment in expected]
    for segment in expected:
        assert f'<a href="/customers/?segment_id={segment["id"]}">{html.escape(segment["name"])}</a>' in text


def test_empty_tabs_have_their_own_empty_states(support_client, sandbox_server):
    customer = new_customer(sandbox_server, name="Newcomer")
    assert "No vouchers, gift cards or loyalty cards yet." in page_text(
        support_client.get(f"/customers/{customer['id']}/redeemables/")
    )
    assert "Not in any segment." in page_text(support_client.get(f"/customers/{customer['id']}/segments/"))


# Service layer: the deprecated endpoint ------------------------------------------------------------


def test_deprecated_activities_endpoint_returns_the_same_events_with_a_total(sandbox_server):
    customer = first_customer_with(sandbox_server, "activity", minimum=2)
    current = customer_activity_list(customer_id=customer["id"], limit=100)
    deprecated = customer_activities_list(customer_id=customer["id"], limit=100)
    assert [item.id for item in deprecated.items] == [item.id for item in current.items]
    assert deprecated.total == len(current.items)
    assert deprecated.has_more is False


def test_deprecated_activities_endpoint_pages_by_date_cursor(sandbox_server):
    customer = new_customer(sandbox_server, name="Paged")
    for index in range(3):
        sandbox_server.api("PUT", f"/v1/customers/{customer['id']}", json={"description": f"v{index}"})
    first = customer_activities_list(customer_id=customer["id"], limit=2)
    assert first.has_more and first.total == 4
    rest = customer_activities_list(customer_id=customer["id"], limit=2, starting_after_id=first.next_cursor)
    assert {item.id for item in rest.items}.isdisjoint(item.id for item in first.items)


def test_deprecated_activities_endpoint_for_an_unknown_customer(sandbox_server):
    with pytest.raises(NotFound):
        customer_activities_list(customer_id=f"nobody-{uuid.uuid4()}")


@pytest.mark.django_db(databases=["default", "sandbox"], transaction=True)
def test_deep_linked_tab_works_with_the_in_process_sandbox(settings, login_as):
    """`make run` talks to the sandbox in-process; the tab is then loaded on another thread."""
    from customers_app.services.customers import customer_create

    settings.VOUCHERIFY_API_URL = "http://127.0.0.1:9/sandbox"  # nothing listens: no real network
    settings.VOUCHERIFY_IN_PROCESS = True
    customer = customer_create(data={"source_id": f"in-process-{uuid.uuid4()}", "name": "Local"})
    response = login_as("support").get(f"/customers/{customer.id}/activity/")
    assert response.status_code == 200
    assert ACTIVITY_ID.findall(page_text(response))
    assert "Customer created" in page_text(response)
