"""Permission checks in one database query per request, with the same answers as Django's ModelBackend.

ModelBackend reads a user's permissions with two ORM queries (their own, their groups'), built anew
on every request: about 1.5 ms of a list page's CPU. ``OneQueryPermissionBackend`` reads both, and
the names of the user's groups, with one plain SQL query the first time a request asks, and leaves
them on the user object under ModelBackend's own cache attributes, so ModelBackend and allauth's
backend (listed after it) answer from the same sets. Nothing outlives the request's user object,
so a role changed on the Team page applies from the user's next request.

It only answers permission questions: ``authenticate()`` returns None and it has no ``get_user()``,
so signing in, ``force_login`` and existing sessions stay with ModelBackend and allauth as before.
"""

from __future__ import annotations

from functools import cache

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group, Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection

# ModelBackend's names for its per-request caches on the user object; set here, read by both.
USER_PERMS, GROUP_PERMS, ALL_PERMS = "_user_perm_cache", "_group_perm_cache", "_perm_cache"
GROUP_NAMES = "_dashboard_group_names"


@cache
def _permissions_sql() -> str:
    """The user's own permissions (group name NULL), then each of their groups' name with its
    permissions (NULLs for a group without any, so its name still comes back)."""
    q = connection.ops.quote_name
    user_model = get_user_model()
    user_perms, user_groups = user_model.user_permissions.through._meta, user_model.groups.through._meta
    group_perms = Group.permissions.through._meta

    def fk(meta, model) -> str:  # the through table's column pointing at ``model``
        return q(meta.get_field(model._meta.model_name).column)

    perm, group, content_type = (q(m._meta.db_table) for m in (Permission, Group, ContentType))
    permission_ct = q(Permission._meta.get_field("content_type").column)
    app_label, codename, name = q("app_label"), q("codename"), q("name")
    # Only table and column names are interpolated (from the models); the user id is a parameter.
    return (
        f"SELECT ct.{app_label}, p.{codename}, NULL FROM {q(user_perms.db_table)} up"  # noqa: S608
        f" JOIN {perm} p ON p.id = up.{fk(user_perms, Permission)}"
        f" JOIN {content_type} ct ON ct.id = p.{permission_ct}"
        f" WHERE up.{fk(user_perms, user_model)} = %s"
        " UNION ALL"
        f" SELECT ct.{app_label}, p.{codename}, g.{name} FROM {q(user_groups.db_table)} ug"
        f" JOIN {group} g ON g.id = ug.{fk(user_groups, Group)}"
        f" LEFT JOIN {q(group_perms.db_table)} gp ON gp.{fk(group_perms, Group)} = g.id"
        f" LEFT JOIN {perm} p ON p.id = gp.{fk(group_perms, Permission)}"
        f" LEFT JOIN {content_type} ct ON ct.id = p.{permission_ct}"
        f" WHERE ug.{fk(user_groups, user_model)} = %s"
    )


def _load(user_obj) -> None:
    """Fills the user object's permission caches and group names with one query."""
    with connection.cursor() as cursor:
        cursor.execute(_permissions_sql(), [user_obj.pk, user_obj.pk])
        rows = cursor.fetchall()
    own, from_groups, names = set(), set(), set()
    for app_label, codename, group_name in rows:
        if group_name is None:
            own.add(f"{app_label}.{codename}")
            continue
        names.add(group_name)
        if codename is not None:
            from_groups.add(f"{app_label}.{codename}")
    if user_obj.is_superuser:  # as ModelBackend: a superuser holds every permission, from both sources
        every = Permission.objects.values_list("content_type__app_label", "codename")
        own = from_groups = {f"{ct}.{name}" for ct, name in every}
    setattr(user_obj, USER_PERMS, own)
    setattr(user_obj, GROUP_PERMS, from_groups)
    setattr(user_obj, ALL_PERMS, own | from_groups)
    setattr(user_obj, GROUP_NAMES, frozenset(names))


def _counts(user_obj, obj) -> bool:
    """Whether the user has model permissions at all (ModelBackend's rule: active, signed in, no object)."""
    return user_obj.is_active and not user_obj.is_anonymous and obj is None


def _cached(user_obj, name: str):
    # roles.set_role() drops ModelBackend's caches of a user whose groups it changed: read them again then.
    if not (hasattr(user_obj, name) and hasattr(user_obj, ALL_PERMS)):
        _load(user_obj)
    return getattr(user_obj, name)


def group_names(user_obj) -> frozenset[str]:
    """The names of the user's groups, from the same query as their permissions (empty when signed out)."""
    if user_obj.is_anonymous:
        return frozenset()
    return _cached(user_obj, GROUP_NAMES)


class OneQueryPermissionBackend:
    """ModelBackend's permission answers from one query; lists before ModelBackend in AUTHENTICATION_BACKENDS."""

    def authenticate(self, request, **credentials):
        return None  # sign-in stays with ModelBackend and allauth (see the module docstring)

    def get_user_permissions(self, user_obj, obj=None) -> set[str]:
        return _cached(user_obj, USER_PERMS) if _counts(user_obj, obj) else set()

    def get_group_permissions(self, user_obj, obj=None) -> set[str]:
        return _cached(user_obj, GROUP_PERMS) if _counts(user_obj, obj) else set()

    def get_all_permissions(self, user_obj, obj=None) -> set[str]:
        return _cached(user_obj, ALL_PERMS) if _counts(user_obj, obj) else set()

    def has_perm(self, user_obj, perm: str, obj=None) -> bool:
        return perm in self.get_all_permissions(user_obj, obj)

    def has_module_perms(self, user_obj, app_label: str) -> bool:
        prefix = app_label + "."
        return any(perm.startswith(prefix) for perm in self.get_all_permissions(user_obj))
