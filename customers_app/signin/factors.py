"""Second factors set up outside the browser: the sandbox demo's admin, and break-glass accounts."""

from __future__ import annotations

from allauth.mfa.models import Authenticator
from allauth.mfa.recovery_codes.internal.auth import RecoveryCodes
from allauth.mfa.totp.internal.auth import TOTP
from allauth.mfa.utils import decrypt
from django.db import transaction


@transaction.atomic
def enrol_totp(user, secret: str) -> None:
    """Gives ``user`` an authenticator app with this base32 secret (and recovery codes); idempotent."""
    current = Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).first()
    if current is not None and decrypt(current.data["secret"]) == secret:
        return
    if current is not None:
        current.delete()
    TOTP.activate(user, secret)
    RecoveryCodes.activate(user)
