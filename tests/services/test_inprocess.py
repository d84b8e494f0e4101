"""The in-process transport: requests served by a WSGI app in this thread, no socket involved."""

from __future__ import annotations

import json

import pytest
import requests

from customers_app.services.customers import (
    customer_create,
    customer_get,
    customer_list,
    customer_list_soon,
    customer_update,
)
from customers_app.services.inprocess import InProcessAdapter
from customers_app.services.voucherify import NotFound


def echo_app(environ, start_response):
    """A WSGI app that answers with what it was given."""
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    seen = {key: value for key, value in environ.items() if isinstance(value, str)}
    seen["body"] = body.decode("latin-1")
    start_response("201 Created", [("Content-Type", "application/json"), ("X-Request-Id", "v-echo")])
    return [json.dumps(seen).encode()]


def echo_session() -> requests.Session:
    session = requests.Session()
    session.mount("http://upstream.test:8123/", InProcessAdapter(echo_app))
    return session


def test_environ_carries_method_path_query_and_headers():
    response = echo_session().put(
        "http://upstream.test:8123/sandbox/v1/customers/a%2Fb%20c?email=x%40y.z&limit=5",
        json={"name": "Ann"},
        headers={"X-App-Id": "id-1"},
    )

    seen = response.json()
    assert response.status_code == 201
    assert response.reason == "Created"
    assert response.headers["X-Request-Id"] == "v-echo"
    assert response.url.endswith("limit=5")
    assert response.request.method == "PUT"
    assert seen["REQUEST_METHOD"] == "PUT"
    assert seen["PATH_INFO"] == "/sandbox/v1/customers/a/b c"
    assert seen["RAW_URI"] == "/sandbox/v1/customers/a%2Fb%20c?email=x%40y.z&limit=5"
    assert seen["QUERY_STRING"] == "email=x%40y.z&limit=5"
    assert seen["HTTP_X_APP_ID"] == "id-1"
    assert seen["HTTP_HOST"] == "upstream.test:8123"
    assert seen["SERVER_NAME"] == "upstream.test"
    assert seen["SERVER_PORT"] == "8123"
    assert seen["wsgi.url_scheme"] == "http"
    assert seen["CONTENT_TYPE"] == "application/json"
    assert json.loads(seen["body"]) == {"name": "Ann"}
    assert seen["CONTENT_LENGTH"] == str(len(seen["body"]))


def test_multipart_bodies_arrive_whole():
    response = echo_session().post(
        "http://upstream.test:8123/v1/customers/importCSV",
        files={"file": ("people.csv", b"Source_id\nabc\n", "text/csv")},
    )

    seen = response.json()
    assert seen["CONTENT_TYPE"].startswith("multipart/form-data; boundary=")
    assert 'filename="people.csv"' in seen["body"]
    assert "Source_id\nabc\n" in seen["body"]


@pytest.fixture
def in_process(settings):
    # A port nothing listens on: any real network call would fail.
    settings.VOUCHERIFY_API_URL = "http://127.0.0.1:9/sandbox"
    settings.VOUCHERIFY_IN_PROCESS = True


@pytest.mark.django_db(databases=["default", "sandbox"])
def test_a_customer_created_in_process_can_be_read_back(in_process):
    created = customer_create(data={"source_id": "in-process/1 ?&#", "name": "Local", "email": "local@example.com"})

    assert customer_get(customer_id="in-process/1 ?&#") == created
    assert customer_update(customer_id=created.id, changes={"name": "Changed"}).name == "Changed"
    assert created.id in {c.id for c in customer_list(email="local@example.com").customers}


@pytest.mark.django_db(databases=["default", "sandbox"])
def test_errors_come_through_the_in_process_transport(in_process):
    with pytest.raises(NotFound) as caught:
        customer_get(customer_id="cust_missing")

    assert caught.value.request_id


@pytest.mark.django_db(databases=["default", "sandbox"])
def test_a_list_sent_soon_is_answered_in_this_thread_inside_its_transaction(in_process):
    created = customer_create(data={"source_id": "in-process/soon", "email": "soon@example.com"})

    pending = customer_list_soon(email="soon@example.com")  # the sandbox answered already, in this test's transaction

    assert [c.id for c in pending.result().customers] == [created.id]
