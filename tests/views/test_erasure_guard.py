"""The re-creation guard: keyed hashes of erased emails and source ids stop an erased person coming back."""

from __future__ import annotations

import html

import pytest
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.signed_cookies import SessionStore
from django.test import RequestFactory, override_settings

from customers_app.erasure import erased_match, guard_check_rows, identifier_digest
from customers_app.management.commands.dashboard_user import set_user_role
from customers_app.models import AuditEntry, ErasedIdentifier, ErasureRecord
from customers_app.views.erasure import guard_override_reason, guard_response

pytestmark = pytest.mark.django_db


@pytest.fixture
def erased():
    """An erasure that removed pat@example.com with source id PAT-1, as the erase view stores it."""
    record = ErasureRecord.objects.create(
        reference="GDPR-7", requester="data_subject", reason="Art. 17", customer_ids=["cust_p"], outcome="completed"
    )
    for kind, value in (("email", "pat@example.com"), ("source_id", "PAT-1")):
        ErasedIdentifier.objects.create(kind=kind, digest=identifier_digest(value), erasure=record)
    return record


def test_digest_is_keyed_normalised_and_not_the_value():
    digest = identifier_digest("  Pat@Example.COM ")
    assert digest == identifier_digest("pat@example.com")
    assert len(digest) == 64 and "pat" not in digest
    with override_settings(SECRET_KEY="another-key-entirely-for-this-test-only-0123456789"):
        assert identifier_digest("pat@example.com") != digest


def test_erased_match_by_email_or_source_id(erased):
    assert erased_match(email="PAT@example.com ").erasure_id == erased.pk
    match = erased_match(source_id="pat-1")
    assert (match.matched, match.reference) == ("source_id", "GDPR-7")
    # Source ids are often emails: an erased email also matches as a source id.
    assert erased_match(source_id="pat@example.com") is not None
    assert erased_match(email="someone@example.com", source_id="X-2") is None
    assert erased_match() is None
    assert erased_match(email="", source_id="  ") is None


def test_guard_survives_a_secret_key_rotation(erased, settings):
    old_key = settings.SECRET_KEY
    settings.SECRET_KEY = "a-brand-new-secret-key-after-rotation-0123456789abcdef"
    settings.SECRET_KEY_FALLBACKS = [old_key]
    assert erased_match(email="pat@example.com") is not None


def test_guard_check_rows_names_the_rows(erased):
    rows = [
        {"Email": "fine@example.com", "Source_id": "OK-1"},
        {"Email": "Pat@Example.com", "Source_id": "NEW-1"},
        {"email": "", "source_id": "pat-1"},
        {"name": "no identifiers at all"},
    ]
    hits = guard_check_rows(rows, first_row=2)
    assert [(hit.row, hit.person.matched) for hit in hits] == [(3, "email"), (4, "source_id")]
    assert "permanently erased" in hits[0].message and "GDPR-7" in hits[0].message


def test_guard_check_rows_without_erasures_is_empty():
    assert guard_check_rows([{"email": "pat@example.com"}]) == []


def _post(user, data):
    request = RequestFactory().post("/customers/new/", data)
    request.user = user
    request.session = SessionStore()
    request._messages = FallbackStorage(request)
    request.htmx = False
    return request


def test_guard_stops_a_marketer_and_audits_it(erased):
    marketer, _ = set_user_role("mark", "marketer", "a-long-test-password")
    response = guard_response(_post(marketer, {"email": "pat@example.com", "name": "Pat"}), email="pat@example.com")
    assert response.status_code == 409
    page = html.unescape(response.content.decode())
    assert "permanently erased" in page and "GDPR-7" in page
    assert "Only an administrator can override this" in page
    assert "erasure_override_reason" not in page
    entry = AuditEntry.objects.get()
    assert (entry.action, entry.outcome, entry.actor_name) == ("erasure_guard.blocked", "denied", "mark")
    assert "pat" not in str(entry.changes) + entry.target_id + entry.target_label + entry.detail


def test_marketer_cannot_override_even_with_a_reason(erased):
    marketer, _ = set_user_role("mark", "marketer", "a-long-test-password")
    request = _post(marketer, {"email": "pat@example.com", "erasure_override_reason": "please"})
    assert guard_response(request, email="pat@example.com").status_code == 409
    assert guard_override_reason(request) == ""
    assert not AuditEntry.objects.filter(action="erasure_guard.override").exists()


def test_admin_sees_the_override_form_and_the_form_is_reposted(erased):
    admin, _ = set_user_role("ada", "admin", "a-long-test-password")
    request = _post(admin, {"email": "pat@example.com", "name": "Pat", "metadata-TOTAL_FORMS": "1"})
    response = guard_response(request, email="pat@example.com")
    assert response.status_code == 409
    page = html.unescape(response.content.decode())
    assert 'name="erasure_override_reason"' in page
    assert '<input type="hidden" name="name" value="Pat">' in page
    assert '<input type="hidden" name="metadata-TOTAL_FORMS" value="1">' in page
    assert "Bring them back anyway" in page


def test_admin_override_with_reason_lets_it_through_and_is_audited(erased):
    admin, _ = set_user_role("ada", "admin", "a-long-test-password")
    request = _post(admin, {"email": "pat@example.com", "erasure_override_reason": "Signed up again, ticket 4411"})
    assert guard_response(request, email="pat@example.com", target="customer.create") is None
    entry = AuditEntry.objects.get()
    assert entry.action == "erasure_guard.override" and entry.actor_name == "ada"
    assert "Signed up again, ticket 4411" in entry.detail
    assert entry.changes["erasure_id"] == erased.pk


def test_admin_override_with_an_empty_reason_is_refused(erased):
    admin, _ = set_user_role("ada", "admin", "a-long-test-password")
    request = _post(admin, {"email": "pat@example.com", "erasure_override_reason": "  "})
    response = guard_response(request, email="pat@example.com")
    assert response.status_code == 409
    assert "Give a reason to override the guard" in html.unescape(response.content.decode())


def test_nobody_erased_means_no_guard():
    admin, _ = set_user_role("ada", "admin", "a-long-test-password")
    assert guard_response(_post(admin, {}), email="new@example.com", source_id="NEW") is None
    assert not AuditEntry.objects.exists()
