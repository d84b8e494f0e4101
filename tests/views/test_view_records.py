"""Who looked at whom: opening a customer's page or tab, a search with results and an export download
are recorded in the audit trail (who, when, which customer or how many rows, from where; never the
customer's data), once per opening, after the response has gone; filterable, on the History tab, and
scrubbed by an erasure like any other entry."""

from __future__ import annotations

import csv
import html
import io
import logging
import uuid

import pytest
from django.db import connection
from django.urls import reverse

from customers_app.audit import audit_scrub, audit_scrub_mentioning, record_view
from customers_app.models import AuditEntry, BackgroundJob
from tests.csv_samples import remove_created_customers  # noqa: F401 - a fixture
from tests.search.conftest import ready_index, sync  # noqa: F401 - a fixture

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("use_sandbox_server", "remove_created_customers")]

VIEW = AuditEntry.Action.VIEW


def text(response) -> str:
    return html.unescape(response.content.decode())


def views() -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action=VIEW).order_by("id"))


def person(sandbox_server, **extra) -> dict:
    """A customer with a name, email, phone and source id that appear nowhere else."""
    tag = uuid.uuid4().hex[:10]
    body = {
        "source_id": f"crm-{tag}",
        "name": f"Viewed Person {tag}",
        "email": f"viewed.{tag}@example.com",
        "phone": f"+420 777 {tag[:3]}",
        "address": {"city": f"city-{tag}"},
        **extra,
    }
    response = sandbox_server.api("POST", "/v1/customers", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def assert_names_no_one(entry: AuditEntry, customer: dict) -> None:
    """No field of the entry holds the customer's name, email, phone, source id or city."""
    stored = " ".join(str(getattr(entry, field.attname)) for field in AuditEntry._meta.concrete_fields).casefold()
    for value in (customer["name"], customer["email"], customer["phone"], customer["source_id"]):
        assert value.casefold() not in stored
    assert customer["address"]["city"].casefold() not in stored


# The customer page and its tabs -------------------------------------------------------------------------


def test_opening_a_customer_is_recorded_once_with_who_which_and_from_where(login_as, sandbox_server):
    client = login_as("support", username="looker")
    customer = person(sandbox_server)
    page = client.get(reverse("customers:detail", args=[customer["id"]]))
    assert page.status_code == 200
    # The page then loads its Activity panel by itself (htmx, no element named): the same opening.
    panel = client.get(reverse("customers:activity", args=[customer["id"]]), headers={"HX-Request": "true"})
    assert panel.status_code == 200
    [entry] = views()
    assert (entry.actor_name, entry.target_id, entry.detail) == ("looker", customer["id"], "customer page")
    assert entry.address == "127.0.0.1" and entry.rows is None and entry.outcome == "success"
    assert entry.actor.username == "looker" and entry.created_at is not None
    assert_names_no_one(entry, customer)


def test_a_customer_opened_by_source_id_is_recorded_by_voucherify_id(support_client, sandbox_server):
    customer = person(sandbox_server)
    assert support_client.get(reverse("customers:detail", args=[customer["source_id"]])).status_code == 200
    assert [entry.target_id for entry in views()] == [customer["id"]]


def test_each_tab_opened_as_a_page_is_recorded_once(admin_role_client, sandbox_server):
    customer = person(sandbox_server)
    for slug in ("activity", "redeemables", "segments", "history"):
        assert admin_role_client.get(reverse(f"customers:{slug}", args=[customer["id"]])).status_code == 200
    entries = views()
    assert [entry.detail for entry in entries] == ["activity tab", "redeemables tab", "segments tab", "history tab"]
    assert {entry.target_id for entry in entries} == {customer["id"]}
    for entry in entries:
        assert_names_no_one(entry, customer)


def test_a_click_on_a_tab_is_recorded_but_more_rows_and_filters_are_not(support_client, sandbox_server):
    customer = person(sandbox_server)
    url = reverse("customers:activity", args=[customer["id"]])
    click = {"HX-Request": "true", "HX-Trigger": "tab-activity"}
    assert support_client.get(url, headers=click).status_code == 200
    assert support_client.get(url, {"category": "customer"}, headers={"HX-Request": "true"}).status_code == 200
    assert support_client.get(url, {"starting_after_id": "evcus_x"}, headers=click).status_code == 200
    segments = reverse("customers:segments", args=[customer["id"]])
    assert support_client.get(segments, headers={"HX-Request": "true", "HX-Trigger": "tab-segments"}).status_code == 200
    assert [(entry.detail, entry.target_id) for entry in views()] == [
        ("activity tab", customer["id"]),
        ("segments tab", customer["id"]),
    ]


def test_a_tab_asked_for_by_source_id_is_recorded_by_voucherify_id(support_client, sandbox_server):
    customer = person(sandbox_server, source_id=f"someone.{uuid.uuid4().hex[:8]}@example.com")
    url = reverse("customers:segments", args=[customer["source_id"]])
    assert support_client.get(url, headers={"HX-Request": "true", "HX-Trigger": "tab-segments"}).status_code == 200
    [entry] = views()
    assert entry.target_id == customer["id"]
    assert_names_no_one(entry, customer)


def test_a_customer_that_is_not_there_records_nothing(support_client):
    assert support_client.get(reverse("customers:detail", args=["cust_nobody_here"])).status_code == 404
    assert views() == []


# Lists and searches -------------------------------------------------------------------------------------------


def test_a_filtered_list_with_results_records_the_row_count_not_the_filter(support_client, sandbox_server):
    customer = person(sandbox_server)
    page = support_client.get(reverse("customers:list"), {"email": customer["email"]})
    assert customer["id"] in page.content.decode()
    support_client.get(reverse("customers:list"), {"email": f"nobody-{uuid.uuid4().hex[:8]}@example.com"})
    [entry] = views()
    assert (entry.detail, entry.rows, entry.target_id) == ("search", 1, "")
    assert_names_no_one(entry, customer)


def test_the_plain_list_records_how_many_rows_it_showed(support_client):
    assert support_client.get(reverse("customers:list"), {"limit": 25}).status_code == 200
    [entry] = views()
    assert (entry.detail, entry.rows) == ("customer list", 25)


@pytest.mark.django_db(transaction=True)
def test_a_search_of_the_index_records_the_row_count_not_the_text(ready_index, support_client, sandbox_server):  # noqa: F811
    customer = person(sandbox_server)
    sync()
    page = support_client.get(reverse("customers:list"), {"q": customer["email"]})
    assert f'data-customer-id="{customer["id"]}"' in page.content.decode()
    [entry] = views()
    assert (entry.detail, entry.rows) == ("search", 1)
    assert_names_no_one(entry, customer)


def test_the_jump_box_listing_several_matches_records_their_count(support_client, sandbox_server):
    email = f"shared-{uuid.uuid4().hex[:8]}@example.com"
    twins = [person(sandbox_server, email=email) for _ in range(2)]
    assert support_client.get(reverse("customers:jump"), {"q": email}).status_code == 200
    one = support_client.get(reverse("customers:jump"), {"q": twins[0]["source_id"]})
    assert one.status_code == 302  # the customer page it leads to records the opening
    [entry] = views()
    assert (entry.detail, entry.rows) == ("search", 2)
    assert_names_no_one(entry, twins[0])


# Downloads -------------------------------------------------------------------------------------------------


def test_a_rejected_rows_download_is_recorded_with_its_rows(marketer_client, sandbox_server):
    from tests.views.test_jobs import poll_until_finished, start_import_with_a_rejected_row

    tag = f"vr-{uuid.uuid4().hex[:8]}"
    action_id = start_import_with_a_rejected_row(marketer_client, tag)
    poll_until_finished(marketer_client, action_id)
    response = marketer_client.get(reverse("customers:job-rejected", args=[action_id]))
    assert f"bob+{tag}@example.com" in b"".join(response.streaming_content).decode()
    [entry] = views()
    assert (entry.detail, entry.rows, entry.target_id) == ("rejected rows download", 1, "")
    assert tag not in entry.detail


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("tasks_run_immediately")
def test_an_export_download_is_recorded_with_its_rows_once_the_file_has_gone(marketer_client, sandbox_server):
    city = f"city-{uuid.uuid4().hex[:10]}"
    people = [person(sandbox_server, address={"city": city}) for _ in range(2)]
    started = marketer_client.post("/customers/export/", {"city": city, "columns": ["Name", "Email"]})
    job = BackgroundJob.objects.get(pk=started["Location"].rstrip("/").split("/")[-1])
    assert job.status == BackgroundJob.Status.SUCCEEDED, job.message
    before = len(views())  # the export page itself recorded nothing about these people
    response = marketer_client.get(reverse("customers:background-job-download", args=[job.pk]))
    assert response.status_code == 200
    assert len(views()) == before  # written when the response is closed, after the last byte
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert people[0]["email"] in body
    entry = views()[-1]
    assert (entry.detail, entry.rows, entry.target_id, entry.actor_name) == ("export download", 2, "", "marketer-user")
    for customer in people:
        assert_names_no_one(entry, customer)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("tasks_run_immediately")
def test_a_download_never_sent_records_nothing_and_leaves_nothing_for_the_next_page(marketer_client, sandbox_server):
    customer = person(sandbox_server)
    started = marketer_client.post("/customers/export/", {"email": customer["email"], "columns": ["Name"]})
    job = BackgroundJob.objects.get(pk=started["Location"].rstrip("/").split("/")[-1])
    unread = marketer_client.get(reverse("customers:background-job-download", args=[job.pk]))
    assert unread.status_code == 200  # its body is never read, so the response is never closed
    marketer_client.get(reverse("customers:detail", args=[customer["id"]]))
    assert [entry.detail for entry in views()] == ["customer page"]


# Where from ------------------------------------------------------------------------------------------------


def test_the_forwarded_address_counts_only_behind_the_deployments_proxy(support_client, settings, sandbox_server):
    customer = person(sandbox_server)
    url = reverse("customers:detail", args=[customer["id"]])
    forwarded = {"X-Forwarded-For": "203.0.113.9, 198.51.100.7"}
    settings.SECURE_PROXY_SSL_HEADER = None
    support_client.get(url, headers=forwarded, REMOTE_ADDR="10.0.0.5")
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")  # DJANGO_BEHIND_TLS_PROXY=true
    support_client.get(url, headers=forwarded, REMOTE_ADDR="10.0.0.5")
    # The proxy appends the address it saw; what comes before it is whatever the client sent.
    assert [entry.address for entry in views()] == ["10.0.0.5", "198.51.100.7"]


# The audit list, its export and the History tab -----------------------------------------------------------


def test_the_audit_list_filters_views_in_or_out(admin_role_client, sandbox_server):
    customer = person(sandbox_server)
    admin_role_client.get(reverse("customers:detail", args=[customer["id"]]))
    AuditEntry.objects.create(action=AuditEntry.Action.EDIT, target_id=customer["id"])
    url = reverse("customers:audit")

    def actions(**query) -> list[str]:
        return [entry.action for entry in admin_role_client.get(url, query).context["page"].object_list]

    assert sorted(actions(customer=customer["id"])) == ["access.view", "customer.edit"]
    assert actions(customer=customer["id"], kind="views") == ["access.view"]
    assert actions(customer=customer["id"], kind="changes") == ["customer.edit"]
    assert actions(customer=customer["id"], action="access.view") == ["access.view"]
    page = text(admin_role_client.get(url, {"kind": "views", "customer": customer["id"]}))
    assert "Viewed" in page and "customer page" in page and "from 127.0.0.1" in page
    assert "Views only" in page


def test_the_audit_export_has_the_rows_and_the_address(admin_role_client):
    admin_role_client.get(reverse("customers:list"), {"limit": 10})
    response = admin_role_client.get(reverse("customers:audit-export"), {"kind": "views"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    [row] = [row for row in rows if row["detail"] == "customer list"]
    assert (row["action"], row["rows"], row["address"]) == ("access.view", "10", "127.0.0.1")
    assert row["actor"] == "admin-user"


def test_the_history_tab_shows_who_looked_apart_from_the_changes(admin_role_client, login_as, sandbox_server):
    customer = person(sandbox_server)
    login_as("support", username="agent-smith").get(reverse("customers:redeemables", args=[customer["id"]]))
    admin = login_as("admin", username="history-admin")
    AuditEntry.objects.create(action=AuditEntry.Action.EDIT, target_id=customer["id"], actor_name="editor")
    page = admin.get(reverse("customers:history", args=[customer["id"]]))
    views_table = page.content.decode().split('data-testid="history-views"')[1]
    assert "agent-smith" in views_table and "Redeemables tab" in views_table and "127.0.0.1" in views_table
    changes_table = page.content.decode().split('data-testid="history"')[1].split("history-views")[0]
    assert "Edit customer" in changes_table and "agent-smith" not in changes_table


def test_the_history_tab_says_when_nobody_looked_yet(admin_role_client, sandbox_server):
    customer = person(sandbox_server)
    url = reverse("customers:history", args=[customer["id"]])
    fragment = admin_role_client.get(url, headers={"HX-Request": "true"})
    assert "No views of this customer recorded yet" in text(fragment)


# Erasure -------------------------------------------------------------------------------------------------


def test_an_erasure_marks_the_persons_views_scrubbed_and_keeps_who_when_and_what(support_client, sandbox_server):
    customer, bystander = person(sandbox_server), person(sandbox_server)
    support_client.get(reverse("customers:detail", args=[customer["id"]]))
    support_client.get(reverse("customers:list"), {"email": customer["email"]})
    support_client.get(reverse("customers:detail", args=[bystander["id"]]))
    page, search, other = views()
    assert audit_scrub(customer_ids=[customer["id"]], source_ids={customer["source_id"]: customer["id"]},
                       emails=[customer["email"]]) >= 1  # fmt: skip
    assert audit_scrub_mentioning(values=[customer["email"], customer["phone"]], names=[customer["name"]]) == 0
    scrubbed = AuditEntry.objects.get(pk=page.pk)
    assert scrubbed.scrubbed_at is not None
    kept = ("actor_id", "actor_name", "created_at", "target_id", "detail", "address", "rows")
    assert [getattr(scrubbed, field) for field in kept] == [getattr(page, field) for field in kept]
    # A search names no one (no text, a count), and someone else's page is theirs.
    assert AuditEntry.objects.get(pk=search.pk).scrubbed_at is None
    assert AuditEntry.objects.get(pk=other.pk).scrubbed_at is None


def test_an_erasure_through_the_service_scrubs_the_view_records(admin_role_client, sandbox_server):
    from customers_app.erasure import customers_erase
    from customers_app.services.customers import customer_get

    customer = person(sandbox_server)
    admin_role_client.get(reverse("customers:detail", args=[customer["id"]]))
    [viewed] = views()
    admin = viewed.actor
    customers_erase(actor=admin, customers=[customer_get(customer_id=customer["id"])], reference="R-views",
                    requester="internal", reason="Test of view records")  # fmt: skip
    entry = AuditEntry.objects.get(pk=viewed.pk)
    assert entry.scrubbed_at is not None and entry.detail == "customer page" and entry.actor_name == "admin-user"
    assert_names_no_one(entry, customer)


# Never in the way -----------------------------------------------------------------------------------------


def test_a_failure_to_record_does_not_break_the_page_and_logs_no_personal_data(support_client, sandbox_server, caplog):
    customer = person(sandbox_server)
    table = AuditEntry._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} RENAME TO {table}_away")
    try:
        with caplog.at_level(logging.ERROR, logger="customers_app.view_records"):
            page = support_client.get(reverse("customers:detail", args=[customer["id"]]))
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE {table}_away RENAME TO {table}")
    assert page.status_code == 200 and customer["email"] in text(page)
    assert views() == []
    logged = caplog.text
    assert "view records: 1 could not be written" in logged
    for value in (customer["id"], customer["email"], customer["name"], "support-user"):
        assert value not in logged
    # The next page records again.
    support_client.get(reverse("customers:detail", args=[customer["id"]]))
    assert len(views()) == 1


def test_record_view_is_also_reachable_from_the_audit_module(rf, django_user_model):
    user = django_user_model.objects.create_user("evidence-reader")
    request = rf.get("/erasures/1/evidence/", REMOTE_ADDR="192.0.2.4")
    request.user = user
    record_view(request, customer_id="cust_erased", what="erasure evidence download")
    from customers_app.view_records import write_pending_views

    assert write_pending_views() == 1
    [entry] = views()
    assert (entry.actor_name, entry.target_id, entry.detail, entry.address) == (
        "evidence-reader",
        "cust_erased",
        "erasure evidence download",
        "192.0.2.4",
    )
