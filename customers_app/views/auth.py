"""Login-related pages that Django's auth views do not provide."""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import render


def locked_out_view(request, original_response=None, credentials=None):
    """Tells someone whose account is locked after repeated failed logins how long to wait."""
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return render(request, "registration/locked_out.html", {"minutes": minutes}, status=429)
