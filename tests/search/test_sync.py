"""Keeping the index in step with Voucherify, over real HTTP against the sandbox: the first load through
one export, incremental passes from the watermark, the reconciliation, the lease, the schedule, the
dashboard's own writes shown at once and the erased never brought back."""

from __future__ import annotations

import io
import time
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django_tasks_db.models import DBTaskResult

from customers_app.search import sync as sync_module
from customers_app.search.index import Row, index_state, upsert
from customers_app.search.models import IndexedCustomer, SearchIndexState
from customers_app.search.query import index_status, search_customers
from customers_app.search.sync import Lease, LeaseLost
from customers_app.search.tasks import ensure_scheduled, schedule_at_start, sync_index
from customers_app.types import parse_datetime
from tests.search.conftest import create, sync, tag, unique_phone

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("remove_created_customers")]


def ids(q: str, **filters) -> list[str]:
    return [row.id for row in search_customers(q, **filters).rows]


def sandbox_total(sandbox_server, **params) -> int:
    return sandbox_server.api("GET", "/v1/customers", params={"limit": 1, **params}).json()["total"]


def api_time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


# The first load ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("use_sandbox_server")
def test_first_load_indexes_every_customer_through_one_export(sandbox_server):
    assert index_status().warming_up
    report = sync_index.call()
    assert report["kind"] == "full_load" and not report["error"]
    total = sandbox_total(sandbox_server)
    assert IndexedCustomer.objects.count() == total > 900
    assert report["calls"] <= 10  # create, a few looks, download, delete: not one call per 100 customers
    status = index_status()
    assert status.ready and not status.warming_up and status.customers == total and status.updated_at
    newest = sandbox_server.api("GET", "/v1/customers", params={"order": "-updated_at", "limit": 1}).json()
    state = index_state()
    assert state.watermark == parse_datetime(newest["customers"][0]["updated_at"])
    assert newest["customers"][0]["id"] in state.watermark_ids
    # A seeded customer is found by a fragment of each field, as the list could never find them.
    seeded = sandbox_server.api("GET", "/v1/customers", params={"limit": 1, "order": "created_at"}).json()
    first = seeded["customers"][0]
    assert first["id"] in ids(first["email"].split("@")[0][1:])
    # Nothing changed since: the next pass is one call and writes nothing (the ids at the watermark are skipped).
    again = sync()
    assert again["kind"] == "incremental" and again["upserted"] == 0 and again["calls"] == 1
    # A rebuild empties the index (and its text index) and loads it again.
    call_command("search_index", "--rebuild", "--foreground", stdout=io.StringIO())
    assert IndexedCustomer.objects.count() == total and first["id"] in ids(first["email"].split("@")[0][1:])
    if connection.vendor == "sqlite":  # the FTS5 index agrees with its table, row for row
        with connection.cursor() as cursor:
            cursor.execute("INSERT INTO search_fts(search_fts) VALUES ('integrity-check')")


@pytest.mark.usefixtures("use_sandbox_server")
def test_overview_figures_equal_the_sandboxs_own_counts(sandbox_server):
    from customers_app.search.overview import figures

    call_command("search_index", "--rebuild", "--foreground", stdout=io.StringIO())
    numbers = figures()
    total = sandbox_total(sandbox_server)
    assert numbers.total == total and numbers.status.ready and numbers.status.customers == total
    assert sum(count for _, count in numbers.countries) == total
    assert [count for _, count in numbers.countries] == sorted((count for _, count in numbers.countries), reverse=True)
    assert len(numbers.cities) == 10
    plain = next(city for city in numbers.cities if city.name.isascii())  # the sandbox matches case, not accents
    assert plain.count == sandbox_total(sandbox_server, city=plain.name)
    assert len(numbers.weekly) == 26 and numbers.weekly[-1][0] <= datetime.now(UTC).date()
    for week, count in numbers.weekly:
        start = datetime(week.year, week.month, week.day, tzinfo=UTC)
        upstream = sandbox_total(
            sandbox_server,
            **{
                "created_at[after]": api_time(start - timedelta(milliseconds=1)),
                "created_at[before]": api_time(start + timedelta(days=7)),
            },
        )
        assert count == upstream, week


# Incremental passes and the reconciliation -----------------------------------------------------------


@pytest.mark.usefixtures("ready_index")
def test_a_customer_made_changed_and_deleted_outside_the_dashboard(sandbox_server, settings):
    t = tag()
    old_email, new_email = f"before.{t}@example.com", f"after.{t}@example.com"
    person = create(sandbox_server, name=f"Outside {t}", email=old_email)
    sync()
    assert ids(old_email) == [person["id"]]

    assert sandbox_server.api("PUT", f"/v1/customers/{person['id']}", json={"email": new_email}).status_code == 200
    sync()
    assert ids(new_email) == [person["id"]] and ids(old_email) == []

    assert sandbox_server.api("DELETE", f"/v1/customers/{person['id']}").status_code == 204
    report = sync()
    assert not report["reconciled"] and ids(new_email) == [person["id"]]  # a list never shows a deletion
    settings.SEARCH_RECONCILE_HOURS = 0
    report = sync()
    assert report["reconciled"] and report["removed"] >= 1
    assert ids(new_email) == [] and ids(f"outside {t}") == []
    assert index_state().last_reconcile_at is not None


@pytest.mark.usefixtures("ready_index")
def test_pages_and_the_watermark_lose_and_repeat_nothing(sandbox_server, monkeypatch):
    monkeypatch.setattr(sync_module, "PAGE_SIZE", 2)  # page boundaries inside five customers
    t = tag()
    made = [create(sandbox_server, name=f"Paged {t} {n}") for n in range(5)]
    report = sync()
    assert report["pages"] >= 3 and report["upserted"] == 5
    assert sorted(ids(f"paged {t}")) == sorted(c["id"] for c in made)
    assert sync()["upserted"] == 0  # asked from 1 ms before the watermark: the id seen at it is skipped
    # A customer at exactly the watermark that the pass has not seen yet is read ("after" is exclusive).
    last = made[-1]
    SearchIndexState.objects.filter(pk=1).update(watermark=parse_datetime(last["updated_at"]), watermark_ids=[])
    IndexedCustomer.objects.filter(customer_id=last["id"]).delete()
    assert sync()["upserted"] == 1 and last["id"] in ids(f"paged {t}")


# One pass at a time ------------------------------------------------------------------------------


@pytest.mark.usefixtures("ready_index")
def test_two_passes_started_together_do_not_both_run(sandbox_server):
    person = create(sandbox_server, name=f"Lease {tag()}")
    holder = Lease()
    assert holder.acquire()
    assert not Lease().acquire()  # the second machine's UPDATE finds the lease taken
    report = sync_index.call()
    assert report["kind"] == "busy" and report["calls"] == 0 and report["upserted"] == 0
    assert ids(person["name"]) == []
    holder.release()
    assert sync()["upserted"] >= 1 and ids(person["name"]) == [person["id"]]


@pytest.mark.usefixtures("ready_index")
def test_a_lease_that_ran_out_is_taken_over_and_its_old_holder_stops(sandbox_server):
    stalled = Lease()
    assert stalled.acquire()
    SearchIndexState.objects.filter(pk=1).update(lease_until=datetime.now(UTC) - timedelta(seconds=1))
    person = create(sandbox_server, name=f"Takeover {tag()}")
    assert sync()["kind"] == "incremental" and ids(person["name"]) == [person["id"]]
    with pytest.raises(LeaseLost):
        stalled.renew(force=True)


# The schedule ------------------------------------------------------------------------------------


@pytest.mark.usefixtures("ready_index")
def test_the_schedule_runs_one_chain_that_queues_its_next_pass(settings):
    settings.SEARCH_SYNC_SECONDS = 30
    assert ensure_scheduled(force=True)
    assert not ensure_scheduled(force=True)  # a chain is alive: nothing more is queued
    finished_long_ago = DBTaskResult.objects.create(
        task_path=sync_index.module_path, args_kwargs={"args": [], "kwargs": {}}, backend_name="default",
        run_after=datetime.now(UTC) - timedelta(days=2), status="SUCCESSFUL",
        finished_at=datetime.now(UTC) - timedelta(days=2),
    )  # fmt: skip
    queued = DBTaskResult.objects.get(task_path__endswith="sync_index", status="READY")
    chain = queued.args_kwargs["kwargs"]["chain"]
    queued.delete()
    before = datetime.now(UTC)
    assert sync_index.call(chain=chain)["kind"] == "incremental"
    following = DBTaskResult.objects.get(task_path__endswith="sync_index")  # the old finished row was pruned
    assert not DBTaskResult.objects.filter(pk=finished_long_ago.pk).exists()
    assert following.args_kwargs["kwargs"]["chain"] == chain
    assert before + timedelta(seconds=29) < following.run_after < before + timedelta(seconds=40)
    assert index_state().next_sync_at == following.run_after
    # A chain that died (its next pass long overdue) is replaced; a task of the old one then ends quietly.
    following.delete()
    SearchIndexState.objects.filter(pk=1).update(next_sync_at=datetime.now(UTC) - timedelta(hours=1))
    assert ensure_scheduled(force=True)
    assert sync_index.call(chain=chain) == {"kind": "stale chain"}
    assert DBTaskResult.objects.filter(task_path__endswith="sync_index").count() == 1


def test_at_start_the_first_pass_waits_one_interval(settings):
    """prepare_dashboard's call: the server and its worker come up before the index's first load."""
    settings.SEARCH_SYNC_SECONDS = 45
    before = datetime.now(UTC)
    assert schedule_at_start()
    queued = DBTaskResult.objects.get(task_path__endswith="sync_index")
    assert before + timedelta(seconds=44) < queued.run_after < before + timedelta(seconds=50)
    assert not ensure_scheduled(force=True)  # the list page's check sees the chain as alive


def test_status_command_says_how_the_index_is(capsys):
    call_command("search_index", "--status")
    out = capsys.readouterr().out
    assert "Ready:          no (warming up" in out and "Watermark:      never" in out and "Last error:     none" in out


# The dashboard's own writes ------------------------------------------------------------------------


@pytest.mark.usefixtures("ready_index")
def test_the_dashboards_own_create_edit_and_delete_show_at_once(login_as, sandbox_server):
    t = tag()
    phone, phone_digits = unique_phone()
    marketer = login_as("marketer")
    form = {"metadata-TOTAL_FORMS": "1", "metadata-INITIAL_FORMS": "0", "metadata-0-type": "text",
            "source_id": f"dash-{t}", "name": f"Dashboard Madeline {t}", "email": f"made.{t}@example.com",
            "phone": phone, "city": "Wrocław"}  # fmt: skip
    assert marketer.post("/customers/new/", form).status_code == 302
    (row,) = search_customers(phone_digits[4:]).rows
    assert row.source_id == f"dash-{t}" and row.city == "Wrocław" and ids(f"wroclaw {t}") == [row.id]

    from tests.views.test_edit import form_data

    support = login_as("support")
    data = form_data(support.get(f"/customers/{row.id}/edit/"))
    data["name"] = f"Dashboard Renamed {t}"
    assert support.post(f"/customers/{row.id}/edit/", data).status_code == 302
    assert ids(f"renamed {t}") == [row.id] and ids(f"madeline {t}") == []

    admin = login_as("admin")
    assert admin.post(reverse("customers:delete", args=[row.id]), {"confirmation": form["email"]}).status_code == 302
    assert ids(f"renamed {t}") == []
    # A sync page read before the delete cannot bring them back.
    upsert([Row(customer_id=row.id, name=f"Dashboard Renamed {t}", updated_at=datetime.now(UTC))])
    assert ids(f"renamed {t}") == []


@pytest.mark.usefixtures("ready_index")
def test_an_erased_person_leaves_the_index_at_once_and_never_comes_back(login_as, sandbox_server):
    t = tag()
    email = f"Erika.{t}@Example.com"
    first = create(sandbox_server, source_id=f"erase-{t}", name=f"Erika Erased {t}", email=email)
    sync()
    assert ids(f"erika {t}") == [first["id"]]
    admin = login_as("admin")
    form = {"reference": "GDPR-1", "requester": "data_subject", "reason": "Right to erasure", "confirmation": email}
    assert admin.post(reverse("customers:erase", args=[first["id"]]), form).status_code == 302
    assert ids(f"erika {t}") == []  # at once, before any sync
    # Another client of the project creates them again (the same email, or the same source id).
    again = create(sandbox_server, name=f"Erika Again {t}", email=email.upper())
    by_source = create(sandbox_server, source_id=f"erase-{t}", name=f"Erika Source {t}")
    sync()
    assert ids(f"erika {t}") == []
    SearchIndexState.objects.filter(pk=1).update(ready=False)
    assert sync()["kind"] == "full_load"
    assert (
        ids(f"erika {t}") == []
        and not IndexedCustomer.objects.filter(customer_id__in=[again["id"], by_source["id"]]).exists()
    )


@pytest.mark.usefixtures("ready_index")
def test_a_finished_import_reaches_the_index_without_waiting_for_the_schedule(settings, django_user_model,
                                                                              sandbox_server):  # fmt: skip
    from customers_app.jobs import import_start, job_refresh

    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
    t = tag()
    user = django_user_model.objects.create_user("importer")
    content = f"source_id,name,email\r\nimp-{t},Imported Ilse {t},ilse.{t}@example.com\r\n".encode()
    job = import_start(user=user, file_name="people.csv", content=content, row_count=1)
    for _ in range(100):
        if job_refresh(job=job, async_action_id=job.async_action_id).is_finished:
            break
        time.sleep(0.1)
    assert ids(f"ilse {t}") and search_customers(f"ilse {t}").rows[0].source_id == f"imp-{t}"
