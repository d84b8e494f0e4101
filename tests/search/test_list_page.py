"""The list's search box over real HTTP: `q` is served from the index in the list's row markup with the
matched part marked, keeps the list's other filters, answers htmx with the results fragment, hints at short
fragments, says how fresh the index is, and drops a hit that is gone from Voucherify when it is opened."""

from __future__ import annotations

import re

import pytest

from customers_app.search.index import Row, upsert
from customers_app.search.models import IndexedCustomer, SearchIndexState
from tests.search.conftest import create, sync, tag, unique_phone

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("ready_index", "remove_created_customers"),
]


def test_a_search_is_a_shareable_url_with_marked_matches(support_client, sandbox_server):
    t = tag()
    phone, _ = unique_phone()
    person = create(sandbox_server, name=f"Zofia Müller {t}", email=f"zofia.{t}@example.com", phone=phone,
                    source_id=f"CRM-{t}", address={"city": "Łódź"})  # fmt: skip
    sync()
    local = phone.replace(" ", "")[3:]
    html = support_client.get("/customers/", {"q": f"muller {t}"}).content.decode()
    assert f'data-customer-id="{person["id"]}"' in html
    assert "<mark>Müller</mark>" in html and f"<mark>{t}</mark>" in html
    assert "1 customer match" in html and "Index updated" in html
    html = support_client.get("/customers/", {"q": local[:6]}).content.decode()
    assert f'data-customer-id="{person["id"]}"' in html and "<mark>" in html
    html = support_client.get("/customers/", {"q": f"crm-{t}"}).content.decode()
    assert "source id <mark>CRM-" in html  # the column the list does not show is named under the name


def test_the_other_filters_apply_in_the_index(support_client, sandbox_server):
    t = tag()
    person = create(sandbox_server, name=f"Filtered {t}", address={"city": "Łódź"})
    sync()
    here = support_client.get("/customers/", {"q": t, "city": "lodz"}).content.decode()
    assert f'data-customer-id="{person["id"]}"' in here
    elsewhere = support_client.get("/customers/", {"q": t, "city": "Warsaw"}).content.decode()
    assert f'data-customer-id="{person["id"]}"' not in elsewhere and "Nobody matches" in elsewhere
    with_segment = support_client.get("/customers/", {"q": t, "segment_id": "seg_x", "email": "a@b.c"})
    assert "Search does not use the Email, Segment filters" in with_segment.content.decode()


def test_htmx_gets_the_results_fragment_and_short_fragments_a_hint(support_client):
    response = support_client.get("/customers/", {"q": "ab"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200 and html.lstrip().startswith('<section id="results"')
    assert "Type at least 3 characters" in html


def test_before_the_first_load_search_says_it_is_warming_up(support_client):
    SearchIndexState.objects.filter(pk=1).update(ready=False)
    html = support_client.get("/customers/", {"q": "anna"}).content.decode()
    assert "warming up" in html and "plain list works meanwhile" in html
    plain = support_client.get("/customers/").content.decode()
    assert "data-customer-id" in plain  # the plain list, from Voucherify, keeps working


def test_a_hit_gone_from_voucherify_is_dropped_when_opened(support_client):
    upsert([Row(customer_id="cust_gone0000000000000000", name="Gone Person")])
    assert IndexedCustomer.objects.filter(customer_id="cust_gone0000000000000000").exists()
    response = support_client.get("/customers/cust_gone0000000000000000/")
    assert response.status_code == 404
    assert "no longer exists in Voucherify, so they were removed from search" in response.content.decode()
    assert not IndexedCustomer.objects.filter(customer_id="cust_gone0000000000000000").exists()


def test_a_search_that_is_too_long_says_so(support_client):
    html = support_client.get("/customers/", {"q": "x" * 201}).content.decode()
    assert re.search(r"at most 200 characters", html)
