"""Sandbox test helpers: an authenticated in-process client, a contract checker and job polling."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import pytest
from django.test import Client
from openapi_core import OpenAPI
from openapi_core.testing import MockRequest, MockResponse
from openapi_schema_validator import OAS30Validator

CONTRACTS = Path(__file__).resolve().parents[2] / "sandbox" / "contract"
CONTRACT = CONTRACTS / "customers-openapi.json"
# Voucherify's per-tag Exports file as published: voucherifyio/voucherify-openapi@65c33a7ab438,
# documentation/openapi/exports.json, unpatched (also in its info.x-extracted-from).
EXPORTS_CONTRACT = CONTRACTS / "exports-openapi.json"
HOST = "http://sandbox.test"

AUTH = {"HTTP_X_APP_ID": "sandbox-app-id", "HTTP_X_APP_TOKEN": "sandbox-app-token"}


def _one_of_as_any_of(node):
    """The contract's ``oneOf`` lists (activity data, async action results) hold overlapping schemas
    with no required fields, so a valid document matches several of them; validate them as ``anyOf``."""
    if isinstance(node, dict):
        return {("anyOf" if k == "oneOf" else k): _one_of_as_any_of(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_one_of_as_any_of(v) for v in node]
    return node


class Contract:
    """One of the OpenAPI files in ``sandbox/contract/``, for checking in-process responses."""

    def __init__(self, path: Path = CONTRACT):
        spec = _one_of_as_any_of(json.loads(path.read_text()))
        spec["servers"] = [{"url": HOST}]
        self.spec = spec
        self.openapi = OpenAPI.from_dict(copy.deepcopy(spec))
        self.error_validator = OAS30Validator(spec["components"]["schemas"]["Error"])

    def check(self, method: str, pattern: str, response) -> None:
        """Validates a Django test response against the operation ``method pattern``.

        Statuses the operation does not declare (most 400/401/405s) must still be Voucherify errors.
        """
        declared = self.spec["paths"][pattern][method.lower()]["responses"]
        status = str(response.status_code)
        if status not in declared:
            assert response["Content-Type"] == "application/json"
            self.error_validator.validate(response.json())
            assert response.json()["code"] == response.status_code
            return
        request = MockRequest(HOST, method.lower(), pattern, path_pattern=pattern)
        content_type = response.get("Content-Type", "application/json")
        if response.streaming:
            content = response.getvalue()
            response.streaming_content = [content]  # still readable by the test
        else:
            content = response.content
        self.openapi.validate_response(request, MockResponse(content, response.status_code, content_type=content_type))


@pytest.fixture(scope="session")
def contract() -> Contract:
    return Contract()


@pytest.fixture(scope="session")
def exports_contract() -> Contract:
    return Contract(EXPORTS_CONTRACT)


@pytest.fixture
def api() -> Client:
    """A test client sending the sandbox credentials."""
    return Client(**AUTH)


@pytest.fixture
def seeded():
    """A small seeded sandbox (segments, activity, redeemables) for in-process tests."""
    from sandbox.seed import seed

    seed(40)


@pytest.fixture
def wait_for_action(api):
    """Polls an async action until it is DONE or FAILED and returns it."""

    def wait(action_id: str, timeout: float = 15) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            body = api.get(f"/sandbox/v1/async-actions/{action_id}").json()
            if body["status"] in ("DONE", "FAILED") or time.monotonic() > deadline:
                return body
            time.sleep(0.05)

    return wait
