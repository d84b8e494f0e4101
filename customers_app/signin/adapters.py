"""allauth adapters: the dashboard's accounts are staff accounts created by admins, never by sign-up."""

from __future__ import annotations

from allauth.account.adapter import DefaultAccountAdapter


class AccountAdapter(DefaultAccountAdapter):
    def is_open_for_signup(self, request) -> bool:
        # Accounts come from `manage.py dashboard_user`, the Team page or single sign-on.
        return False
