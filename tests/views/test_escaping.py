"""Customer data is text, never markup: every page and htmx fragment showing a hostile customer escapes it.

A customer whose every field (name, email, phone, description, address, metadata keys and values,
nested metadata, source id) carries an XSS or template-injection payload is created in the sandbox,
updated once (so the Activity feed holds events with the payloads), edited once through the
dashboard (so the audit trail holds them too), and then every page showing it is parsed: no
element may have an ``on*`` attribute, no ``javascript:`` link, no script but our own (with a
``src`` and the response's nonce), and the payloads must be shown, as text, where the value is.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import quote, urlencode

import pytest
from django.urls import reverse

from customers_app.import_forms import EXPORT_COLUMNS
from tests.csv_samples import (
    confirm,
    remove_created_customers,  # noqa: F401 - a fixture
    upload,
    wait_for_action,
)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("use_sandbox_server", "remove_created_customers")]

HTMX = {"HTTP_HX_REQUEST": "true"}

SCRIPT = "<script>alert(1)</script>"
IMG = '"><img src=x onerror=alert(1)>'
JS_URL = "javascript:alert(1)"
TEMPLATE = "{{ 7*7 }}"
ATTR = "' onmouseover='alert(1)"
SHORT_ATTR = "' onfocus='alert(1)"  # fits a postal code (20 characters)
SVG = "<svg onload=alert(1)>"
PAYLOADS = (SCRIPT, IMG, JS_URL, TEMPLATE, ATTR, SVG)

# Raw markup that must never reach a page unescaped.
FORBIDDEN = (
    SCRIPT,
    "<img src=x onerror",
    "<img/src=x/onerror",
    "<svg onload",
    "<iframe",
    '" onerror=',
    "' onmouseover=",
    "' onfocus=",
    "<b>k</b>",
)
URL_ATTRIBUTES = {"href", "src", "action", "formaction", "hx-get", "hx-post", "xlink:href", "data", "poster"}


# Parsing -------------------------------------------------------------------------------------------


@dataclass
class Parsed:
    elements: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    text: str = ""


class _Collector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parsed = Parsed()
        self.chunks: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.parsed.elements.append((tag, {name: value or "" for name, value in attrs}))

    handle_startendtag = handle_starttag

    def handle_data(self, data):
        self.chunks.append(data)


def parse(markup: str) -> Parsed:
    collector = _Collector()
    collector.feed(markup)
    collector.close()
    collector.parsed.text = "".join(collector.chunks)
    return collector.parsed


def csp_nonce(response) -> str | None:
    match = re.search(r"'nonce-([^']+)'", response.get("Content-Security-Policy", ""))
    return match.group(1) if match else None


def assert_inert(response, where: str) -> Parsed:
    """No payload escaped its text: no handlers, no script links, no scripts but ours, no raw markup."""
    markup = response.content.decode()
    for raw in FORBIDDEN:
        assert raw not in markup, f"{where}: {raw!r} is in the page unescaped"
    parsed = parse(markup)
    nonce = csp_nonce(response)
    for tag, attrs in parsed.elements:
        handlers = [name for name in attrs if name.startswith("on")]
        assert not handlers, f"{where}: <{tag}> has event handler attributes {handlers}: {attrs}"
        for name in URL_ATTRIBUTES & attrs.keys():
            value = re.sub(r"[\s\x00-\x1f]", "", attrs[name]).lower()
            assert not value.startswith(("javascript:", "data:text/html", "vbscript:")), f"{where}: {tag} {name}"
        assert tag not in ("iframe", "object", "embed", "svg", "img", "base"), f"{where}: unexpected <{tag}> {attrs}"
        if tag == "script":
            assert attrs.get("src"), f"{where}: an inline script: {attrs}"
            assert nonce and attrs.get("nonce") == nonce, f"{where}: a script without the response's nonce: {attrs}"
    return parsed


def assert_shown(parsed: Parsed, where: str, *values: str) -> None:
    """Each value is in the page's text (not its markup), exactly as stored."""
    for value in values:
        assert value in parsed.text, f"{where}: {value!r} is not shown as text"


def as_json(*values: str) -> list[str]:
    """How values read inside the Activity tab's pretty-printed event data."""
    return [json.dumps(value, ensure_ascii=False) for value in values]


def attribute_values(parsed: Parsed, tag: str, name: str) -> list[str]:
    return [attrs[name] for element, attrs in parsed.elements if element == tag and name in attrs]


def get(client, url: str, *, status: int = 200, htmx: bool = False, **params):
    response = client.get(url, params or None, **(HTMX if htmx else {}))
    if response.status_code != status:
        markup = response.content.decode()
        errors = re.findall(r'class="(?:form-errors|field-error|flash[^"]*)".*?</(?:div|small)>', markup, re.S)
        raise AssertionError(f"{url}: {response.status_code} != {status}: {errors or markup[:2000]}")
    return response


# The hostile customer ------------------------------------------------------------------------------


@dataclass
class Evil:
    customer: dict
    twin: dict  # the same email: the jump box lists both, the erase page shows both
    email: str
    texts: tuple[str, ...]  # values the profile shows verbatim as text

    @property
    def id(self) -> str:
        return self.customer["id"]


def api_ok(response) -> dict:
    assert response.status_code == 200, response.text
    return response.json()


def _form_fields(markup: str, action: str) -> dict[str, str]:
    """The fields of the form posting to ``action`` as a browser would send them unchanged."""

    class Form(HTMLParser):
        def __init__(self):
            super().__init__(convert_charrefs=True)
            self.inside = False
            self.data: dict[str, str] = {}
            self.textarea: str | None = None
            self.select: str | None = None

        def handle_starttag(self, tag, attrs):
            attrs = {k: v or "" for k, v in attrs}
            if tag == "form":
                self.inside = attrs.get("action") == action
            if not self.inside:
                return
            name = attrs.get("name")
            if tag == "input" and name and attrs.get("type") not in ("submit", "button", "checkbox", "radio"):
                self.data[name] = attrs.get("value", "")
            elif tag == "textarea" and name:
                self.textarea, self.data[name] = name, ""
            elif tag == "select" and name:
                self.select = name
            elif tag == "option" and self.select and ("selected" in attrs or self.select not in self.data):
                self.data[self.select] = attrs.get("value", "")

        def handle_data(self, data):
            if self.textarea:
                self.data[self.textarea] += data

        def handle_endtag(self, tag):
            if tag == "textarea" and self.textarea:
                self.data[self.textarea] = self.data[self.textarea].removeprefix("\n")
                self.textarea = None
            elif tag == "select":
                self.select = None
            elif tag == "form":
                self.inside = False

    parser = Form()
    parser.feed(markup)
    parser.data.pop("csrfmiddlewaretoken", None)
    return parser.data


@pytest.fixture
def evil(sandbox_server, admin_role_client) -> Evil:
    tag = uuid.uuid4().hex[:12]
    # Plausible as an email (no spaces, one @, a dotted domain) so the jump box treats it as one.
    email = f"{SCRIPT}\"><img/src=x/onerror=alert(1)>'onmouseover='alert(1)'{{{{7*7}}}}.{tag}@example.com"
    source_id = f"{JS_URL}{SCRIPT}{IMG}{ATTR}{TEMPLATE}-{tag}"
    body = {
        "source_id": source_id,
        "name": f"{SCRIPT} Evil {IMG}",
        "email": email,
        "phone": f"+1 555 0100 {IMG}",
        "description": f"{SCRIPT}\n{IMG}\n{JS_URL}\n{TEMPLATE}\n{ATTR}",
        "address": {
            "line_1": SCRIPT,
            "line_2": IMG,
            "city": f"{JS_URL} {tag}",
            "state": TEMPLATE,
            "postal_code": SHORT_ATTR,
            "country": SVG,
        },
        "metadata": {
            SCRIPT: IMG,
            IMG: SCRIPT,
            ATTR: JS_URL,
            "website": JS_URL,
            "template": TEMPLATE,
            "nested": {"<b>k</b>": SCRIPT, "list": [IMG, ATTR], "deeper": {SVG: JS_URL}},
        },
    }
    created = api_ok(sandbox_server.api("POST", "/v1/customers", json=body))
    # One update, so the activity feed holds a customer.updated event carrying the payloads too.
    updated_name = f"{SCRIPT} Evil {IMG} {ATTR}"
    customer = api_ok(
        sandbox_server.api("PUT", f"/v1/customers/{created['id']}", json={"name": updated_name, "email": email})
    )
    assert customer["name"] == updated_name
    # Formula-like values: the CSV exports must defuse them.
    twin = api_ok(
        sandbox_server.api(
            "POST",
            "/v1/customers",
            json={
                "source_id": f'=HYPERLINK("{JS_URL}","{tag}")',
                "name": f'=HYPERLINK("http://evil.example/","{SCRIPT}")',
                "email": email,
                "phone": f"-1+2 {IMG}",
                "description": f"@SUM(1+1) {ATTR}",
                "address": {"city": f"+{TEMPLATE}", "line_1": "\t=1+1"},
                "metadata": {"formula": "=1+1"},
            },
        )
    )
    texts = (
        customer["name"],
        email,
        customer["phone"],
        source_id,
        SCRIPT,
        IMG,
        JS_URL,
        TEMPLATE,
        ATTR,
        SVG,
        SHORT_ATTR,
    )
    _edit_through_the_dashboard(admin_role_client, customer, description_suffix=f"\n{SVG} <iframe src={JS_URL}>")
    return Evil(customer=customer, twin=twin, email=email, texts=texts)


def _edit_through_the_dashboard(client, customer: dict, *, description_suffix: str) -> None:
    """Saves a change with the edit form, so the audit trail and History tab hold the payloads."""
    url = reverse("customers:edit", args=[customer["id"]])
    data = _form_fields(get(client, url).content.decode(), url)
    data["description"] = data["description"] + description_suffix
    response = client.post(url, data)
    errors = re.findall(r'class="(?:form-errors|field-error)".*?</(?:div|small)>', response.content.decode(), re.S)
    assert response.status_code == 302, errors


# Pages ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "fragment"])
def test_list_filtered_to_the_customer(admin_role_client, evil, htmx):
    response = get(admin_role_client, "/customers/", htmx=htmx, email=evil.email)
    parsed = assert_inert(response, "list")
    assert_shown(parsed, "list", evil.customer["name"], evil.email, evil.customer["phone"], f"Email: {evil.email}")
    assert evil.id in attribute_values(parsed, "tr", "data-customer-id")
    assert evil.twin["id"] in attribute_values(parsed, "tr", "data-customer-id")
    assert f"Select {evil.customer['name']}" in attribute_values(parsed, "input", "aria-label")
    if not htmx:
        assert evil.email in attribute_values(parsed, "input", "value")  # the filter keeps what was typed


def test_jump_box_lists_both_customers_sharing_the_email(admin_role_client, evil):
    response = get(admin_role_client, "/customers/jump/", q=evil.email)
    parsed = assert_inert(response, "jump")
    assert_shown(parsed, "jump", evil.customer["name"], evil.email, evil.customer["source_id"], evil.twin["name"])
    assert evil.email in attribute_values(parsed, "input", "value")


def test_jump_box_echoes_an_unknown_query_as_text(admin_role_client):
    query = f"{SCRIPT}{IMG}{ATTR}"
    parsed = assert_inert(get(admin_role_client, "/customers/jump/", status=404, q=query), "jump miss")
    assert_shown(parsed, "jump miss", query)
    assert query in attribute_values(parsed, "input", "value")


@pytest.mark.parametrize("by", ["id", "source_id"])
def test_detail_page(admin_role_client, evil, by):
    response = get(admin_role_client, reverse("customers:detail", args=[evil.customer[by]]))
    parsed = assert_inert(response, "detail")
    assert_shown(parsed, "detail", *evil.texts, "<b>k</b>")
    assert evil.customer["source_id"] in attribute_values(parsed, "button", "data-copy")
    metadata_keys = attribute_values(parsed, "tr", "data-metadata-key")
    assert {SCRIPT, IMG, ATTR} <= set(metadata_keys)
    markup = response.content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in markup
    assert "&quot;&gt;&lt;img src=x onerror=alert(1)&gt;" in markup
    assert "&#x27; onmouseover=&#x27;alert(1)" in markup


TABS = ["activity", "redeemables", "segments", "history"]


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "fragment"])
@pytest.mark.parametrize("tab", TABS)
def test_each_tab(admin_role_client, evil, tab, htmx):
    response = get(admin_role_client, reverse(f"customers:{tab}", args=[evil.id]), htmx=htmx)
    parsed = assert_inert(response, tab)
    if htmx:
        assert "<html" not in response.content.decode()
    else:
        assert_shown(parsed, tab, evil.customer["name"], evil.email)
    if tab == "activity":
        # The summary names the customer; the event data (JSON) holds every payload of the update.
        assert_shown(parsed, tab, evil.customer["name"], *as_json(evil.email, evil.customer["source_id"]))
        assert "customer.updated" in parsed.text and "customer.created" in parsed.text
    if tab == "history":
        assert_shown(parsed, tab, evil.customer["name"], evil.email, SVG, f"<iframe src={JS_URL}>")


def test_activity_load_more_rows(admin_role_client, evil, sandbox_server):
    """The "Load more" rows fragment (a cursor past the newest event) is escaped like the first page."""
    newest = sandbox_server.api("GET", f"/v1/customers/{evil.id}/activity", params={"limit": 1}).json()["data"][0]
    url = reverse("customers:activity", args=[evil.id])
    response = get(admin_role_client, url, htmx=True, starting_after_id=newest["id"])
    parsed = assert_inert(response, "activity more")
    assert response.content.decode().lstrip().startswith("<tbody")
    assert_shown(parsed, "activity more", *as_json(evil.customer["source_id"], evil.email))


def test_edit_form_keeps_values_inside_their_attributes(admin_role_client, evil):
    url = reverse("customers:edit", args=[evil.id])
    parsed = assert_inert(get(admin_role_client, url), "edit")
    values = attribute_values(parsed, "input", "value")
    for expected in (evil.customer["name"], evil.email, evil.customer["source_id"], SCRIPT, IMG, ATTR, JS_URL):
        assert expected in values, f"edit: no input holds {expected!r}"
    assert SVG in parsed.text  # description textarea (country is an input)


@pytest.mark.parametrize("page", ["delete", "erase"])
def test_confirmation_pages(admin_role_client, evil, page):
    response = get(admin_role_client, reverse(f"customers:{page}", args=[evil.id]))
    parsed = assert_inert(response, page)
    assert_shown(parsed, page, evil.customer["name"], evil.email, evil.customer["source_id"], f"Type {evil.email}")
    if page == "erase":
        assert_shown(parsed, page, evil.twin["name"])


def test_wrong_confirmation_echoes_what_was_typed_as_text(admin_role_client, evil):
    url = reverse("customers:delete", args=[evil.id])
    typed = f"{IMG}{ATTR}"
    response = admin_role_client.post(url, {"confirmation": typed})
    assert response.status_code == 400
    parsed = assert_inert(response, "delete refused")
    assert typed in attribute_values(parsed, "input", "value")


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "fragment"])
def test_audit_list(admin_role_client, evil, htmx):
    response = get(admin_role_client, "/audit/", htmx=htmx, customer=evil.id)
    parsed = assert_inert(response, "audit")
    assert_shown(parsed, "audit", evil.customer["name"], evil.email, SVG, f"<iframe src={JS_URL}>")


def test_audit_export_defuses_formulas(admin_role_client, evil):
    _edit_through_the_dashboard(admin_role_client, evil.twin, description_suffix=" more")
    rows = csv_rows(get(admin_role_client, "/audit/export/", customer=evil.twin["id"]))
    header, entries = rows[0], rows[1:]
    assert entries
    label = entries[0][header.index("target_label")]
    assert label.startswith("'=HYPERLINK(")  # the name starts the label with "="
    assert_no_formula(rows)


def test_unknown_hostile_id_is_echoed_as_text(admin_role_client):
    unknown = f"{SCRIPT}{IMG}{ATTR}-{uuid.uuid4().hex}"
    for name in ("detail", "edit", "delete", "erase", "activity", "history"):
        url = reverse(f"customers:{name}", args=[unknown])
        response = admin_role_client.get(url)
        assert response.status_code == 404, (name, response.status_code)
        parsed = assert_inert(response, f"404 {name}")
        assert_shown(parsed, f"404 {name}", unknown)
    for name in ("activity", "redeemables"):
        url = reverse(f"customers:{name}", args=[unknown])
        parsed = assert_inert(get(admin_role_client, url, status=404, htmx=True), f"404 {name} fragment")
        assert_shown(parsed, f"404 {name} fragment", unknown)
    # Voucherify lists no segments for an unknown customer rather than answering 404.
    assert_inert(get(admin_role_client, reverse("customers:segments", args=[unknown]), htmx=True), "segments")


# Bulk update -------------------------------------------------------------------------------------


def test_bulk_form_and_preview_of_selected_customers(admin_role_client, evil):
    ids = [evil.id, evil.twin["id"]]
    parsed = assert_inert(get(admin_role_client, "/customers/bulk/", id=ids), "bulk form")
    assert "2 selected customers" in parsed.text
    response = admin_role_client.get(
        "/customers/bulk/",
        {
            "id": ids,
            "preview": "1",
            "set-name": "Plain name",
            "set-address_line_1": "Plain street",
            "set-address_state": "Plain state",
            "set-address_postal_code": "00-950",
            "set-address_country": "Plain country",
            "set-meta_key_0": "website",  # before: javascript:alert(1)
            "set-meta_value_0": IMG,
            "set-meta_key_1": "template",
            "set-meta_value_1": SCRIPT,
        },
    )
    errors = re.findall(r'class="form-errors".*?</div>', response.content.decode(), re.S)
    assert response.status_code == 200, errors
    parsed = assert_inert(response, "bulk preview")
    assert "Before → after" in parsed.text
    # Before: the stored payloads; after: what the user typed (also hostile); the customer heading.
    assert_shown(parsed, "bulk preview", evil.customer["name"], evil.customer["source_id"], SCRIPT, IMG, TEMPLATE,
                 SHORT_ATTR, SVG, JS_URL, evil.twin["name"])  # fmt: skip
    assert evil.customer["source_id"] in attribute_values(parsed, "tr", "data-source-id")
    assert IMG in attribute_values(parsed, "input", "value")  # the hidden fields carry it back


def test_bulk_preview_of_all_matching_the_city(admin_role_client, evil):
    city = evil.customer["address"]["city"]
    response = get(
        admin_role_client, "/customers/bulk/", scope="all", city=city, preview="1", **{"set-address_state": "Plain"}
    )
    parsed = assert_inert(response, "bulk all")
    assert_shown(parsed, "bulk all", f"City “{city}”", evil.customer["name"], TEMPLATE)


def test_bulk_all_matching_a_name_filter_does_not_set_the_name(admin_role_client, evil):
    """The list's ``name`` filter and the bulk form's Name field travel in one query; they must not mix."""
    response = admin_role_client.get(
        "/customers/bulk/", {"scope": "all", "name": "Evil", "preview": "1", "set-address_state": "Plain"}
    )
    assert response.status_code == 200
    assert "<td>Name</td>" not in response.content.decode()


def test_bulk_metadata_job_pages(admin_role_client, evil, sandbox_server):
    """A bulk update of the hostile customers: the jobs pages stay inert; the value arrives as text."""
    response = admin_role_client.post(
        "/customers/bulk/", {"id": [evil.id, evil.twin["id"]], "set-meta_key_0": "bulk_note", "set-meta_value_0": IMG}
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    action_id = re.match(r"/jobs/([^/]+)/$", response["Location"]).group(1)
    wait_for_action(sandbox_server, action_id)
    for url, htmx in (("/jobs/", False), (f"/jobs/{action_id}/", False), (f"/jobs/{action_id}/", True)):
        assert_inert(get(admin_role_client, url, htmx=htmx), url)
    stored = api_ok(sandbox_server.api("GET", f"/v1/customers/{evil.id}"))
    assert stored["metadata"]["bulk_note"] == IMG
    parsed = assert_inert(get(admin_role_client, reverse("customers:detail", args=[evil.id])), "after bulk")
    assert_shown(parsed, "after bulk", IMG)


# Export -------------------------------------------------------------------------------------------


def csv_rows(response) -> list[list[str]]:
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8").lstrip("\ufeff")
    return list(csv.reader(io.StringIO(text)))


def assert_no_formula(rows: list[list[str]]) -> None:
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), f"a formula-like cell: {cell!r}"


def test_export_page_is_escaped(admin_role_client, evil):
    parsed = assert_inert(get(admin_role_client, "/customers/export/", email=evil.email), "export")
    assert_shown(parsed, "export", f"Email “{evil.email}”")
    assert evil.email in attribute_values(parsed, "input", "value")


def test_export_csv_defuses_formulas_and_keeps_the_text(admin_role_client, evil):
    from customers_app.background import run_job
    from customers_app.models import BackgroundJob

    columns = list(EXPORT_COLUMNS)
    response = admin_role_client.post("/customers/export/", {"email": evil.email, "columns": columns})
    assert response.status_code == 302
    job = BackgroundJob.objects.get()
    run_job.call(str(job.pk))  # what the worker does
    html = get(admin_role_client, f"/jobs/run/{job.pk}/").content.decode()
    assert "Download the CSV file" in html, html
    rows = csv_rows(get(admin_role_client, f"/jobs/run/{job.pk}/download/"))
    header = rows[0]
    by_id = {row[header.index("Id")]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    assert set(by_id) == {evil.id, evil.twin["id"]}
    assert_no_formula(rows)
    twin = by_id[evil.twin["id"]]
    assert twin["Name"] == "'" + evil.twin["name"]
    assert twin["Source_id"] == "'" + evil.twin["source_id"]
    assert twin["Phone"] == "'" + evil.twin["phone"]
    assert twin["Description"] == "'" + evil.twin["description"]
    assert twin["Address_City"] == "'" + evil.twin["address"]["city"]
    assert twin["Address_line_1"] == "'" + evil.twin["address"]["line_1"]
    mine = by_id[evil.id]
    assert mine["Name"] == evil.customer["name"]  # text, exactly as stored: a CSV is not HTML
    assert mine["Address_line_1"] == SCRIPT


# Imported customers and their job --------------------------------------------------------------


def import_hostile_file(client, sandbox_server) -> tuple[str, str, str]:
    """Imports one hostile row and one rejected (unknown id) row; returns the job id and both source ids."""
    tag = uuid.uuid4().hex[:10]
    good = f"{SCRIPT}{IMG}{ATTR}-{tag}-ok"
    bad = f'=HYPERLINK("{JS_URL}","{SCRIPT}")-{tag}'
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(
        [
            ["Source_id", "Id", "Name", "Email", "Address_City", "Description"],
            [good, "", f"{SCRIPT} Imported {IMG}", f"imp.{tag}@example.com", f"{TEMPLATE} {tag}", f"{JS_URL} {ATTR}"],
            [bad, "cust_doesnotexist000000000", f"@{SCRIPT}", f"bad.{tag}@example.com", SVG, IMG],
        ]
    )
    response = upload(client, buffer.getvalue().encode(), f"{IMG}.csv")
    assert response.status_code == 302, response.content.decode()[:3000]
    # Mapping and preview show the file's headers and rows.
    for url in ("/customers/import/map/", "/customers/import/preview/"):
        parsed = assert_inert(get(client, url), url)
        if url.endswith("preview/"):
            assert_shown(parsed, url, good, f"{SCRIPT} Imported {IMG}")
    action_id = confirm(client)
    action = wait_for_action(sandbox_server, action_id)
    assert action["status"] == "DONE", action
    return action_id, good, bad


def test_import_preview_job_pages_and_imported_customer(admin_role_client, sandbox_server):
    action_id, good, bad = import_hostile_file(admin_role_client, sandbox_server)
    parsed = assert_inert(get(admin_role_client, "/jobs/"), "jobs")
    assert_shown(parsed, "jobs", f"{IMG}.csv")
    for htmx in (False, True):
        parsed = assert_inert(get(admin_role_client, f"/jobs/{action_id}/", htmx=htmx), f"job htmx={htmx}")
        assert_shown(parsed, "job", bad)
    # The imported customer's own page.
    imported = api_ok(sandbox_server.api("GET", f"/v1/customers/{quote(good, safe='')}"))
    parsed = assert_inert(get(admin_role_client, reverse("customers:detail", args=[imported["id"]])), "imported")
    assert_shown(parsed, "imported", good, f"{SCRIPT} Imported {IMG}", f"{JS_URL} {ATTR}")


def test_rejected_rows_download_defuses_formulas(admin_role_client, sandbox_server):
    action_id, _, bad = import_hostile_file(admin_role_client, sandbox_server)
    rows = csv_rows(get(admin_role_client, f"/jobs/{action_id}/rejected.csv"))
    assert rows[1][0] == "'" + bad  # the rejected row is there, defused
    assert_no_formula(rows)


# Ids reach the upstream path encoded --------------------------------------------------------------

AWKWARD_SOURCE_ID = "a/b?c=d&e#f+g@h i"
# What a source id that lost its encoding on the way to Voucherify would turn into.
DECOYS = ("a", "a/b", "a/b?c=d", "a/b?c=d&e", "a/b?c=d&e#f g@h i", "a/b?c=d&e#f+g@h+i", "a/b?c=d&e#f+g@h%20i")


def test_awkward_source_id_opens_the_right_customer_and_tabs(admin_role_client, sandbox_server):
    decoys = {}
    for decoy in DECOYS:
        decoys[decoy] = api_ok(sandbox_server.api("POST", "/v1/customers", json={"source_id": decoy, "name": "Decoy"}))
    customer = api_ok(
        sandbox_server.api("POST", "/v1/customers", json={"source_id": AWKWARD_SOURCE_ID, "name": "Awkward Ids"})
    )
    assert customer["source_id"] == AWKWARD_SOURCE_ID
    assert len({c["id"] for c in decoys.values()} | {customer["id"]}) == len(DECOYS) + 1
    wrong_ids = {c["id"] for c in decoys.values()}

    detail = reverse("customers:detail", args=[AWKWARD_SOURCE_ID])
    for url in (detail, "/customers/" + quote(AWKWARD_SOURCE_ID, safe="") + "/"):
        parsed = assert_inert(get(admin_role_client, url), url)
        assert attribute_values(parsed, "article", "data-customer-id") == [customer["id"]]
        assert_shown(parsed, url, "Awkward Ids", AWKWARD_SOURCE_ID)

    parsed = parse(get(admin_role_client, detail).content.decode())
    links = [attrs["href"] for tag, attrs in parsed.elements if tag == "a" and attrs.get("role") == "tab"]
    assert len(links) == len(TABS)
    for link in links:
        for htmx in (False, True):
            response = get(admin_role_client, link, htmx=htmx)
            text = response.content.decode()
            for wrong in wrong_ids:
                assert wrong not in text, f"{link}: shows decoy {wrong}"
            if "/activity/" in link:
                assert customer["id"] in text and "Customer created" in text
            if not htmx:
                assert f'data-customer-id="{customer["id"]}"' in text

    # Edit, delete and erase pages name the same customer too.
    for name in ("edit", "delete", "erase"):
        text = get(admin_role_client, reverse(f"customers:{name}", args=[AWKWARD_SOURCE_ID])).content.decode()
        assert "Awkward Ids" in text and not any(wrong in text for wrong in wrong_ids), name
    # And the sandbox agrees on who that is.
    path = "/v1/customers/" + quote(AWKWARD_SOURCE_ID, safe="")
    assert api_ok(sandbox_server.api("GET", path))["id"] == customer["id"]


def test_awkward_source_id_with_query_like_tab_parameters(admin_role_client, sandbox_server):
    """The tab's own query string (filters, cursor) is not confused with the id's "?" and "&"."""
    customer = api_ok(
        sandbox_server.api("POST", "/v1/customers", json={"source_id": AWKWARD_SOURCE_ID, "name": "Awkward Ids"})
    )
    url = reverse("customers:activity", args=[AWKWARD_SOURCE_ID]) + "?" + urlencode({"category": ""})
    text = get(admin_role_client, url, htmx=True).content.decode()
    assert customer["id"] in text
