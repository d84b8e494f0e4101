"""Failed second steps count toward django-axes' lockout, exactly like failed passwords.

axes listens to Django's ``user_login_failed``; allauth reports a wrong code with its own
``authentication_failed`` signal, so this module passes one on as the other. The username is the
lockout key (with the address), whichever step failed.
"""

from __future__ import annotations

from allauth.mfa import signals as mfa_signals
from axes.handlers.proxy import AxesProxyHandler
from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver


def username_of(request, credentials: dict | None) -> str | None:
    """axes' username: from authenticate()'s credentials, else the login form's ``login`` field."""
    if credentials:
        return credentials.get("username") or credentials.get("login")
    data = getattr(request, "POST", None) or {}
    return data.get("login") or data.get("username")


def is_locked_out(request, user) -> bool:
    return not AxesProxyHandler.is_allowed(request, {"username": user.get_username()})


@receiver(mfa_signals.authentication_failed)
def _count_failed_second_step(sender, request, user, **kwargs) -> None:
    user_login_failed.send(
        sender=__name__,
        credentials={"username": user.get_username()},
        request=request,
    )
