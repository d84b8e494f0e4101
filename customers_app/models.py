"""The dashboard's own records. Customer data itself lives in Voucherify, never here."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from .roles import PERMISSIONS


class CustomerRecord(models.Model):
    """Holds the dashboard's permissions; it has no table (customers live in Voucherify)."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = list(PERMISSIONS.items())

    def __str__(self) -> str:
        return "customer permissions"


class Job(models.Model):
    """A background job started from the dashboard (an import or a bulk update) and who started it.

    Voucherify runs the job as an async action; this record keeps what Voucherify does not: the
    user, the file name and the rows that were sent (for the "rejected rows" download).
    """

    class Kind(models.TextChoices):
        IMPORT = "import", "CSV import"
        BULK_UPDATE = "bulk_update", "Bulk update"
        METADATA_UPDATE = "metadata_update", "Metadata update"

    async_action_id = models.CharField(max_length=64, unique=True)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="customer_jobs",
    )
    # Kept as text too, so the job list still says who it was after the user is removed.
    created_by_name = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    description = models.CharField(max_length=500, blank=True)
    file_name = models.CharField(max_length=255, blank=True)
    row_count = models.PositiveIntegerField(default=0)
    # The clean CSV sent to Voucherify, kept a week for the "rejected rows" download.
    sent_import_file = models.OneToOneField(
        "ImportFile",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="job",
        limit_choices_to={"kind": "sent"},
    )
    # Last status seen from Voucherify; the async action stays the source of truth.
    status = models.CharField(max_length=32, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.async_action_id}"


class ImportFile(models.Model):
    """A CSV file of the import wizard, kept in the database so any app server can read it.

    ``upload``: the file as uploaded, between the wizard's steps (deleted after 24 hours); its
    wizard state (encoding, separator, headers, mapping) is kept in ``state``. ``sent``: the clean
    file sent to Voucherify, linked from its Job for the rejected-rows download (deleted after 7
    days, or at once when a person in it is erased). Only ``owner`` may use an upload's token.
    """

    class Kind(models.TextChoices):
        UPLOAD = "upload", "Upload"
        SENT = "sent", "Sent to Voucherify"

    token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="import_files",
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    file_name = models.CharField(max_length=255, blank=True)
    size = models.PositiveIntegerField(default=0)
    content = models.BinaryField()
    state = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at", "-id"]
        default_permissions = ()
        indexes = [models.Index(fields=["kind", "created_at"], name="import_file_kind_created")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.file_name} ({self.size} bytes)"


# Audit trail and GDPR erasure --------------------------------------------------------------------


# Appended after the Job model by the audit/erasure feature; kept here to leave the lines above untouched.


class AuditEntryQuerySet(models.QuerySet):
    """Refuses bulk changes and deletes: the trail is append-only (see AuditEntry)."""

    def update(self, **kwargs):
        raise PermissionError("Audit entries cannot be changed.")

    def delete(self):
        raise PermissionError("Audit entries cannot be deleted.")


class AuditEntry(models.Model):
    """One write made through the dashboard (or an attempt at one): who, when, what, on which target.

    Append-only: ``save()`` refuses to change an existing row and ``delete()`` raises. The only
    sanctioned rewrite is the erasure scrub (``customers_app.audit.audit_scrub``), which blanks the
    personal values of an erased person's entries and keeps the action, actor, time and ids.
    """

    class Action(models.TextChoices):
        CREATE = "customer.create", "Create customer"
        EDIT = "customer.edit", "Edit customer"
        DELETE = "customer.delete", "Delete customer"
        ERASE = "customer.erase", "Erase customer (GDPR)"
        IMPORT = "customers.import", "CSV import"
        BULK_UPDATE = "customers.bulk_update", "Bulk update"
        GUARD_BLOCKED = "erasure_guard.blocked", "Re-creation of an erased person stopped"
        GUARD_OVERRIDE = "erasure_guard.override", "Re-creation guard overridden"
        PRIVACY_OPEN = "privacy.open", "Privacy request opened"
        PRIVACY_APPROVE = "privacy.approve", "Erasure approved"
        PRIVACY_REJECT = "privacy.reject", "Privacy request rejected"
        PRIVACY_ACCESS = "privacy.access", "Access request answered"
        DENIED = "access.denied", "Access denied"
        # Someone looked at customer data (a page, a tab, a search, a download): see view_records.py.
        VIEW = "access.view", "Viewed"
        # The Team page (team.py); a role set at single sign-on is recorded as ROLE_CHANGE too.
        ROLE_CHANGE = "user.role", "Role changed"
        DEACTIVATE = "user.deactivate", "User deactivated"
        SESSIONS_REVOKED = "user.sessions_revoked", "Sessions ended"

    class Outcome(models.TextChoices):
        SUCCESS = "success", "Success"
        FAILED = "failed", "Failed"
        DENIED = "denied", "Denied"

    created_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="audit_entries",
        editable=False,
    )
    # Kept as text too, so the trail still names the person after their account is removed.
    actor_name = models.CharField(max_length=150, blank=True, editable=False)
    action = models.CharField(max_length=40, choices=Action.choices, db_index=True, editable=False)
    # A Voucherify customer id, a job's async action id or, for denied attempts, the URL path.
    target_id = models.CharField(max_length=500, blank=True, db_index=True, editable=False)
    # Personal (a name or email shown next to the id): blanked when the person is erased.
    target_label = models.CharField(max_length=500, blank=True, editable=False)
    # {"field": {"before": ..., "after": ...}} or counts; values are blanked by the erasure scrub.
    changes = models.JSONField(default=dict, blank=True, editable=False)
    request_id = models.CharField(max_length=200, blank=True, editable=False)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.SUCCESS, editable=False)
    detail = models.TextField(blank=True, editable=False)
    scrubbed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # View records only: the client's address, and how many rows a search or download showed.
    address = models.GenericIPAddressField(null=True, blank=True, editable=False)
    rows = models.PositiveIntegerField(null=True, blank=True, editable=False)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        default_permissions = ()
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor_name or '-'} {self.action} {self.target_id}"

    def save(self, *args, **kwargs):
        scrub = kwargs.pop("_scrub", False)
        if self.pk is not None and not scrub:
            raise PermissionError("Audit entries cannot be changed once written.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Audit entries cannot be deleted.")


class ErasureRecord(models.Model):
    """The case file of one GDPR erasure request, kept as evidence; it holds no personal data of the
    erased person: only Voucherify ids, the counts Voucherify reported and who did it, when and why.
    """

    class Outcome(models.TextChoices):
        COMPLETED = "completed", "Completed"
        PARTIAL = "partial", "Partly completed"
        FAILED = "failed", "Failed"

    class Requester(models.TextChoices):
        DATA_SUBJECT = "data_subject", "The person themselves"
        REPRESENTATIVE = "representative", "Someone acting for them (lawyer, guardian, agent)"
        AUTHORITY = "authority", "A supervisory authority or court"
        INTERNAL = "internal", "Internal (our own decision or policy)"

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    erased_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="erasures",
    )
    erased_by_name = models.CharField(max_length=150, blank=True)
    reference = models.CharField(max_length=100, db_index=True)
    # Who asked, as a kind plus an optional reference into the ticketing system: never a name or
    # email, because the requester is usually the erased person themselves.
    requester = models.CharField(max_length=32, choices=Requester.choices)
    requester_reference = models.CharField(max_length=100, blank=True)
    reason = models.TextField()
    customer_ids = models.JSONField(default=list)
    # One per customer: {customer_id, deletion_id, status, counts, request_id, outcome, error}.
    receipts = models.JSONField(default=list)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)

    class Meta:
        ordering = ["-created_at", "-id"]
        default_permissions = ()

    def __str__(self) -> str:
        return f"Erasure {self.pk} ({self.reference})"


class ErasedIdentifier(models.Model):
    """A keyed hash (HMAC-SHA256 with SECRET_KEY) of an erased email or source id, for the re-creation
    guard: it can tell that a value was erased without storing or revealing the value.
    """

    class Kind(models.TextChoices):
        EMAIL = "email", "Email"
        SOURCE_ID = "source_id", "Source id"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    digest = models.CharField(max_length=64, db_index=True)
    erasure = models.ForeignKey(ErasureRecord, on_delete=models.PROTECT, related_name="identifiers")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        default_permissions = ()
        constraints = [models.UniqueConstraint(fields=["kind", "digest", "erasure"], name="erased_identifier_once")]

    def __str__(self) -> str:
        return f"{self.kind} {self.digest[:12]}…"


# The Voucherify API budget (customers_app.services.budget) -----------------------------------------


class BudgetSlot(models.Model):
    """Calls the deployment made (or saw others make) in one slot (1/60) of the rate-limit window."""

    pk = models.CompositePrimaryKey("slot", "kind")
    slot = models.BigIntegerField()
    kind = models.CharField(max_length=16)  # interactive, background or external
    calls = models.IntegerField(default=0)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"slot {self.slot} {self.kind}: {self.calls}"


class BudgetMeta(models.Model):
    """The one row of what the governor learned: the plan's limit and until when Voucherify said 429.

    ``touched`` is bumped by every booking so concurrent bookings queue on this row (PostgreSQL).
    """

    learned_limit = models.IntegerField(null=True)
    blocked_until = models.FloatField(null=True)  # Unix seconds
    touched = models.BigIntegerField(default=0)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"budget (limit {self.learned_limit}, blocked until {self.blocked_until})"


# Background jobs run by the dashboard's own workers (customers_app.background) -----------------------


class BackgroundJob(models.Model):
    """A long job the dashboard runs itself on Django's task framework (an export, a bulk update of
    every matching customer), with what the jobs page shows: progress, calls spent, who, and Cancel.

    ``checkpoint`` holds what a resumed run needs to carry on (the Voucherify export id, the cursor
    reached); ``lease_until`` is renewed while a worker runs it, so a job whose worker died can be
    told from one that is running and be resumed by another.
    """

    class Kind(models.TextChoices):
        EXPORT = "export", "CSV export"
        BULK_UPDATE = "bulk_update_all", "Bulk update of every match"
        ACCESS_PACK = "privacy_access", "Access request pack (GDPR)"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Done"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"

    FINISHED = (Status.SUCCEEDED, Status.FAILED, Status.CANCELLED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="background_jobs"
    )
    created_by_name = models.CharField(max_length=150, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    description = models.CharField(max_length=500, blank=True)
    # What to do (filters, columns, changes); personal values in it are blanked by an erasure.
    params = models.JSONField(default=dict, blank=True)
    checkpoint = models.JSONField(default=dict, blank=True)
    done = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(null=True, blank=True)
    calls_spent = models.PositiveIntegerField(default=0)
    calls_estimate = models.PositiveIntegerField(null=True, blank=True)
    # Per-step report for the job page: [{"label", "sent", "found", "failed", ...}].
    report = models.JSONField(default=list, blank=True)
    message = models.TextField(blank=True)  # the outcome, or why it failed, in plain words
    file_name = models.CharField(max_length=300, blank=True)  # in the dashboard's file storage
    file_size = models.PositiveBigIntegerField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    resumed = models.PositiveIntegerField(default=0)  # how often it was picked up after an interruption
    runner = models.CharField(max_length=100, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.id}"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def progress(self) -> int | None:
        if not self.total:
            return 100 if self.status == self.Status.SUCCEEDED else None
        return min(100, self.done * 100 // self.total)


# GDPR privacy requests as cases (customers_app.privacy) ---------------------------------------------


class PrivacyRequest(models.Model):
    """One GDPR request handled as a case: an access request (art. 15) or an erasure (art. 17).

    Like the erasure record it holds no personal data once it is closed. The identifier the admin
    typed (an email, id or source id) is needed to run the request, so it is kept in ``identifier``
    only while the case is open (or waiting for approval, or while its access pack is built) and
    blanked when the case is done or rejected; what stays is its keyed hash (``identifier_digest``,
    HMAC-SHA256 with SECRET_KEY, as the re-creation guard keeps) and, for an access request, the
    hashes of every email, id and source id found (``subject_digests``), so an erasure of the same
    person can find and delete the access pack without the case naming them. An erasure of that
    person also blanks the identifier of any of their cases still open.
    """

    class Kind(models.TextChoices):
        ACCESS = "access", "Access (art. 15)"
        ERASURE = "erasure", "Erasure (art. 17)"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        AWAITING_APPROVAL = "awaiting_approval", "Waiting for approval"
        DONE = "done", "Done"
        REJECTED = "rejected", "Rejected"

    class IdentifierKind(models.TextChoices):
        EMAIL = "email", "Email"
        ID = "id", "Voucherify customer id"
        SOURCE_ID = "source_id", "Source id"

    class Outcome(models.TextChoices):
        ERASED = "erased", "Erased"
        NOTHING_FOUND = "nothing_found", "Nothing found"
        PARTIAL = "partial", "Partly erased"
        FAILED = "failed", "Failed"
        DELIVERED = "delivered", "Pack ready"
        NO_RECORDS = "no_records", "No records held"

    OPEN_STATUSES = (Status.OPEN, Status.AWAITING_APPROVAL)

    reference = models.CharField(max_length=32, unique=True)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    requester = models.CharField(max_length=32, choices=ErasureRecord.Requester.choices)
    requester_reference = models.CharField(max_length=100, blank=True)
    reason = models.TextField(blank=True)
    received_on = models.DateField()
    due_on = models.DateField(db_index=True)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.OPEN, db_index=True)
    rejection_reason = models.TextField(blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, blank=True)
    identifier_kind = models.CharField(max_length=16, choices=IdentifierKind.choices)
    identifier = models.CharField(max_length=254, blank=True)  # blanked when the case closes
    identifier_digest = models.CharField(max_length=64, blank=True, db_index=True)
    subject_digests = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    prepared_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="privacy_prepared"
    )
    prepared_by_name = models.CharField(max_length=150, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="privacy_approved"
    )
    approved_by_name = models.CharField(max_length=150, blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    erasure = models.OneToOneField(
        ErasureRecord, null=True, blank=True, on_delete=models.PROTECT, related_name="privacy_request"
    )
    job = models.ForeignKey(
        "BackgroundJob", null=True, blank=True, on_delete=models.SET_NULL, related_name="privacy_requests"
    )
    # Access requests: what the pack held (counts only) and when it was ready; the pack itself is a
    # pair of files in the dashboard's storage, deleted after PRIVACY_FILE_DAYS or by an erasure.
    counts = models.JSONField(default=dict, blank=True)
    pack_files = models.JSONField(default=list, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    pack_deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["due_on", "-id"]
        default_permissions = ()

    def __str__(self) -> str:
        return f"Privacy request {self.reference} ({self.kind})"

    @property
    def is_open(self) -> bool:
        return self.status in self.OPEN_STATUSES
