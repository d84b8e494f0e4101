"""The second-step forms: allauth's, refusing a locked-out account before looking at the code."""

from __future__ import annotations

from allauth.core import context
from allauth.mfa.base.forms import AuthenticateForm, ReauthenticateForm
from django import forms
from django.conf import settings

from .lockout import is_locked_out


class _LockoutAware:
    def clean_code(self) -> str:
        if is_locked_out(context.request, self.user):
            minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
            raise forms.ValidationError(
                f"Too many failed attempts: this account is locked for {minutes} minutes.", code="locked"
            )
        return super().clean_code()


class SecondStepForm(_LockoutAware, AuthenticateForm):
    pass


class SecondStepReauthenticateForm(_LockoutAware, ReauthenticateForm):
    pass
