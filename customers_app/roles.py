"""The dashboard's three roles, as Django groups with explicit permissions.

Permissions live on ``customers_app.CustomerRecord``, a model without a table: customer data stays in
Voucherify, but Django's permission and group machinery still needs something to hang them on.
"""

from __future__ import annotations

from django.contrib.auth.models import Group, Permission

from .auth_backend import group_names

VIEW = "view_customer"
CHANGE = "change_customer"
ADD = "add_customer"
IMPORT = "import_customers"
BULK_UPDATE = "bulk_update_customers"
EXPORT = "export_customers"
DELETE = "delete_customer"
ERASE = "erase_customer"
VIEW_AUDIT = "view_audit"
MANAGE_TEAM = "manage_team"

PERMISSIONS = {
    VIEW: "Can view customers",
    CHANGE: "Can edit customers",
    ADD: "Can create customers",
    IMPORT: "Can import customers from CSV",
    BULK_UPDATE: "Can bulk-update customers",
    EXPORT: "Can export customers",
    DELETE: "Can delete customers",
    ERASE: "Can permanently erase customers (GDPR)",
    VIEW_AUDIT: "Can view the audit trail",
    MANAGE_TEAM: "Can manage the team: roles, deactivation, sessions",
}

ROLE_GROUPS = {
    "support": ("Support", [VIEW, CHANGE]),
    "marketer": ("Marketing", [VIEW, ADD, IMPORT, BULK_UPDATE, EXPORT]),
    "admin": ("Admin", list(PERMISSIONS)),
}


# What only someone with a second factor may do (customers_app.signin enforces it on those pages).
SECOND_FACTOR_PERMISSIONS = {DELETE, ERASE, BULK_UPDATE, VIEW_AUDIT}


def role_needs_second_factor(role: str) -> bool:
    """Whether the role may do something that needs a second factor (delete, erase, bulk update, audit)."""
    return bool(SECOND_FACTOR_PERMISSIONS & set(ROLE_GROUPS[role][1]))


def perm(codename: str) -> str:
    """The full permission name for ``user.has_perm``."""
    return f"customers_app.{codename}"


def sync_role_groups() -> None:
    """Creates the groups and sets exactly their permissions; safe to run repeatedly."""
    by_codename = {
        p.codename: p
        for p in Permission.objects.filter(content_type__app_label="customers_app", codename__in=PERMISSIONS)
    }
    for group_name, codenames in ROLE_GROUPS.values():
        group, _ = Group.objects.get_or_create(name=group_name)
        group.permissions.set([by_codename[c] for c in codenames])


def role_key_from_group_names(names) -> str:
    """The role key these group names give, or ""; with several, the most powerful (ROLE_GROUPS rises)."""
    names = set(names)
    return next((key for key in reversed(ROLE_GROUPS) if ROLE_GROUPS[key][0] in names), "")


def role_key_of(user) -> str:
    """The user's role key (support, marketer, admin) or "" without one; read once per request."""
    cached = getattr(user, "_dashboard_role_key", None)
    if cached is None:
        # The group names come with the permissions query (one query per request for both).
        cached = role_key_from_group_names(group_names(user) if user.is_authenticated else [])
        user._dashboard_role_key = cached
    return cached


def set_role(user, role: str) -> None:
    """Leaves ``user`` in exactly the dashboard group of ``role`` ("" for none); other groups stay."""
    sync_role_groups()
    user.groups.remove(*Group.objects.filter(name__in=[name for name, _ in ROLE_GROUPS.values()]))
    if role:
        user.groups.add(Group.objects.get(name=ROLE_GROUPS[role][0]))
    for cached in ("_dashboard_role_key", "_perm_cache", "_user_perm_cache", "_group_perm_cache"):
        user.__dict__.pop(cached, None)


def role_of(user) -> str:
    """The user's role for display: the name of their dashboard group, if any."""
    key = role_key_of(user)
    if key:
        return ROLE_GROUPS[key][0]
    return "Superuser" if user.is_superuser else "No role"
