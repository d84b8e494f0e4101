"""Creating and editing customers against the sandbox over real HTTP: no upserts, no lost updates."""

from __future__ import annotations

import html
import json
import re
import uuid
from html.parser import HTMLParser

import pytest

from customers_app.customer_forms import CustomerForm, add_request_error
from customers_app.services.customers import customer_update
from customers_app.services.voucherify import RequestError

pytestmark = pytest.mark.django_db


class FormParser(HTMLParser):
    """What a browser would submit from the page's first POST form except log out (no button pressed)."""

    def __init__(self):
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self.in_form = False
        self.done = False
        self.select: str | None = None
        self.select_value: str | None = None
        self.first_option: str | None = None
        self.textarea: str | None = None
        self.text = ""

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if self.done:
            return
        is_post = (attrs.get("method") or "").lower() == "post"
        if tag == "form" and is_post and "logout" not in (attrs.get("action") or ""):
            self.in_form = True
        if not self.in_form:
            return
        name = attrs.get("name")
        if tag == "input" and name:
            kind = attrs.get("type", "text")
            if kind in ("checkbox", "radio") and "checked" not in attrs:
                return
            if kind in ("submit", "button"):
                return
            self.fields.append((name, attrs.get("value") or ("on" if kind == "checkbox" else "")))
        elif tag == "select" and name:
            self.select, self.select_value, self.first_option = name, None, None
        elif tag == "option" and self.select:
            if self.first_option is None:
                self.first_option = attrs.get("value", "")
            if "selected" in attrs:
                self.select_value = attrs.get("value", "")
        elif tag == "textarea" and name:
            self.textarea, self.text = name, ""

    def handle_data(self, data):
        if self.textarea:
            self.text += data

    def handle_endtag(self, tag):
        if tag == "select" and self.select:
            value = self.select_value if self.select_value is not None else self.first_option
            self.fields.append((self.select, value or ""))
            self.select = None
        elif tag == "textarea" and self.textarea:
            self.fields.append((self.textarea, self.text.removeprefix("\n")))
            self.textarea = None
        elif tag == "form" and self.in_form:
            self.in_form, self.done = False, True


def form_data(response) -> dict:
    parser = FormParser()
    parser.feed(response.content.decode())
    data: dict = {}
    for name, value in parser.fields:
        if name == "csrfmiddlewaretoken":
            continue
        data[name] = value
    return data


def new_customer(sandbox_server, **fields) -> dict:
    body = {"source_id": f"test-edit-{uuid.uuid4()}", **fields}
    response = sandbox_server.api("POST", "/v1/customers", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def api_customer(sandbox_server, customer_id: str) -> dict:
    return sandbox_server.api("GET", f"/v1/customers/{customer_id}").json()


def metadata_row(data: dict, key: str) -> int:
    for name, value in data.items():
        match = re.fullmatch(r"metadata-(\d+)-key", name)
        if match and value == key:
            return int(match.group(1))
    raise AssertionError(f"no metadata row {key}")


def messages_of(response) -> str:
    found = re.findall(r'<div class="flash[^"]*"[^>]*>\s*<span>(.*?)</span>', response.content.decode(), re.S)
    return html.unescape(" ".join(found))


# Edit --------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("use_sandbox_server")
def test_edit_form_shows_current_values_and_that_source_id_is_fixed(support_client, sandbox_server):
    customer = new_customer(
        sandbox_server, name="Grace Hopper", email="grace@example.com", address={"city": "Arlington"},
        metadata={"rank": "admiral", "ships": 3},
    )  # fmt: skip
    response = support_client.get(f"/customers/{customer['id']}/edit/")
    assert response.status_code == 200
    text = html.unescape(response.content.decode())
    for label in ("Name", "Email", "Phone", "Birthdate", "Description", "Address line 1", "Address line 2",
                  "City", "State", "Postal code", "Country"):  # fmt: skip
        assert re.search(rf"<label for=\"id_\w+\">{label}</label>", text), label
    assert "cannot change a customer's source id" in text
    assert 'name="source_id"' not in text
    data = form_data(response)
    assert data["name"] == "Grace Hopper" and data["city"] == "Arlington"
    assert {data["base"], data["fingerprint"], data["version"]} and data["version"] == customer["updated_at"]
    row = metadata_row(data, "ships")
    assert data[f"metadata-{row}-type"] == "number" and data[f"metadata-{row}-value"] == "3"
    assert "Save changes" in text


@pytest.mark.usefixtures("use_sandbox_server")
def test_edit_saves_the_change_and_redirects_to_the_customer(support_client, sandbox_server):
    customer = new_customer(sandbox_server, name="Before", phone="+1 555 0100", metadata={"a": 1})
    data = form_data(support_client.get(f"/customers/{customer['id']}/edit/"))
    data["name"] = "After"
    data["birthdate"] = "1990-04-23"
    data["postal_code"] = "00-950"
    response = support_client.post(f"/customers/{customer['id']}/edit/", data, follow=True)
    assert response.redirect_chain[-1][0] == f"/customers/{customer['id']}/"
    assert "Saved changes to Name, Birthdate and Postal code." in messages_of(response)
    saved = api_customer(sandbox_server, customer["id"])
    assert saved["name"] == "After"
    assert saved["birthdate"] == "1990-04-23"
    assert saved["address"]["postal_code"] == "00-950"
    assert saved["phone"] == "+1 555 0100" and saved["metadata"] == {"a": 1}


@pytest.mark.usefixtures("use_sandbox_server")
def test_metadata_editor_adds_changes_types_and_removes_keys(support_client, sandbox_server):
    customer = new_customer(sandbox_server, metadata={"keep": "x", "drop": "y", "count": 1})
    page = support_client.get(f"/customers/{customer['id']}/edit/")
    data = form_data(page)
    # "Add a key" without JavaScript: one more blank row, nothing saved.
    added = support_client.post(f"/customers/{customer['id']}/edit/", {**data, "add_metadata_row": "1"})
    assert added.status_code == 200
    data = form_data(added)
    assert int(data["metadata-TOTAL_FORMS"]) == 5
    data[f"metadata-{metadata_row(data, 'drop')}-DELETE"] = "on"
    data[f"metadata-{metadata_row(data, 'count')}-value"] = "2.5"
    data.update({"metadata-3-key": "vip", "metadata-3-type": "boolean", "metadata-3-value": "true"})
    data.update({"metadata-4-key": "since", "metadata-4-type": "date", "metadata-4-value": "2024-02-29"})
    response = support_client.post(f"/customers/{customer['id']}/edit/", data)
    assert response.status_code == 302, response.content.decode()
    assert api_customer(sandbox_server, customer["id"])["metadata"] == {
        "keep": "x", "count": 2.5, "vip": True, "since": "2024-02-29",
    }  # fmt: skip


@pytest.mark.usefixtures("use_sandbox_server")
def test_bad_input_is_reported_next_to_the_field_and_nothing_is_sent(support_client, sandbox_server):
    customer = new_customer(sandbox_server, name="Valid")
    data = form_data(support_client.get(f"/customers/{customer['id']}/edit/"))
    data.update(
        email="not-an-email", birthdate="23/04/1990", name="x" * 201,
        **{"metadata-0-key": "n", "metadata-0-type": "number", "metadata-0-value": "many"},
    )  # fmt: skip
    response = support_client.post(f"/customers/{customer['id']}/edit/", data)
    assert response.status_code == 400
    text = html.unescape(response.content.decode())
    assert "Enter a valid email address." in text
    assert "Enter the date as YYYY-MM-DD" in text
    assert "at most 200 characters" in text
    assert "“many” is not a number." in text
    assert 'role="alert" id="form-errors"' in text
    assert api_customer(sandbox_server, customer["id"])["updated_at"] == customer["updated_at"]


@pytest.mark.usefixtures("use_sandbox_server")
def test_an_unchanged_form_sends_nothing(support_client, sandbox_server):
    customer = new_customer(sandbox_server, name="Same", metadata={"nested": {"a": [1, 2]}, "flag": False})
    data = form_data(support_client.get(f"/customers/{customer['id']}/edit/"))
    response = support_client.post(f"/customers/{customer['id']}/edit/", data, follow=True)
    assert "Nothing to save" in messages_of(response)
    assert api_customer(sandbox_server, customer["id"])["updated_at"] == customer["updated_at"]


@pytest.mark.usefixtures("use_sandbox_server")
def test_an_old_odd_email_does_not_block_saving_other_fields(support_client, sandbox_server):
    customer = new_customer(sandbox_server, email="legacy at example", name="Old")
    data = form_data(support_client.get(f"/customers/{customer['id']}/edit/"))
    data["name"] = "New"
    assert support_client.post(f"/customers/{customer['id']}/edit/", data).status_code == 302
    assert api_customer(sandbox_server, customer["id"])["email"] == "legacy at example"


@pytest.mark.usefixtures("use_sandbox_server")
def test_a_change_made_meanwhile_to_another_field_is_kept(support_client, sandbox_server):
    customer = new_customer(sandbox_server, name="Original", phone="111", metadata={"a": "1"})
    data = form_data(support_client.get(f"/customers/{customer['id']}/edit/"))
    # A colleague saves first: another field, and a new metadata key.
    meanwhile = {"phone": "222", "metadata": {"a": "1", "b": "2"}}
    sandbox_server.api("PUT", f"/v1/customers/{customer['id']}", json=meanwhile)
    data["name"] = "Mine"
    response = support_client.post(f"/customers/{customer['id']}/edit/", data, follow=True)
    assert response.redirect_chain[-1][0] == f"/customers/{customer['id']}/"
    message = messages_of(response)
    assert "Saved your changes to Name." in message
    assert "Someone else changed Phone and Metadata: b while you were editing; their changes were kept." in message
    saved = api_customer(sandbox_server, customer["id"])
    assert (saved["name"], saved["phone"], saved["metadata"]) == ("Mine", "222", {"a": "1", "b": "2"})


@pytest.mark.usefixtures("use_sandbox_server")
def test_a_conflicting_change_shows_both_versions_and_lets_the_user_choose(support_client, sandbox_server):
    customer = new_customer(sandbox_server, name="Original", email="o@example.com", description="old", phone="1")
    data = form_data(support_client.get(f"/customers/{customer['id']}/edit/"))
    sandbox_server.api("PUT", f"/v1/customers/{customer['id']}", json={"name": "Theirs", "description": "theirs"})
    data.update(name="Mine", description="mine", phone="2")
    response = support_client.post(f"/customers/{customer['id']}/edit/", data)
    assert response.status_code == 409
    text = html.unescape(response.content.decode())
    assert "Someone else changed this customer while you were editing" in text
    name_row = re.search(r'<tr data-field="name">(.*?)</tr>', text, re.S).group(1)
    assert "Original" in name_row and "Theirs" in name_row and "Mine" in name_row
    assert '<tr data-field="description">' in text
    # The non-conflicting change is applied at once; the conflicting ones wait for a choice.
    assert "Already saved: your other changes" in text and "Phone" in text
    now = api_customer(sandbox_server, customer["id"])
    assert (now["name"], now["description"], now["phone"]) == ("Theirs", "theirs", "2")

    choice = form_data(response)
    fields = re.findall(r'<tr data-field="(\w+)">', text)
    choice[f"choice_{fields.index('name')}"] = "mine"
    choice[f"choice_{fields.index('description')}"] = "theirs"
    resolved = support_client.post(f"/customers/{customer['id']}/edit/", choice, follow=True)
    assert resolved.redirect_chain[-1][0] == f"/customers/{customer['id']}/"
    assert "Saved changes to Name." in messages_of(resolved)
    final = api_customer(sandbox_server, customer["id"])
    assert (final["name"], final["description"], final["phone"]) == ("Mine", "theirs", "2")


@pytest.mark.usefixtures("use_sandbox_server")
def test_resolving_a_conflict_checks_again_for_newer_changes(support_client, sandbox_server):
    customer = new_customer(sandbox_server, name="Original")
    data = form_data(support_client.get(f"/customers/{customer['id']}/edit/"))
    sandbox_server.api("PUT", f"/v1/customers/{customer['id']}", json={"name": "Second"})
    data["name"] = "Mine"
    conflict = support_client.post(f"/customers/{customer['id']}/edit/", data)
    assert conflict.status_code == 409
    sandbox_server.api("PUT", f"/v1/customers/{customer['id']}", json={"name": "Third"})
    choice = form_data(conflict) | {"choice_0": "mine"}
    again = support_client.post(f"/customers/{customer['id']}/edit/", choice)
    assert again.status_code == 409
    assert "Third" in again.content.decode()
    assert api_customer(sandbox_server, customer["id"])["name"] == "Third"


@pytest.mark.usefixtures("use_sandbox_server")
def test_a_tampered_form_is_not_saved(support_client, sandbox_server):
    customer = new_customer(sandbox_server, name="Safe")
    data = form_data(support_client.get(f"/customers/{customer['id']}/edit/"))
    data.update(base=data["base"][:-2] + "xx", name="Hacked")
    response = support_client.post(f"/customers/{customer['id']}/edit/", data)
    assert response.status_code == 302
    assert api_customer(sandbox_server, customer["id"])["name"] == "Safe"


@pytest.mark.usefixtures("use_sandbox_server")
def test_editing_an_unknown_customer_is_a_404(support_client):
    assert support_client.get("/customers/cust_doesnotexist000000000000/edit/").status_code == 404


@pytest.mark.usefixtures("use_sandbox_server")
def test_edit_is_forbidden_without_the_change_permission(login_as, sandbox_server):
    customer = new_customer(sandbox_server, name="Protected")
    client = login_as("marketer")
    assert client.get(f"/customers/{customer['id']}/edit/").status_code == 403
    assert client.post(f"/customers/{customer['id']}/edit/", {"name": "x"}).status_code == 403
    assert api_customer(sandbox_server, customer["id"])["name"] == "Protected"


# Create ------------------------------------------------------------------------------------------


def create_data(**fields) -> dict:
    data = {"metadata-TOTAL_FORMS": "1", "metadata-INITIAL_FORMS": "0", "metadata-0-type": "text"}
    return data | fields


@pytest.mark.usefixtures("use_sandbox_server")
def test_create_form_has_every_field_and_says_what_the_button_does(marketer_client):
    response = marketer_client.get("/customers/new/")
    assert response.status_code == 200
    text = response.content.decode()
    assert '<label for="id_source_id">Source id</label>' in text
    assert "cannot be changed later" in text
    assert "Create customer</button>" in text


@pytest.mark.usefixtures("use_sandbox_server")
def test_create_makes_the_customer_and_lands_on_its_page(marketer_client, sandbox_server):
    source_id = f"test-create-{uuid.uuid4()}"
    email = f"{uuid.uuid4().hex}@example.com"
    data = create_data(
        source_id=source_id, name="New Person", email=email, city="Krakow", birthdate="2000-01-31",
        **{"metadata-0-key": "plan", "metadata-0-type": "text", "metadata-0-value": "pro"},
    )  # fmt: skip
    response = marketer_client.post("/customers/new/", data, follow=True)
    created = api_customer(sandbox_server, source_id)
    assert response.redirect_chain[-1][0] == f"/customers/{created['id']}/"
    assert "Created customer New Person." in messages_of(response)
    assert created["email"] == email and created["address"] == {"city": "Krakow"}
    assert created["metadata"] == {"plan": "pro"} and created["birthdate"] == "2000-01-31"


@pytest.mark.usefixtures("use_sandbox_server")
def test_create_with_an_existing_source_id_offers_the_existing_customer_and_changes_nothing(
    marketer_client, sandbox_server
):
    existing = new_customer(sandbox_server, name="Existing")
    response = marketer_client.post("/customers/new/", create_data(source_id=existing["source_id"], name="Impostor"))
    assert response.status_code == 409
    text = html.unescape(response.content.decode())
    assert f"A customer with source id “{existing['source_id']}” already exists" in text
    assert f'href="/customers/{existing["id"]}/"' in text
    assert "Create a new customer anyway" not in text
    # Even a forged "create anyway" is refused for a source id.
    forged = create_data(source_id=existing["source_id"], name="Impostor", confirm_duplicate_email="1")
    assert marketer_client.post("/customers/new/", forged).status_code == 409
    assert api_customer(sandbox_server, existing["id"])["name"] == "Existing"


@pytest.mark.usefixtures("use_sandbox_server")
def test_create_with_an_existing_email_lists_them_and_allows_create_anyway(marketer_client, sandbox_server):
    email = f"{uuid.uuid4().hex}@example.com"
    existing = new_customer(sandbox_server, name="First", email=email)
    source_id = f"test-create-{uuid.uuid4()}"
    response = marketer_client.post("/customers/new/", create_data(source_id=source_id, name="Second", email=email))
    assert response.status_code == 409
    text = html.unescape(response.content.decode())
    assert f"1 customer already uses “{email}”" in text
    assert f'href="/customers/{existing["id"]}/"' in text
    assert "Create a new customer anyway" in text
    assert sandbox_server.api("GET", f"/v1/customers/{source_id}").status_code == 404

    anyway = form_data(response)
    assert anyway["confirm_duplicate_email"] == "1" and anyway["source_id"] == source_id
    created = marketer_client.post("/customers/new/", anyway)
    assert created.status_code == 302
    same_email = sandbox_server.api("GET", "/v1/customers", params={"email": email}).json()["customers"]
    assert sorted(c["name"] for c in same_email) == ["First", "Second"]


@pytest.mark.usefixtures("use_sandbox_server")
def test_create_is_forbidden_without_the_add_permission(support_client, sandbox_server):
    source_id = f"test-create-{uuid.uuid4()}"
    assert support_client.get("/customers/new/").status_code == 403
    assert support_client.post("/customers/new/", create_data(source_id=source_id)).status_code == 403
    assert sandbox_server.api("GET", f"/v1/customers/{source_id}").status_code == 404


@pytest.mark.usefixtures("use_sandbox_server")
def test_create_with_markup_in_the_name_renders_escaped(marketer_client, sandbox_server):
    source_id = f"test-create-{uuid.uuid4()}"
    response = marketer_client.post(
        "/customers/new/", create_data(source_id=source_id, name="<script>alert(1)</script>"), follow=True
    )
    text = response.content.decode()
    assert "<script>alert(1)</script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


# Voucherify 400s -----------------------------------------------------------------------------------


@pytest.mark.usefixtures("use_sandbox_server")
def test_a_real_sandbox_400_maps_onto_the_field_it_names(sandbox_server):
    customer = new_customer(sandbox_server)
    with pytest.raises(RequestError) as caught:
        customer_update(customer_id=customer["id"], changes={"birthdate": "31/12/2000"})
    form = CustomerForm(data={"birthdate": "2000-12-31"})
    assert form.is_valid()
    assert add_request_error(form, caught.value) == "birthdate"
    assert caught.value.request_id and caught.value.request_id in form.errors["birthdate"][0]


def test_unrecognised_400_becomes_a_form_error_with_the_request_id():
    form = CustomerForm(data={})
    assert form.is_valid()
    error = RequestError("Invalid payload", status=400, key="invalid_payload", details="Something odd",
                         request_id="v-abc123")  # fmt: skip
    assert add_request_error(form, error) is None
    assert "Something odd (request v-abc123)" in form.non_field_errors()[0]


def test_address_400_maps_to_the_address_part_not_a_similar_name():
    form = CustomerForm(data={})
    assert form.is_valid()
    error = RequestError("Invalid customer", status=400, details="address.city must be a string", request_id="v-1")
    assert add_request_error(form, error) == "city"


@pytest.fixture
def upstream(settings, httpserver):
    """A Voucherify stand-in that records what the dashboard sends and refuses on cue."""
    settings.VOUCHERIFY_API_URL = httpserver.url_for("").rstrip("/")
    settings.VOUCHERIFY_APP_ID = "app-id"
    settings.VOUCHERIFY_APP_TOKEN = "app-token"
    settings.VOUCHERIFY_IN_PROCESS = False
    return httpserver


STORED = {
    "id": "cust_stored", "source_id": "stored", "name": "Stored", "email": "s@example.com", "phone": "1",
    "address": {"city": "Oslo", "country": "NO"}, "metadata": {"m": 1},
    "created_at": "2024-01-01T00:00:00.000Z", "updated_at": "2024-01-02T00:00:00.000Z",
    "summary": None, "loyalty": None, "referrals": None, "object": "customer",
}  # fmt: skip


def test_only_changed_fields_are_sent(upstream, support_client):
    upstream.expect_request("/v1/customers/cust_stored", method="GET").respond_with_json(STORED)
    upstream.expect_request("/v1/customers/cust_stored", method="PUT").respond_with_json(STORED)
    data = form_data(support_client.get("/customers/cust_stored/edit/"))
    data["city"] = "Bergen"
    data["email"] = ""
    assert support_client.post("/customers/cust_stored/edit/", data).status_code == 302
    puts = [request for request, _ in upstream.log if request.method == "PUT"]
    assert len(puts) == 1
    assert json.loads(puts[0].data) == {"email": None, "address": {"city": "Bergen"}}


def test_a_voucherify_400_on_save_shows_on_the_field_with_the_request_id(upstream, support_client):
    upstream.expect_request("/v1/customers/cust_stored", method="GET").respond_with_json(STORED)
    upstream.expect_request("/v1/customers/cust_stored", method="PUT").respond_with_json(
        {"code": 400, "key": "invalid_customer", "message": "Invalid customer",
         "details": "phone must be a valid phone number", "request_id": "v-0feedc0ffee"},
        status=400,
    )  # fmt: skip
    data = form_data(support_client.get("/customers/cust_stored/edit/"))
    data["phone"] = "12"
    response = support_client.post("/customers/cust_stored/edit/", data)
    assert response.status_code == 400
    text = html.unescape(response.content.decode())
    field_error = re.search(r'<small class="field-error" id="id_phone_error">(.*?)</small>', text)
    assert field_error and "phone must be a valid phone number" in field_error.group(1)
    assert "v-0feedc0ffee" in field_error.group(1)


def test_a_voucherify_400_on_create_shows_on_the_form(upstream, marketer_client):
    upstream.expect_request("/v1/customers/new-one", method="GET").respond_with_json(
        {"code": 404, "key": "not_found", "message": "Resource not found", "request_id": "v-1"}, status=404
    )
    upstream.expect_request("/v1/customers", method="POST").respond_with_json(
        {"code": 400, "key": "invalid_payload", "message": "Invalid payload", "details": "Quota exceeded",
         "request_id": "v-0123abc"},
        status=400,
    )  # fmt: skip
    response = marketer_client.post("/customers/new/", create_data(source_id="new-one", name="X"))
    assert response.status_code == 400
    text = html.unescape(response.content.decode())
    assert "Voucherify rejected this: Quota exceeded (request v-0123abc)" in text
