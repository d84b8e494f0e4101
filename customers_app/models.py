"""The dashboard's own records. Customer data itself lives in Voucherify, never here."""

from __future__ import annotations

from django.conf import settings
from django.db import models

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
    # The clean CSV sent to Voucherify (relative to the uploads directory), for rejected rows.
    sent_file = models.CharField(max_length=255, blank=True)
    # Last status seen from Voucherify; the async action stays the source of truth.
    status = models.CharField(max_length=32, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        default_permissions = ()

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.async_action_id}"
