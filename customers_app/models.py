"""The dashboard's own records. Customer data itself lives in Voucherify, never here."""

from __future__ import annotations

from django.db import models

from .roles import PERMISSIONS


class CustomerRecord(models.Model):
    """Holds the dashboard's permissions; it has no table (customers live in Voucherify)."""

    class Meta:
        managed = False
        default_permissions = ()
        permissions = list(PERMISSIONS.items())
