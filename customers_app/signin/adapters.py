"""allauth adapters: the dashboard's accounts are staff accounts created by admins, never by sign-up."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        # Accounts come from `manage.py dashboard_user`, the Team page or single sign-on.
        return False

    def is_reauthentication_required(self, *, app: str, **kwargs) -> bool:
        # One rule for allauth's sensitive pages (adding a second factor, ...) and the dashboard's
        # dangerous actions: any authentication within REAUTH_SECONDS will do, a fresh login included.
        from .guards import recently_authenticated

        if self.request is not None and recently_authenticated(self.request):
            return False
        return super().is_reauthentication_required(app=app, **kwargs)
