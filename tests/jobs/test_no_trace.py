"""No trace left behind: after an erasure, no file in the dashboard's data folder (the SQLite database, its
``-wal`` and ``-shm``, uploads and exports) holds the person's email, name or phone in any form, although
the person was created, edited, searched for, filtered by, exported and imported through the dashboard."""

from __future__ import annotations

import base64
import contextlib
import re
import sqlite3
import time
import uuid
import zlib
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote_plus

import pytest
import requests

from tests.conftest import ServedProduct, csrf_post, free_port, prepare_product, product_env, signed_in

SANDBOX_HEADERS = {"X-App-Id": "sandbox-app-id", "X-App-Token": "sandbox-app-token"}


class _Forms(HTMLParser):
    """The fields of every form on a page, as a browser would send them (first option or the selected one)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.forms: list[list[tuple[str, str]]] = []
        self._select: str | None = None
        self._select_value: str | None = None
        self._textarea: str | None = None
        self._text = ""

    def handle_starttag(self, tag, attrs):
        a = {key: value or "" for key, value in attrs}
        if tag == "form":
            self.forms.append([])
        elif not self.forms:
            return
        elif tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind in ("submit", "button", "file", "image", "reset"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self.forms[-1].append((a["name"], a.get("value", "on" if kind == "checkbox" else "")))
        elif tag == "select" and a.get("name"):
            self._select, self._select_value = a["name"], None
        elif tag == "option" and self._select is not None:
            if self._select_value is None or "selected" in a:
                self._select_value = a.get("value", "")
        elif tag == "textarea" and a.get("name"):
            self._textarea, self._text = a["name"], ""

    def handle_data(self, data):
        if self._textarea is not None:
            self._text += data

    def handle_endtag(self, tag):
        if tag == "select" and self._select is not None:
            self.forms[-1].append((self._select, self._select_value or ""))
            self._select = None
        elif tag == "textarea" and self._textarea is not None:
            self.forms[-1].append((self._textarea, self._text.removeprefix("\n")))
            self._textarea = None


def form_fields(html: str, containing: str) -> dict[str, str]:
    """The fields of the page's form that has a field named ``containing`` (without the CSRF token)."""
    parser = _Forms()
    parser.feed(html)
    for fields in parser.forms:
        if any(name == containing for name, _ in fields):
            return {name: value for name, value in fields if name != "csrfmiddlewaretoken"}
    raise AssertionError(f"no form with a field {containing!r} on the page")


def wait_until(check, timeout: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.3)


def personal_values(email: str, names: list[str], phones: list[str]) -> set[str]:
    """Every spelling of the person a file could hold: as typed, lower- and upper-case, URL-encoded, phone digits."""
    values = {email, email.lower(), email.upper(), email.replace("@", "%40"), email.lower().replace("@", "%40")}
    values |= {*names, *(name.lower() for name in names)}
    values |= {*phones, *(phone.replace(" ", "") for phone in phones), *(re.sub(r"\D", "", p) for p in phones)}
    return values


def traces(folder: Path, values: set[str]) -> dict[str, list[str]]:
    """For every file under ``folder`` holding any of ``values`` (as UTF-8 bytes): which ones."""
    found = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            content = path.read_bytes()
            if hits := sorted(value for value in values if value.encode() in content):
                found[str(path.relative_to(folder))] = hits
    return found


def stored_sessions(database: Path) -> list[str]:
    """Every stored session's data as text: signed, base64 and maybe zlib-compressed, so invisible to a
    scan of raw bytes. Read without checking the signature (the test has no business with the key)."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        rows = [data for (data,) in db.execute("SELECT session_data FROM django_session")]
    texts = []
    for data in rows:
        payload = data.split(":", 1)[0]
        compressed = payload.startswith(".")
        raw = base64.urlsafe_b64decode(payload.removeprefix(".") + "=" * (-len(payload.removeprefix(".")) % 4))
        texts.append((zlib.decompress(raw) if compressed else raw).decode())
    return texts


@pytest.fixture
def product(tmp_path):
    """A product of its own whose dashboard keeps everything in ``data/``; Voucherify's data (the sandbox)
    lives elsewhere, since what Voucherify keeps is not the dashboard's to scrub."""
    data, voucherify = tmp_path / "data", tmp_path / "voucherify"
    data.mkdir()
    voucherify.mkdir()
    env = product_env(
        voucherify,
        free_port(),
        DATABASE_URL=f"sqlite:///{data / 'dashboard.sqlite3'}",
        DASHBOARD_FILES_DIR=str(data / "files"),
        SANDBOX_DATABASE_URL=f"sqlite:///{voucherify / 'sandbox.sqlite3'}",
        SANDBOX_EXPORTS_DIR=str(voucherify / "exports"),
    )
    prepare_product(env, 50)
    served = ServedProduct(env, tmp_path / "product.log", workers=1, threads=4).start()
    served.data_dir = data
    yield served
    served.stop()


def sandbox(product, method: str, path: str, **kwargs) -> requests.Response:
    return requests.request(method, f"{product.url}/sandbox{path}", headers=SANDBOX_HEADERS, timeout=30, **kwargs)


def test_an_erased_person_leaves_no_trace_in_the_dashboards_files(product):
    url = product.url
    tag = uuid.uuid4().hex[:8]
    digits = str(int(tag, 16))[-6:].rjust(6, "7")
    letters = "".join(chr(ord("a") + int(c, 16) % 26) for c in tag)
    email = f"Quillon.{letters}@Example.org"
    names = [f"Quillon Vanderzee{letters.capitalize()}", f"Quillon Vanderzee-Marsh{letters.capitalize()}"]
    phones = [f"+44 7700 9{digits[:3]} {digits[3:]}", f"+44 7700 8{digits[:3]} {digits[3:]}"]
    source_id = f"no-trace-{tag}"
    session = signed_in(url, "admin")

    # Created through the form.
    form_url = f"{url}/customers/new/"
    fields = form_fields(session.get(form_url, timeout=30).text, "email")
    fields.update(source_id=source_id, name=names[0], email=email, phone=phones[0], city="Gdańsk")
    created = csrf_post(session, form_url, form_url, fields, allow_redirects=False)
    assert created.status_code == 302, created.text[:2000]
    customer_id = re.match(r"/customers/([^/]+)/$", created.headers["Location"]).group(1)
    assert session.get(url + created.headers["Location"], timeout=30).status_code == 200

    # Edited: a new name and phone (the old ones must go too).
    edit_url = f"{url}/customers/{customer_id}/edit/"
    fields = form_fields(session.get(edit_url, timeout=30).text, "email")
    fields.update(name=names[1], phone=phones[1])
    edited = csrf_post(session, edit_url, edit_url, fields, allow_redirects=False)
    assert edited.status_code == 302, edited.text[:2000]
    assert sandbox(product, "GET", f"/v1/customers/{customer_id}").json()["name"] == names[1]

    # Searched for and filtered by: the list keeps its query string in the session.
    found = session.get(f"{url}/customers/", params={"q": f"vanderzee-marsh{letters}"}, timeout=30)
    assert found.status_code == 200
    listed = session.get(f"{url}/customers/", params={"email": email}, timeout=30)
    assert listed.status_code == 200 and customer_id in listed.text

    # Refused to a support agent: the audit trail keeps the denied URL, whose query holds the email.
    support = signed_in(url, "support")
    assert support.get(f"{url}/customers/export/", params={"email": email}, timeout=30).status_code == 403

    # Exported (the worker writes the file into the dashboard's storage).
    export_url = f"{url}/customers/export/"
    columns = {"email": email, "columns": ["Id", "Name", "Email", "Phone"]}
    answer = csrf_post(session, export_url, f"{export_url}?email={email}", columns, allow_redirects=False)
    assert answer.status_code == 302, answer.text[:2000]
    job_url = url + answer.headers["Location"]

    def export_done() -> bool:
        status = re.search(r'data-status="([a-z]+)"', session.get(job_url, timeout=30).text).group(1)
        assert status not in ("failed", "cancelled"), status
        return status == "succeeded"

    wait_until(export_done, what="the export")
    download = session.get(job_url + "download/", timeout=30)
    assert download.status_code == 200 and email in download.text and names[1] in download.text

    # Imported: upload, map, preview, confirm; then a second upload left half-way in the wizard.
    csv_text = f"Source_id,Name,Email,Phone\n{source_id},{names[1]},{email},{phones[1]}\n".encode()
    import_url = f"{url}/customers/import/"

    def upload() -> None:
        sent = csrf_post(session, import_url, import_url, {}, files={"file": ("people.csv", csv_text, "text/csv")},
                         allow_redirects=False)  # fmt: skip
        assert sent.status_code == 302 and sent.headers["Location"] == "/customers/import/map/", sent.text[:2000]

    upload()
    map_url = f"{url}/customers/import/map/"
    mapped = csrf_post(session, map_url, map_url, form_fields(session.get(map_url, timeout=30).text, "encoding"),
                       allow_redirects=False)  # fmt: skip
    assert mapped.status_code == 302 and mapped.headers["Location"] == "/customers/import/preview/", mapped.text[:2000]
    preview_url = f"{url}/customers/import/preview/"
    assert email in session.get(preview_url, timeout=30).text
    confirmed = csrf_post(session, f"{url}/customers/import/confirm/", preview_url, {}, allow_redirects=False)
    assert confirmed.status_code == 302, confirmed.text[:2000]
    action_id = re.match(r"/jobs/([^/]+)/$", confirmed.headers["Location"]).group(1)
    wait_until(
        lambda: sandbox(product, "GET", f"/v1/async-actions/{action_id}").json().get("status") in ("DONE", "FAILED"),
        what="the import",
    )
    assert session.get(url + confirmed.headers["Location"], timeout=30).status_code == 200

    # Asked what the dashboard holds about them: an access request, whose pack the worker gathers into the storage.
    new_url = f"{url}/privacy/new/"
    fields = form_fields(session.get(new_url, timeout=30).text, "identifier")
    fields.update(kind="access", identifier_kind="email", identifier=email, requester="data_subject")
    opened = csrf_post(session, new_url, new_url, fields, allow_redirects=False)
    assert opened.status_code == 302, opened.text[:2000]
    case_url = url + opened.headers["Location"]
    wait_until(lambda: "Download the pack (zip)" in session.get(case_url, timeout=30).text, what="the access pack")
    pack = session.get(case_url + "pack.zip", timeout=30)
    assert pack.status_code == 200 and pack.content.startswith(b"PK")

    # A restart folds the write-ahead log into the database file: the person's rows are in its pages now,
    # where a plain delete would leave them readable in free space. The scan sees them there.
    product.stop()
    product.start()
    upload()
    before = traces(product.data_dir, personal_values(email, names, phones))
    assert email in before["dashboard.sqlite3"] and names[1] in before["dashboard.sqlite3"], before
    assert any(path.startswith("files/exports/") for path in before), before
    assert any(path.startswith("files/privacy/") for path in before), before

    # Erased through the erase form.
    erase_url = f"{url}/customers/{customer_id}/erase/"
    fields = form_fields(session.get(erase_url, timeout=30).text, "confirmation")
    fields.update(reference="GDPR-NT-1", requester="data_subject", requester_reference="ZD-1",
                  reason="Right to erasure", confirmation=email)  # fmt: skip
    erased = csrf_post(session, erase_url, erase_url, fields, allow_redirects=False)
    assert erased.status_code == 302 and "/erasures/" in erased.headers["Location"], erased.text[:2000]
    assert sandbox(product, "GET", f"/v1/customers/{customer_id}").status_code == 404
    page = session.get(url + erased.headers["Location"], timeout=30).text
    assert "Erased 1 customer record" in page
    assert "The pack was deleted" in session.get(case_url, timeout=30).text

    # Nothing while the product runs (its -wal is what a copy of the disk would hold), nor after a crash
    # (no clean shutdown folds the log into the database), nor after a clean stop.
    data: Path = product.data_dir
    values = personal_values(email, names, phones)
    assert traces(data, values) == {}
    product.kill()
    assert (data / "dashboard.sqlite3").is_file()
    assert traces(data, values) == {}
    product.start()
    product.stop()
    assert traces(data, values) == {}
    # Sessions are encoded, so the bytes do not show them: the list's stored filter must be gone too.
    sessions = stored_sessions(data / "dashboard.sqlite3")
    assert sessions and not [text for text in sessions if any(value in unquote_plus(text) for value in values)]
