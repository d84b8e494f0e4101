"""The search index's tables: one row per customer (only what search and the overview need), the ids
removed by the dashboard lately (so a sync page read just before a delete cannot bring the row back),
and the index's own state (watermark, freshness, the sync lease, the schedule)."""

from __future__ import annotations

from django.db import models


class IndexedCustomer(models.Model):
    """What the dashboard keeps of a customer for search: nothing beyond these fields.

    ``search_text`` is the folded text the engine searches (lower case, accents removed, phone digits
    alone as well); the engine-specific index over it (SQLite FTS5 trigram, PostgreSQL pg_trgm) is
    created by this app's migrations. ``doc`` is an integer key because SQLite's full-text table
    follows its rows by a stable integer (a text primary key's hidden rowid may change on VACUUM).
    Rows are written by ``search.index`` only (an upsert that never lets older data replace newer).
    """

    doc = models.BigAutoField(primary_key=True)
    customer_id = models.CharField(max_length=64, unique=True)
    source_id = models.CharField(max_length=500, null=True, blank=True)
    name = models.CharField(max_length=500, null=True, blank=True)
    email = models.CharField(max_length=500, null=True, blank=True)
    phone = models.CharField(max_length=100, null=True, blank=True)
    city = models.CharField(max_length=200, null=True, blank=True)
    country = models.CharField(max_length=200, null=True, blank=True)
    created_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(null=True, blank=True)
    search_text = models.TextField(default="")
    city_folded = models.CharField(max_length=200, default="", blank=True)
    # The last full load or reconciliation whose export held this customer (see SearchIndexState.sweep_run).
    seen = models.PositiveIntegerField(default=0)
    indexed_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["created_at", "customer_id"], name="search_created_idx"),
            models.Index(fields=["updated_at", "customer_id"], name="search_updated_idx"),
            models.Index(fields=["source_id", "customer_id"], name="search_source_idx"),
            models.Index(fields=["city_folded", "created_at"], name="search_city_idx"),
            models.Index(fields=["city_folded", "city"], name="search_city_name_idx"),  # the overview's top cities
            models.Index(fields=["country"], name="search_country_idx"),
        ]
        default_permissions = ()

    def __str__(self) -> str:
        return self.customer_id

    @property
    def id(self) -> str:
        """The Voucherify id, as on a ``Customer`` (templates link rows with ``row.id``)."""
        return self.customer_id


class RemovedCustomer(models.Model):
    """A customer the dashboard deleted or erased, for a day: a sync that read them just before is ignored."""

    customer_id = models.CharField(primary_key=True, max_length=64)
    removed_at = models.DateTimeField()

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return self.customer_id


class SearchIndexState(models.Model):
    """The one row of the index's state (``id=1``)."""

    ready = models.BooleanField(default=False)  # the first full load has finished
    customers = models.PositiveIntegerField(default=0)
    # The incremental pass asks for customers updated after this (and holds the ids seen at it).
    watermark = models.DateTimeField(null=True, blank=True)
    watermark_ids = models.JSONField(default=list, blank=True)
    full_load_started_at = models.DateTimeField(null=True, blank=True)
    full_load_finished_at = models.DateTimeField(null=True, blank=True)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_reconcile_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    calls_spent = models.PositiveBigIntegerField(default=0)
    last_pass = models.JSONField(default=dict, blank=True)  # what the last pass did: kind, rows, calls, seconds
    # An unfinished full load's Voucherify export, so a load interrupted by a restart picks it up again.
    load_export_id = models.CharField(max_length=100, blank=True)
    # Each full load and reconciliation marks the rows its export held with a new number; the rest go.
    sweep_run = models.PositiveIntegerField(default=0)
    # Only one sync at a time, whichever machine runs it.
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    # The schedule: the chain of sync tasks now alive, when its next pass is due, and when a pass
    # was last asked for out of turn (an import or bulk update finished) so a running pass goes again.
    chain = models.CharField(max_length=40, blank=True)
    next_sync_at = models.DateTimeField(null=True, blank=True)
    sync_requested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"search index ({self.customers} customers, ready={self.ready})"
