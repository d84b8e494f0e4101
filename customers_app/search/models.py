"""The search index's tables: one row per customer (only what search and the overview need) and the
index's own state (watermark, freshness, the sync lease)."""

from __future__ import annotations

from django.db import models


class IndexedCustomer(models.Model):
    """What the dashboard keeps of a customer for search: nothing beyond these fields.

    ``search_text`` is the folded text the engine searches (lower case, accents removed, phone digits
    alone as well); the engine-specific index over it (SQLite FTS5 trigram, PostgreSQL pg_trgm) is
    created by this app's migrations.
    """

    id = models.CharField(primary_key=True, max_length=64)
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
    indexed_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["created_at", "id"], name="search_created_idx"),
            models.Index(fields=["updated_at", "id"], name="search_updated_idx"),
            models.Index(fields=["city_folded", "created_at"], name="search_city_idx"),
            models.Index(fields=["country"], name="search_country_idx"),
        ]
        default_permissions = ()

    def __str__(self) -> str:
        return self.id


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
    calls_spent = models.PositiveBigIntegerField(default=0)
    # Only one sync at a time, whichever machine runs it.
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        default_permissions = ()

    def __str__(self) -> str:
        return f"search index ({self.customers} customers, ready={self.ready})"
