"""Single sign-on (OpenID Connect through allauth): who an SSO login becomes, and the role it brings.

- New people are signed up on their first login, with no form: the username is their
  ``preferred_username`` (else the start of their email), made unique, so an SSO login never takes
  over a local (break-glass) account of the same name; accounts are linked by the provider's ``sub``.
- With ``OIDC_ROLE_MAP`` set, the role is read from the ``OIDC_ROLE_CLAIM`` claim at every login and
  replaces the one held: leaving a group at the provider removes the role at the next login. Several
  mapped groups give the most powerful of their roles (admin > marketer > support), the same rule
  ``roles.role_key_of`` reads roles with. Every change is audited.
- Without a map the provider says nothing about roles: admins give them in the dashboard.
"""

from __future__ import annotations

import logging

from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction

from customers_app.audit import audit_record
from customers_app.roles import ROLE_GROUPS, role_key_of, sync_role_groups

logger = logging.getLogger("customers_app.signin")

# The audit action of a role set by single sign-on; see the report to the lead about a shared Action.
ROLE_CHANGE_ACTION = "user.role"


def sso_claims(sociallogin) -> dict:
    """The claims of this login: userinfo when the dashboard fetched it, else the ID token's."""
    extra = sociallogin.account.extra_data or {}
    return extra.get("userinfo") or extra.get("id_token") or extra


def claimed_groups(claims: dict) -> set[str]:
    """The group names in ``OIDC_ROLE_CLAIM``: a list, or one string (space or comma separated)."""
    value = claims.get(settings.OIDC_ROLE_CLAIM)
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    if not isinstance(value, list | tuple):
        return set()
    return {str(item) for item in value}


def role_from_groups(groups: set[str]) -> str:
    """The most powerful role ``OIDC_ROLE_MAP`` gives these groups, or "" for none."""
    granted = {role for role, role_groups in settings.OIDC_ROLE_MAP.items() if groups & set(role_groups)}
    return next((role for role in reversed(ROLE_GROUPS) if role in granted), "")


def apply_role(user, role: str) -> None:
    """Leaves ``user`` in exactly the dashboard group of ``role`` ("" for none), like ``dashboard_user``."""
    sync_role_groups()
    role_group_names = [name for name, _ in ROLE_GROUPS.values()]
    user.groups.remove(*Group.objects.filter(name__in=role_group_names))
    if role:
        user.groups.add(Group.objects.get(name=ROLE_GROUPS[role][0]))
    user.__dict__.pop("_dashboard_role_key", None)


def sync_role_from_provider(user, sociallogin) -> None:
    """Sets the role the provider's groups give (only with ``OIDC_ROLE_MAP``), auditing a change."""
    if not settings.OIDC_ROLE_MAP:
        return
    before = role_key_of(user)
    after = role_from_groups(claimed_groups(sso_claims(sociallogin)))
    if before == after:
        return
    with transaction.atomic():
        apply_role(user, after)
        audit_record(
            actor=user,
            action=ROLE_CHANGE_ACTION,
            target_id=f"user:{user.pk}",
            target_label=user.get_username(),
            changes={"role": {"before": before or None, "after": after or None}},
            detail=f"Set at single sign-on from the {settings.OIDC_ROLE_CLAIM!r} claim",
        )
    logger.info("Single sign-on set the role of user %s: %s -> %s", user.pk, before or "none", after or "none")


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """allauth's hooks for SSO logins: open sign-up without a form, unique usernames, roles."""

    def is_open_for_signup(self, request, sociallogin) -> bool:
        # Password accounts come from admins only (AccountAdapter); whoever the company's provider
        # vouches for may have an account, which holds no role until the map or an admin gives one.
        return True

    def is_auto_signup_allowed(self, request, sociallogin) -> bool:
        return True  # the sign-up form is not offered (accounts/3rdparty/signup/ is a 404)

    def populate_user(self, request, sociallogin, data):
        user = super().populate_user(request, sociallogin, data)
        email = data.get("email") or ""
        wanted = [data.get("username"), email.partition("@")[0], "user"]
        user.username = get_account_adapter(request).generate_unique_username(wanted)
        return user

    def save_user(self, request, sociallogin, form=None):
        user = super().save_user(request, sociallogin, form)
        sync_role_from_provider(user, sociallogin)
        return user

    def pre_social_login(self, request, sociallogin) -> None:
        super().pre_social_login(request, sociallogin)
        if sociallogin.is_existing:
            sync_role_from_provider(sociallogin.user, sociallogin)
