"""The erasure's last sweep: entries, sessions and job records naming the person without their ids are
blanked, a bystander sharing a first name is not, and sign-in survives."""

from __future__ import annotations

import pytest
from django.contrib.sessions.backends.db import SessionStore

from customers_app.audit import audit_record
from customers_app.models import AuditEntry, Job
from customers_app.no_trace import leave_no_trace

pytestmark = pytest.mark.django_db

EMAIL, NAME, PHONE = "Ada.Lovegood@Example.org", "Ada Lovegood", "+44 7700 900123"


def test_the_sweep_blanks_what_names_the_person_and_nothing_else(admin_role_client):
    changes = {"email": {"before": None, "after": EMAIL}, "phone": {"before": None, "after": PHONE}}
    failed = audit_record(actor=None, action=AuditEntry.Action.CREATE, outcome="failed", changes=changes)
    url = "/customers/export/?email=ada.lovegood%40example.org"
    denied = audit_record(actor=None, action=AuditEntry.Action.DENIED, target_id=url, detail="GET refused")
    bystander = audit_record(actor=None, action=AuditEntry.Action.EDIT, target_id="cust_1", target_label="Ada Smith")
    stored = admin_role_client.session
    stored["customer_list_query"] = "email=Ada.Lovegood%40Example.org&city=Oxford"  # as the list keeps it
    stored.save()
    job = Job.objects.create(async_action_id="aa_1", kind=Job.Kind.IMPORT, description="Import from ada-lovegood.csv",
                             file_name=f"{NAME}.csv")  # fmt: skip

    done = leave_no_trace(emails=[EMAIL], names=[NAME], phones=[PHONE], source_ids=["7"])

    assert done["audit_entries"] == 2 and done["sessions"] == 1
    failed.refresh_from_db()
    assert failed.changes == {"email": {"before": "[erased]", "after": "[erased]"},
                              "phone": {"before": "[erased]", "after": "[erased]"}}  # fmt: skip
    denied.refresh_from_db()
    assert denied.target_id == "/customers/export/" and denied.detail == "GET refused"
    bystander.refresh_from_db()
    assert bystander.target_label == "Ada Smith" and bystander.scrubbed_at is None
    job.refresh_from_db()
    assert job.file_name == "(erased)" and job.description == "Import from ada-lovegood.csv"
    session = SessionStore(session_key=admin_role_client.session.session_key).load()
    assert "customer_list_query" not in session and "_auth_user_id" in session
    assert admin_role_client.get("/erasures/").status_code == 200  # still signed in
