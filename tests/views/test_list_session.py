"""The list remembers its filters for the customer page's way back, without a session write per page."""

from __future__ import annotations

import pytest
from django.contrib.sessions.models import Session

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("use_sandbox_server")]


def test_list_keeps_its_query_for_the_way_back_and_writes_the_session_only_when_it_changes(support_client):
    support_client.get("/customers/", {"city": "Warsaw", "limit": "10"})
    stored = Session.objects.filter(session_key=support_client.cookies["sessionid"].value)
    written = stored.get().session_data
    assert stored.get().get_decoded()["customer_list_query"] == "city=Warsaw&limit=10"

    again = support_client.get("/customers/", {"city": "Warsaw", "limit": "10"})
    assert again.status_code == 200 and "sessionid" not in again.cookies
    assert stored.get().session_data == written

    other = support_client.get("/customers/", {"city": "Berlin"})
    assert other.cookies["sessionid"]["max-age"]  # written: the way back changed
    assert stored.get().get_decoded()["customer_list_query"] == "city=Berlin"
    customer_id = other.context["listing"].customers[0].id
    detail = support_client.get(f"/customers/{customer_id}/").content.decode()
    assert 'href="/customers/?city=Berlin"' in detail
