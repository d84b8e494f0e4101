"""Tables of the Voucherify sandbox: customers, segments, activity, redeemables, async actions, exports and
the rate-limit window."""

from __future__ import annotations

from django.db import models


class Customer(models.Model):
    """A customer; the ``*_lower`` columns back the case-insensitive (Unicode-aware) list filters."""

    id = models.CharField(primary_key=True, max_length=40)
    source_id = models.CharField(max_length=500, unique=True, null=True)
    name = models.CharField(max_length=500, null=True)
    name_lower = models.CharField(max_length=500, null=True)
    description = models.TextField(null=True)
    email = models.CharField(max_length=500, null=True)
    email_lower = models.CharField(max_length=500, null=True, db_index=True)
    phone = models.CharField(max_length=100, null=True)
    birthdate = models.DateField(null=True)
    address = models.JSONField(null=True)
    city_lower = models.CharField(max_length=200, null=True, db_index=True)
    metadata = models.JSONField(default=dict)
    system_metadata = models.JSONField(default=dict)
    summary = models.JSONField(null=True)
    loyalty = models.JSONField(null=True)
    referrals = models.JSONField(null=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        # One index per list order, holding the columns the range and name filters read as well: a
        # filtered page is then found by walking the index, reading a row only once it matches (a row
        # is ~2 KB, an index entry ~100 bytes). City pages come newest first from their own index.
        indexes = [
            models.Index(fields=["created_at", "id", "updated_at", "name_lower"], name="cust_created_cover"),
            models.Index(fields=["updated_at", "id", "created_at", "name_lower"], name="cust_updated_cover"),
            models.Index(
                fields=["source_id", "id", "created_at", "updated_at", "name_lower"], name="cust_source_cover"
            ),
            models.Index(fields=["city_lower", "created_at", "id"], name="cust_city_created_idx"),
        ]

    def __str__(self) -> str:
        return self.id


class Segment(models.Model):
    """A segment: ``static`` members are stored; ``auto-update`` members follow ``filter``."""

    STATIC = "static"
    AUTO_UPDATE = "auto-update"

    id = models.CharField(primary_key=True, max_length=40)
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=20)
    filter = models.JSONField(null=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    def __str__(self) -> str:
        return self.name


class SegmentMembership(models.Model):
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="memberships")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="memberships")
    created_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["segment", "customer"], name="uniq_segment_member")]
        indexes = [models.Index(fields=["customer", "segment"], name="member_customer_idx")]

    def __str__(self) -> str:
        return f"{self.segment_id} ∋ {self.customer_id}"


class CustomerEvent(models.Model):
    """One activity entry; ``customer_id`` is no foreign key so ``customer.deleted`` outlives the row.

    ``data`` is the event's own payload; the served ``event_source`` is added when serialising.
    """

    id = models.CharField(primary_key=True, max_length=40)
    customer_id = models.CharField(max_length=40)
    type = models.CharField(max_length=80)
    category = models.CharField(max_length=10, default="ACTION")
    campaign_id = models.CharField(max_length=40, null=True)
    campaign_type = models.CharField(max_length=30, null=True)
    data = models.JSONField(default=dict)
    group_id = models.CharField(max_length=40)
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["customer_id", "created_at", "id"], name="event_customer_idx")]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class RedeemableHolder(models.Model):
    """A voucher, gift card or loyalty card held by a customer; ``voucher`` is the served object."""

    id = models.CharField(primary_key=True, max_length=40)
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="redeemables")
    created_at = models.DateTimeField()
    redeemable_id = models.CharField(max_length=40)
    redeemable_object = models.CharField(max_length=20, default="voucher")
    holder_role = models.CharField(max_length=10, default="OWNER")
    campaign_id = models.CharField(max_length=40, null=True)
    campaign_type = models.CharField(max_length=30, null=True)
    voucher_type = models.CharField(max_length=30)
    status = models.CharField(max_length=20, default="ACTIVE")
    voucher = models.JSONField(default=dict)

    class Meta:
        indexes = [models.Index(fields=["customer", "id"], name="holder_customer_idx")]

    def __str__(self) -> str:
        return self.id


class AsyncAction(models.Model):
    ENQUEUED = "ENQUEUED"
    IN_PROGRESS = "IN_PROGRESS"
    DONE = "DONE"
    FAILED = "FAILED"

    id = models.CharField(primary_key=True, max_length=40)
    type = models.CharField(max_length=40)
    status = models.CharField(max_length=20, default=ENQUEUED)
    operation_status = models.CharField(max_length=20, default="UNKNOWN")
    progress = models.IntegerField(default=0)
    processing_time = models.IntegerField(default=0)
    request_id = models.CharField(max_length=40)
    payload = models.JSONField(default=dict)
    result = models.JSONField(null=True)
    # Which process runs it (``sandbox.background.RUNNER``), so a restart can tell orphans from live work.
    runner = models.CharField(max_length=200, default="")
    heartbeat_at = models.DateTimeField(null=True)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["created_at", "id"], name="aa_created_idx"),
            models.Index(fields=["status"], name="aa_status_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.id}"


class Export(models.Model):
    """An export (``POST /v1/exports``); the CSV itself is a file in the sandbox's export storage."""

    SCHEDULED = "SCHEDULED"
    IN_PROGRESS = "IN_PROGRESS"
    DONE = "DONE"
    ERROR = "ERROR"

    id = models.CharField(primary_key=True, max_length=40)
    exported_object = models.CharField(max_length=40)
    parameters = models.JSONField(default=dict)
    status = models.CharField(max_length=20, default=SCHEDULED)
    channel = models.CharField(max_length=20, default="API")
    # Secret of the download URL (``result.url``); compared in constant time.
    token = models.CharField(max_length=100)
    file_name = models.CharField(max_length=200, null=True)
    rows = models.IntegerField(null=True)
    error = models.TextField(null=True)
    runner = models.CharField(max_length=200, default="")
    heartbeat_at = models.DateTimeField(null=True)
    request_id = models.CharField(max_length=40)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["created_at", "id"], name="exp_created_idx"),
            models.Index(fields=["status"], name="exp_status_idx"),
        ]

    def __str__(self) -> str:
        return f"export {self.id}"


class RateLimitSlot(models.Model):
    """Calls of one application id in one slot (1/60 of the window) of the rolling rate-limit window."""

    pk = models.CompositePrimaryKey("app_id", "slot")
    app_id = models.CharField(max_length=200)
    slot = models.BigIntegerField()
    calls = models.IntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.app_id} slot {self.slot}: {self.calls}"
