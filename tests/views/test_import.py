"""The import wizard against the sandbox over real HTTP: odd files are read right, bad ones refused."""

from __future__ import annotations

import io
from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from customers_app import csv_import
from customers_app.models import ImportFile, Job
from tests.csv_samples import (
    CZECH_POLISH,
    WESTERN,
    confirm,
    csv_bytes,
    import_state,
    people_rows,
    preview_counts,
    remove_created_customers,  # noqa: F401 - a fixture
    unique,
    upload,
    wait_for_action,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("use_sandbox_server", "remove_created_customers")]


def local_files() -> set[Path]:
    """Whatever the old layout kept on local disk (var/uploads and its sent/ folder)."""
    root = Path(django_settings.VAR_DIR) / "uploads"
    return {path for path in root.rglob("*") if path.is_file()} if root.exists() else set()


@pytest.fixture(autouse=True)
def no_local_files():
    """Uploads and sent files live in the database: no step of the wizard writes under var/uploads."""
    before = local_files()
    yield
    assert local_files() <= before


def import_file(client, sandbox_server, content: bytes, name: str = "customers.csv") -> dict:
    """Uploads, accepts the automatic mapping, previews, confirms and waits for the action."""
    response = upload(client, content, name)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert response["Location"] == "/customers/import/map/"
    assert client.get("/customers/import/preview/").status_code == 200
    action_id = confirm(client)
    return wait_for_action(sandbox_server, action_id)


def customer(sandbox_server, source_id: str) -> dict:
    response = sandbox_server.api("GET", f"/v1/customers/{source_id}")
    assert response.status_code == 200, response.text
    return response.json()


# --- file oddities ------------------------------------------------------------------------------


def test_utf8_with_bom_imports_names_and_standard_headers(marketer_client, sandbox_server):
    tag = unique()
    content = csv_bytes(people_rows(CZECH_POLISH, tag), bom=True)
    response = upload(marketer_client, content)
    assert response.status_code == 302
    state = import_state(marketer_client)
    assert state["encoding"] == "utf-8-sig"
    assert state["headers"][0] == "Source_id"  # no BOM glued to the first header
    action = import_file(marketer_client, sandbox_server, content)
    assert action["status"] == "DONE" and action["result"]["done_count"] == len(CZECH_POLISH)
    assert customer(sandbox_server, f"{tag}-0")["name"] == "Jiří Dvořák"
    assert customer(sandbox_server, f"{tag}-2")["address"]["city"] == "Łódź"


def test_semicolon_separated_file(marketer_client, sandbox_server):
    tag = unique()
    action = import_file(marketer_client, sandbox_server, csv_bytes(people_rows(WESTERN, tag), delimiter=";"))
    assert action["result"]["done_count"] == len(WESTERN)
    assert customer(sandbox_server, f"{tag}-1")["address"]["city"] == "Zürich"


def test_semicolon_and_tab_are_detected(marketer_client):
    tag = unique()
    upload(marketer_client, csv_bytes(people_rows(WESTERN, tag), delimiter=";"))
    assert import_state(marketer_client)["delimiter"] == ";"
    upload(marketer_client, csv_bytes(people_rows(WESTERN, tag), delimiter="\t"), "export.tsv")
    assert import_state(marketer_client)["delimiter"] == "\t"


def test_tab_separated_file(marketer_client, sandbox_server):
    tag = unique()
    action = import_file(marketer_client, sandbox_server, csv_bytes(people_rows(WESTERN, tag), delimiter="\t"))
    assert action["result"]["done_count"] == len(WESTERN)
    assert customer(sandbox_server, f"{tag}-2")["name"] == "José Peña"


def test_windows_1250_czech_and_polish_names(marketer_client, sandbox_server):
    tag = unique()
    content = csv_bytes(people_rows(CZECH_POLISH, tag), delimiter=";", encoding="cp1250")
    upload(marketer_client, content)
    assert import_state(marketer_client)["encoding"] == "cp1250"
    action = import_file(marketer_client, sandbox_server, content)
    assert action["result"]["done_count"] == len(CZECH_POLISH)
    assert customer(sandbox_server, f"{tag}-1")["name"] == "Věra Čermáková"
    assert customer(sandbox_server, f"{tag}-1")["address"]["city"] == "České Budějovice"
    assert customer(sandbox_server, f"{tag}-3")["name"] == "Małgorzata Wąsowska"


def test_windows_1252_western_names(marketer_client, sandbox_server):
    tag = unique()
    content = csv_bytes(people_rows(WESTERN, tag), encoding="cp1252")
    upload(marketer_client, content)
    assert import_state(marketer_client)["encoding"] == "cp1252"
    action = import_file(marketer_client, sandbox_server, content)
    assert action["result"]["done_count"] == len(WESTERN)
    assert customer(sandbox_server, f"{tag}-0")["name"] == "François Lefèvre"
    assert customer(sandbox_server, f"{tag}-0")["address"]["city"] == "Besançon"


def test_header_case_spaces_and_aliases_are_auto_mapped(marketer_client, sandbox_server):
    tag = unique()
    rows = [
        ["  source_ID ", " NAME", "e-mail ", "Phone Number", "city", "Loyalty Tier"],
        [f"{tag}-0", "Ana Lima", f"ana+{tag}@example.com", "+351 912 345 678", "Porto", "gold"],
    ]
    response = upload(marketer_client, csv_bytes(rows))
    assert response.status_code == 302
    mapping = import_state(marketer_client)["mapping"]
    assert [target for target, _ in mapping] == ["Source_id", "Name", "Email", "Phone", "Address_City", "metadata"]
    assert mapping[5] == ["metadata", "Loyalty_Tier"]  # Voucherify forbids spaces in metadata keys
    preview = marketer_client.get("/customers/import/preview/").content.decode()
    assert "<code>Loyalty_Tier</code>" in preview
    action = wait_for_action(sandbox_server, confirm(marketer_client))
    saved = customer(sandbox_server, f"{tag}-0")
    assert action["result"]["done_count"] == 1
    assert saved["phone"] == "+351 912 345 678"
    assert saved["metadata"] == {"Loyalty_Tier": "gold"}


def test_user_changes_a_mapping_before_preview(marketer_client, sandbox_server):
    tag = unique()
    rows = [["Source_id", "Name", "Notes", "Segment"], [f"{tag}-0", "Eva Malá", "VIP", "b2b"]]
    upload(marketer_client, csv_bytes(rows))
    page = marketer_client.get("/customers/import/map/")
    assert page.status_code == 200 and "Sample values" in page.content.decode()
    response = marketer_client.post(
        "/customers/import/map/",
        {
            "encoding": "utf-8", "delimiter": ",",
            "target_0": "Source_id", "key_0": "",
            "target_1": "Name", "key_1": "",
            "target_2": "metadata", "key_2": "note",  # auto-mapped to Description
            "target_3": "skip", "key_3": "Segment",
        },
    )  # fmt: skip
    assert response.status_code == 302 and response["Location"] == "/customers/import/preview/"
    wait_for_action(sandbox_server, confirm(marketer_client))
    saved = customer(sandbox_server, f"{tag}-0")
    assert saved["metadata"] == {"note": "VIP"}
    assert not saved.get("description")


def test_mapping_refuses_spaces_in_metadata_keys_and_double_fields(marketer_client):
    upload(marketer_client, csv_bytes([["Source_id", "Name", "Other"], ["x-1", "A", "B"]]))
    response = marketer_client.post(
        "/customers/import/map/",
        {"encoding": "utf-8", "delimiter": ",", "target_0": "Source_id", "target_1": "Name",
         "target_2": "metadata", "key_2": "has space"},
    )  # fmt: skip
    assert response.status_code == 400
    assert "no spaces" in response.content.decode()
    response = marketer_client.post(
        "/customers/import/map/",
        {"encoding": "utf-8", "delimiter": ",", "target_0": "Source_id", "target_1": "Name", "target_2": "Name"},
    )
    assert response.status_code == 400
    assert "more than one column" in response.content.decode()


def test_choosing_another_encoding_reads_the_file_again(marketer_client):
    content = csv_bytes([["Source_id", "Name"], ["x-1", "Dvořák"]], encoding="cp1250")
    upload(marketer_client, content)
    response = marketer_client.post(
        "/customers/import/map/",
        {"encoding": "cp1252", "delimiter": ",", "target_0": "Source_id", "target_1": "Name"},
    )
    assert response.status_code == 302
    assert import_state(marketer_client)["encoding"] == "cp1252"
    assert "Dvoøák" in marketer_client.get("/customers/import/preview/").content.decode()


# --- bad files ----------------------------------------------------------------------------------


def assert_refused(client, sandbox_server, content: bytes, message: str, name: str = "customers.csv", status=400):
    before = sandbox_server.api("GET", "/v1/async-actions", params={"limit": 1}).json()["async_actions"]
    response = upload(client, content, name)
    assert response.status_code == status
    assert message in response.content.decode()
    assert "customer_import" not in client.session
    after = sandbox_server.api("GET", "/v1/async-actions", params={"limit": 1}).json()["async_actions"]
    assert after == before  # nothing was sent upstream


def test_binary_file_is_refused(marketer_client, sandbox_server):
    assert_refused(marketer_client, sandbox_server, bytes(range(256)) * 40, "not a CSV file", "photo.csv")


def test_excel_workbook_is_refused_with_advice(marketer_client, sandbox_server):
    content = b"PK\x03\x04\x14\x00\x06\x00" + b"\x00" * 200
    assert_refused(marketer_client, sandbox_server, content, "Save it as CSV first", "customers.xlsx")


def test_empty_file_is_refused(marketer_client, sandbox_server):
    assert_refused(marketer_client, sandbox_server, b"", "empty")
    assert_refused(marketer_client, sandbox_server, b"\r\n\r\n  \r\n", "empty")


def test_header_only_file_is_refused(marketer_client, sandbox_server):
    assert_refused(marketer_client, sandbox_server, b"Source_id,Name,Email\r\n", "no customer rows")


def test_file_without_header_is_refused(marketer_client, sandbox_server):
    content = csv_bytes([["crm-1", "Ann", "ann@example.com", "2020-01-01"], ["crm-2", "Bob", "bob@example.com", ""]])
    assert_refused(marketer_client, sandbox_server, content, "looks like customer data, not column names")


def test_duplicate_headers_are_refused(marketer_client, sandbox_server):
    content = csv_bytes([["Source_id", "Email", "email "], ["a", "a@example.com", "b@example.com"]])
    assert_refused(marketer_client, sandbox_server, content, "repeats “email”")


def test_file_over_10_mb_is_refused_before_reading(marketer_client, sandbox_server):
    row = b"crm-000001,Somebody Long Named,somebody@example.com,Some City\r\n"
    content = b"Source_id,Name,Email,Address_City\r\n" + row * (10 * 1024 * 1024 // len(row) + 10)
    assert len(content) > 10 * 1024 * 1024
    assert_refused(marketer_client, sandbox_server, content, "larger than 10 MB", status=413)


def test_plain_text_is_not_taken_for_a_csv(marketer_client, sandbox_server):
    content = b"Dear team,\nplease find attached the list.\nRegards\n"
    assert_refused(marketer_client, sandbox_server, content, "does not look like a CSV file")


# --- row checks ---------------------------------------------------------------------------------


def test_preview_reports_each_bad_row_with_line_and_value(marketer_client, sandbox_server):
    tag = unique()
    rows = [
        ["Source_id", "Name", "Email", "Birthdate"],
        [f"{tag}-ok", "Good Row", "good@example.com", "1990-05-17"],  # line 2
        [f"{tag}-mail", "Bad Mail", "not-an-email", ""],  # line 3
        [f"{tag}-date", "Bad Date", "date@example.com", "2023-02-30"],  # line 4
        [f"{tag}-ok", "Same Id", "dup@example.com", ""],  # line 5: duplicate source id
        ["", "", "", ""],  # line 6: empty row
        [f"{tag}-ragged", "Ragged", "r@example.com", "1990-01-01", "extra"],  # line 7
        [f"{tag}-short", "Short"],  # line 8
        [f"{tag}-dotted", "Dotted Date", "d@example.com", "17.6.1991"],  # line 9: fine
    ]
    upload(marketer_client, csv_bytes(rows))
    response = marketer_client.get("/customers/import/preview/")
    html = response.content.decode()
    assert preview_counts(response) == {"rows": 8, "valid": 2, "invalid": 6}
    for line, value, message in [
        (3, "not-an-email", "Malformed email"),
        (4, "2023-02-30", "Not a real date"),
        (5, f"{tag}-ok", "Duplicate source id: already on line 2"),
        (6, "", "Empty row"),
        (7, "", "Row has 5 cells but the header has 4 columns"),
        (8, "", "Row has 2 cells but the header has 4 columns"),
    ]:
        assert f'<tr data-line="{line}">' in html
        assert value in html and message in html
    assert "Existing customers are overwritten" in html
    assert "Import 2 customers" in html
    assert 'data-calls="1"' in html and "about 1 Voucherify call," in html  # the cost, before confirming
    # The first rows exactly as they will be sent: the dotted date in ISO form.
    assert "<td>1991-06-17</td>" in html
    action = wait_for_action(sandbox_server, confirm(marketer_client))
    assert action["result"]["done_count"] == 2 and action["result"]["failed_count"] == 0
    assert customer(sandbox_server, f"{tag}-dotted")["birthdate"] == "1991-06-17"
    assert sandbox_server.api("GET", f"/v1/customers/{tag}-mail").status_code == 404


def test_quoted_cells_with_delimiters_and_newlines_are_one_record(marketer_client, sandbox_server):
    tag = unique()
    content = (
        'Source_id,Name,Description\r\n'
        f'{tag}-0,"Novák, Jan","Line one\nline two"\r\n'
        f'{tag}-1,Eva,plain\r\n'
    ).encode()
    upload(marketer_client, content)
    assert preview_counts(marketer_client.get("/customers/import/preview/")) == {"rows": 2, "valid": 2, "invalid": 0}
    wait_for_action(sandbox_server, confirm(marketer_client))
    saved = customer(sandbox_server, f"{tag}-0")
    assert saved["name"] == "Novák, Jan" and saved["description"] == "Line one\nline two"


def test_template_csv_downloads_with_standard_headers(marketer_client):
    response = marketer_client.get("/customers/import/template.csv")
    assert response.status_code == 200
    header = response.content.decode().splitlines()[0]
    assert header.startswith("Source_id,Id,Name,Email,Phone,Birthdate,Description,Address_line_1")


def test_wizard_steps_without_an_upload_go_back_to_the_start(marketer_client):
    response = marketer_client.get("/customers/import/preview/")
    assert response.status_code == 302 and response["Location"] == "/customers/import/"
    assert marketer_client.post("/customers/import/confirm/").status_code == 302


def test_cancel_deletes_the_upload(marketer_client):
    upload(marketer_client, csv_bytes([["Source_id", "Name"], ["c-1", "Ann"]]))
    token = import_state(marketer_client)["token"]
    assert ImportFile.objects.filter(token=token, kind="upload").exists()
    marketer_client.post("/customers/import/cancel/")
    assert not ImportFile.objects.filter(token=token).exists()
    assert "customer_import" not in marketer_client.session


# --- stateless app servers: the upload lives in the database -------------------------------------


def test_upload_survives_to_the_next_step_without_any_local_file(marketer_client, monkeypatch):
    """A 3 MB upload (past Django's in-memory limit, where it would go to a temporary file) is kept
    in the database only; the next steps run from another client sharing just the session cookie,
    as on another app server."""
    import tempfile

    def no_temporary_files(*args, **kwargs):
        raise AssertionError("the upload must not be written to a local temporary file")

    monkeypatch.setattr(tempfile, "NamedTemporaryFile", no_temporary_files)
    tag = unique()
    rows = [["Source_id", "Name", "Email"]] + [
        [f"{tag}-{i}", f"Person {i:06d} with a longish name", f"p{i}+{tag}@example.com"] for i in range(45_000)
    ]
    content = csv_bytes(rows)
    assert len(content) > django_settings.FILE_UPLOAD_MAX_MEMORY_SIZE
    response = upload(marketer_client, content, "big.csv")
    assert response.status_code == 302, response.content.decode()[:2000]
    assert list(marketer_client.session["customer_import"]) == ["token"]  # the session holds only the token
    stored = ImportFile.objects.get(token=marketer_client.session["customer_import"]["token"])
    assert stored.kind == "upload" and stored.file_name == "big.csv" and stored.size == len(content)
    assert bytes(stored.content) == content
    assert stored.owner.username == "marketer-user"

    other_server = Client()
    other_server.cookies = marketer_client.cookies
    page = other_server.get("/customers/import/map/")
    assert page.status_code == 200 and "big.csv" in page.content.decode()
    assert preview_counts(other_server.get("/customers/import/preview/")) == {
        "rows": 45_000,
        "valid": 45_000,
        "invalid": 0,
    }


def test_another_user_cannot_use_my_upload_token(marketer_client, login_as):
    upload(marketer_client, csv_bytes([["Source_id", "Name"], ["t-1", "Ann"]]))
    token = import_state(marketer_client)["token"]
    other = login_as("marketer", "other-marketer")
    session = other.session
    session["customer_import"] = {"token": token}
    session.save()
    for response in (
        other.get("/customers/import/map/"),
        other.get("/customers/import/preview/"),
        other.post("/customers/import/confirm/"),
    ):
        assert response.status_code == 302 and response["Location"] == "/customers/import/"
    other.post("/customers/import/cancel/")  # does not delete somebody else's upload either
    assert ImportFile.objects.filter(token=token).exists()
    assert csv_import.upload_get(token, owner=ImportFile.objects.get(token=token).owner) is not None
    assert not Job.objects.exists()


def test_upload_older_than_a_day_is_gone(marketer_client):
    upload(marketer_client, csv_bytes([["Source_id", "Name"], ["o-1", "Ann"]]))
    token = import_state(marketer_client)["token"]
    ImportFile.objects.filter(token=token).update(created_at=timezone.now() - timedelta(hours=25))
    response = marketer_client.get("/customers/import/map/")
    assert response.status_code == 302 and response["Location"] == "/customers/import/"


def _old_file(kind: str, age: timedelta, **fields) -> ImportFile:
    return ImportFile.objects.create(
        kind=kind, file_name="x.csv", size=3, content=b"a,b", created_at=timezone.now() - age, **fields
    )


def test_cleanup_deletes_old_uploads_and_sent_files(marketer_client):
    old_upload = _old_file("upload", timedelta(hours=25))
    fresh_upload = _old_file("upload", timedelta(hours=23))
    old_sent = _old_file("sent", timedelta(days=8))
    fresh_sent = _old_file("sent", timedelta(days=6))
    job = Job.objects.create(async_action_id="aa_cleanup_test", kind="import", sent_import_file=old_sent)
    out = io.StringIO()
    call_command("purge_import_files", stdout=out)
    assert "Deleted 1 upload(s) and 1 sent file(s)." in out.getvalue()
    left = set(ImportFile.objects.values_list("pk", flat=True))
    assert left == {fresh_upload.pk, fresh_sent.pk}
    assert old_upload.pk not in left
    job.refresh_from_db()
    assert job.sent_import_file is None  # the job stays, without its file


def test_the_wizard_cleans_up_on_the_way(marketer_client):
    old_upload = _old_file("upload", timedelta(days=2))
    old_sent = _old_file("sent", timedelta(days=10))
    upload(marketer_client, csv_bytes([["Source_id", "Name"], ["w-1", "Ann"]]))
    assert not ImportFile.objects.filter(pk__in=[old_upload.pk, old_sent.pk]).exists()


def test_support_cannot_import(support_client):
    assert support_client.get("/customers/import/").status_code == 403
    assert upload(support_client, csv_bytes([["Source_id"], ["x"]])).status_code == 403
    assert support_client.post("/customers/import/confirm/").status_code == 403
