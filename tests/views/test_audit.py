"""The audit trail: append-only entries, the filtered list and CSV export, the History tab, and denied attempts."""

from __future__ import annotations

import csv
import html
import io
import uuid
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from customers_app.audit import audit_record, audit_scrub, capture_request_ids
from customers_app.models import AuditEntry
from customers_app.services.customers import customer_get
from tests.csv_samples import remove_created_customers  # noqa: F401 - a fixture

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("remove_created_customers")]

DENIED_MIDDLEWARE = "customers_app.audit_middleware.DeniedAttemptAuditMiddleware"


def text(response) -> str:
    return html.unescape(response.content.decode())


def make_user(username: str, role: str = "support"):
    """A user who is not the one the test client is logged in as."""
    from customers_app.management.commands.dashboard_user import set_user_role

    user, _ = set_user_role(username, role, "a-long-test-password")
    return user


def entry(**fields) -> AuditEntry:
    fields.setdefault("actor", None)
    fields.setdefault("action", AuditEntry.Action.EDIT)
    return audit_record(**fields)


# The model refuses changes ---------------------------------------------------------------------------


def test_entries_cannot_be_changed_or_deleted():
    row = entry(target_id="cust_1", target_label="Ann")
    row.target_label = "Someone else"
    with pytest.raises(PermissionError):
        row.save()
    with pytest.raises(PermissionError):
        row.delete()
    with pytest.raises(PermissionError):
        AuditEntry.objects.filter(pk=row.pk).update(target_label="x")
    with pytest.raises(PermissionError):
        AuditEntry.objects.all().delete()
    assert AuditEntry.objects.get(pk=row.pk).target_label == "Ann"


def test_entries_are_not_in_the_django_admin():
    from django.contrib import admin

    assert AuditEntry not in admin.site._registry


def test_deleting_a_user_keeps_their_entries_by_name():
    user = make_user("leaving")
    row = entry(actor=user, target_id="cust_2")
    user.delete()
    row = AuditEntry.objects.get(pk=row.pk)
    assert row.actor is None and row.actor_name == "leaving"


def test_scrub_keeps_action_actor_time_and_ids_but_not_personal_values():
    row = entry(
        target_id="cust_3",
        target_label="Pat <pat@example.com>",
        changes={"email": {"before": "pat@example.com", "after": "p@example.com"}},
        request_id="v-1",
        detail="pat@example.com",
    )
    by_source = entry(action=AuditEntry.Action.CREATE, target_id="pat-source", outcome="failed")
    denied = entry(action=AuditEntry.Action.DENIED, target_id="/customers/pat-source/erase/", outcome="denied")
    untouched = entry(target_id="cust_4", target_label="Other")
    assert audit_scrub(customer_ids=["cust_3"], source_ids={"pat-source": "cust_3"}, emails=["pat@example.com"]) == 3
    row = AuditEntry.objects.get(pk=row.pk)
    assert (row.action, row.target_id, row.request_id, row.outcome) == ("customer.edit", "cust_3", "v-1", "success")
    assert row.target_label == "" and "pat" not in row.detail
    assert row.changes == {"email": {"before": "[erased]", "after": "[erased]"}}
    assert row.scrubbed_at is not None
    assert AuditEntry.objects.get(pk=by_source.pk).target_id == "cust_3"
    assert AuditEntry.objects.get(pk=denied.pk).target_id == "/customers/cust_3/erase/"
    assert AuditEntry.objects.get(pk=untouched.pk).target_label == "Other"


def test_request_ids_of_successful_calls_are_captured(use_sandbox_server):
    source_id = f"audit-{uuid.uuid4().hex[:8]}"
    use_sandbox_server.api("POST", "/v1/customers", json={"source_id": source_id})
    with capture_request_ids() as ids:
        customer_get(customer_id=source_id)
    assert ids.last.startswith("v-")
    # Outside the block nothing more is collected.
    customer_get(customer_id=source_id)
    assert len(ids.ids) == 1


# The list page ----------------------------------------------------------------------------------------


def test_audit_page_lists_entries_newest_first(admin_role_client):
    entry(target_id="cust_old", detail="older")
    entry(action=AuditEntry.Action.DELETE, target_id="cust_new", request_id="v-abc")
    response = admin_role_client.get(reverse("customers:audit"))
    assert response.status_code == 200
    page = text(response)
    assert page.index("cust_new") < page.index("cust_old")
    assert "Delete customer" in page and "v-abc" in page
    assert "2 entries" in page


def test_audit_filters_by_actor_action_customer_outcome_and_dates(admin_role_client):
    sam = make_user("sam")
    entry(actor=sam, target_id="cust_a")
    entry(action=AuditEntry.Action.DELETE, target_id="cust_b")
    entry(action=AuditEntry.Action.DENIED, target_id="/customers/cust_a/delete/", outcome="denied")
    url = reverse("customers:audit")

    def targets(**query):
        return [e.target_id for e in admin_role_client.get(url, query).context["page"].object_list]

    assert targets(actor="SAM") == ["cust_a"]
    assert targets(action="customer.delete") == ["cust_b"]
    assert sorted(targets(customer="cust_a")) == ["/customers/cust_a/delete/", "cust_a"]
    assert targets(outcome="denied") == ["/customers/cust_a/delete/"]
    today = timezone.now().date()
    assert len(targets(date_from=today.isoformat(), date_to=today.isoformat())) == 3
    assert targets(date_to=(today - timedelta(days=1)).isoformat()) == []
    backwards = {"date_from": today.isoformat(), "date_to": (today - timedelta(days=2)).isoformat()}
    bad = admin_role_client.get(url, backwards)
    assert "The end date is before the start date" in text(bad)


def test_audit_pages(admin_role_client):
    for number in range(55):
        entry(target_id=f"cust_{number:03d}")
    first = admin_role_client.get(reverse("customers:audit"))
    assert len(first.context["page"].object_list) == 50
    assert "Page 1 of 2" in text(first)
    second = admin_role_client.get(reverse("customers:audit"), {"page": 2})
    assert [e.target_id for e in second.context["page"].object_list] == [f"cust_{n:03d}" for n in range(4, -1, -1)]


def test_audit_htmx_request_renders_only_the_results(admin_role_client):
    entry(target_id="cust_x")
    response = admin_role_client.get(reverse("customers:audit"), {"customer": "cust_x"}, headers={"HX-Request": "true"})
    page = response.content.decode()
    assert page.lstrip().startswith('<section id="audit-results"')
    assert "<html" not in page
    assert "HX-Request" in response["Vary"]


def test_audit_export_csv_follows_the_filters_and_defuses_formulas(admin_role_client):
    entry(target_id="cust_keep", target_label="=HYPERLINK(1)", changes={"name": {"before": "A", "after": "B"}})
    entry(action=AuditEntry.Action.DELETE, target_id="cust_other")
    response = admin_role_client.get(reverse("customers:audit-export"), {"action": "customer.edit"})
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert [row["target_id"] for row in rows] == ["cust_keep"]
    assert rows[0]["target_label"] == "'=HYPERLINK(1)"
    assert '"before": "A"' in rows[0]["changes"]


# History tab --------------------------------------------------------------------------------------------


def test_history_tab_shows_the_customers_entries(admin_role_client, use_sandbox_server):
    customer = use_sandbox_server.api("POST", "/v1/customers", json={"source_id": f"hist-{uuid.uuid4().hex[:8]}"})
    customer_id = customer.json()["id"]
    entry(target_id=customer_id, changes={"city": {"before": "Oslo", "after": "Bergen"}})
    entry(target_id="cust_someone_else")
    response = admin_role_client.get(reverse("customers:history", args=[customer_id]))
    assert response.status_code == 200
    page = text(response)
    assert "Oslo → Bergen" in page
    assert "cust_someone_else" not in page
    fragment = admin_role_client.get(reverse("customers:history", args=[customer_id]), headers={"HX-Request": "true"})
    assert "Oslo → Bergen" in text(fragment) and "<html" not in fragment.content.decode()


def test_history_tab_empty_state(admin_role_client, use_sandbox_server):
    customer = use_sandbox_server.api("POST", "/v1/customers", json={"source_id": f"hist-{uuid.uuid4().hex[:8]}"})
    response = admin_role_client.get(reverse("customers:history", args=[customer.json()["id"]]))
    assert "No changes made through this dashboard yet" in text(response)


@pytest.mark.parametrize("role", ["support", "marketer"])
def test_only_admins_see_the_audit_trail(login_as, role):
    client = login_as(role)
    urls = [reverse("customers:audit"), reverse("customers:audit-export"), reverse("customers:history", args=["x"])]
    for url in urls:
        assert client.get(url).status_code == 403
        assert client.post(url).status_code in (403, 405)
    assert "Audit</a>" not in text(client.get(reverse("customers:list")))


def test_admins_see_audit_and_erasure_links(admin_role_client, use_sandbox_server):
    page = text(admin_role_client.get(reverse("customers:list")))
    assert f'href="{reverse("customers:audit")}"' in page
    assert f'href="{reverse("customers:privacy-requests")}"' in page  # erasures are privacy requests now


# Denied attempts ------------------------------------------------------------------------------------------


@pytest.fixture
def denied_middleware(settings):
    """The recording middleware is part of the project's settings."""
    assert DENIED_MIDDLEWARE in settings.MIDDLEWARE


def test_denied_attempts_are_recorded(denied_middleware, login_as):
    client = login_as("support", username="curious")
    assert client.get(reverse("customers:audit")).status_code == 403
    assert client.post(reverse("customers:erase", args=["cust_z"]), {"confirmation": "x"}).status_code == 403
    entries = list(AuditEntry.objects.filter(action=AuditEntry.Action.DENIED).order_by("id"))
    assert [(e.actor_name, e.outcome, e.target_id) for e in entries] == [
        ("curious", "denied", "/audit/"),
        ("curious", "denied", "/customers/cust_z/erase/"),
    ]
    assert entries[1].detail.startswith("POST")


def test_anonymous_users_are_sent_to_log_in_not_recorded(denied_middleware, client):
    response = client.get(reverse("customers:audit"))
    assert response.status_code == 302
    assert not AuditEntry.objects.exists()
