"""The team: who uses the dashboard, with which role, how they sign in, and their sessions; the admin's changes.

Every change (a role, a deactivation, ended sessions) is audited. Two rules keep the dashboard governable:
an admin cannot take away their own admin role or deactivate themselves, and the last active admin
stays one. With ``OIDC_ROLE_MAP`` set, single sign-on users get their role from the provider at every
login, so a manual change would be undone at their next login: it is refused here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from allauth.mfa.models import Authenticator
from allauth.socialaccount.models import SocialAccount
from allauth.usersessions.models import UserSession
from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Exists, OuterRef

from .audit import Action, audit_record
from .roles import ROLE_GROUPS, role_key_from_group_names, set_role

ADMIN = "admin"
# The factors that count as a second factor (recovery codes only back them up), as in signin.guards.
SECOND_FACTOR_TYPES = (Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN)


class TeamChangeRefused(Exception):
    """A change the rules above do not allow; the message says why, for the admin to read."""


@dataclass(frozen=True)
class TeamMember:
    """One user as the Team page shows them."""

    user: object
    role_key: str
    uses_sso: bool
    uses_password: bool
    has_second_factor: bool
    sessions: tuple[UserSession, ...]

    @property
    def id(self) -> int:
        return self.user.pk

    @property
    def username(self) -> str:
        return self.user.get_username()

    @property
    def is_active(self) -> bool:
        return self.user.is_active

    @property
    def last_login(self) -> datetime | None:
        return self.user.last_login

    @property
    def role(self) -> str:
        if self.role_key:
            return ROLE_GROUPS[self.role_key][0]
        return "Superuser" if self.user.is_superuser else "No role"

    @property
    def sign_in(self) -> str:
        methods = [name for name, used in (("Single sign-on", self.uses_sso), ("Password", self.uses_password)) if used]
        return " and ".join(methods) or "None"

    @property
    def session_count(self) -> int:
        return len(self.sessions)

    @property
    def role_from_provider(self) -> bool:
        return bool(settings.OIDC_ROLE_MAP) and self.uses_sso


def role_choices() -> list[tuple[str, str]]:
    """The roles an admin may give, "" (no role) first."""
    return [("", "No role"), *((key, name) for key, (name, _) in ROLE_GROUPS.items())]


def _users():
    return (
        get_user_model()
        .objects.annotate(
            has_sso=Exists(SocialAccount.objects.filter(user=OuterRef("pk"))),
            has_factor=Exists(Authenticator.objects.filter(user=OuterRef("pk"), type__in=SECOND_FACTOR_TYPES)),
        )
        .prefetch_related("groups")
    )


def active_sessions(user) -> list[UserSession]:
    """The user's sessions that can still be used, oldest first; sessions that have ended are dropped."""
    return sorted(UserSession.objects.purge_and_list(user), key=lambda session: session.created_at)


def _member(user) -> TeamMember:
    return TeamMember(
        user=user,
        role_key=role_key_from_group_names(group.name for group in user.groups.all()),
        uses_sso=user.has_sso,
        uses_password=user.has_usable_password(),
        has_second_factor=user.has_factor,
        sessions=tuple(active_sessions(user)),
    )


def team_members() -> list[TeamMember]:
    """Everyone with an account, active ones first, then by username."""
    return [_member(user) for user in _users().order_by("-is_active", "username")]


def team_member(user_id: int) -> TeamMember | None:
    user = _users().filter(pk=user_id).first()
    return _member(user) if user is not None else None


def _other_active_admins(user) -> bool:
    admins = get_user_model().objects.filter(is_active=True, groups__name=ROLE_GROUPS[ADMIN][0])
    # Lock the admins, then count afresh (PostgreSQL; SQLite serialises writes anyway), so two admins
    # demoting each other at the same moment cannot leave the dashboard with none.
    list(admins.select_for_update().values_list("pk", flat=True))
    return admins.exclude(pk=user.pk).exists()


def _refuse_losing_an_admin(actor, member: TeamMember, *, what: str) -> None:
    """Refuses ``what`` (taking away the admin role, deactivating) for oneself and for the last admin."""
    if member.role_key != ADMIN:
        return
    if member.id == actor.pk:
        raise TeamChangeRefused(f"You cannot {what} yourself: ask another admin to do it.")
    if not _other_active_admins(member.user):
        raise TeamChangeRefused(f"{member.username} is the last active admin: make someone else an admin first.")


def _target(member: TeamMember) -> dict[str, str]:
    return {"target_id": f"user:{member.id}", "target_label": member.username}


@transaction.atomic
def change_role(*, actor, member: TeamMember, role: str) -> bool:
    """Gives ``member`` exactly ``role`` ("" for none); False when they already had it."""
    if role and role not in ROLE_GROUPS:
        raise TeamChangeRefused(f"There is no role {role!r}.")
    if member.role_from_provider:
        raise TeamChangeRefused(
            f"{member.username} signs in with single sign-on, which sets their role from the company's "
            "groups at every login. Change their groups at the identity provider instead."
        )
    if member.role_key == role:
        return False
    if member.role_key == ADMIN:
        _refuse_losing_an_admin(actor, member, what="remove the admin role from")
    set_role(member.user, role)
    audit_record(
        actor=actor,
        action=Action.ROLE_CHANGE,
        **_target(member),
        changes={"role": {"before": member.role_key or None, "after": role or None}},
        detail="Set on the Team page",
    )
    return True


def _end_sessions(user, *, keep_session_key: str = "") -> int:
    ended = 0
    for session in UserSession.objects.filter(user_id=user.pk):
        if session.session_key == keep_session_key:
            continue
        session.end()
        ended += 1
    return ended


@transaction.atomic
def deactivate(*, actor, member: TeamMember) -> int:
    """Stops ``member`` from signing in and ends their sessions; returns how many sessions ended."""
    if not member.is_active:
        raise TeamChangeRefused(f"{member.username} is already deactivated.")
    if member.id == actor.pk:
        raise TeamChangeRefused("You cannot deactivate yourself: ask another admin to do it.")
    _refuse_losing_an_admin(actor, member, what="deactivate")
    member.user.is_active = False
    member.user.save(update_fields=["is_active"])
    ended = _end_sessions(member.user)
    audit_record(
        actor=actor,
        action=Action.DEACTIVATE,
        **_target(member),
        changes={"active": {"before": True, "after": False}, "sessions_ended": ended},
    )
    return ended


@transaction.atomic
def revoke_sessions(*, actor, member: TeamMember) -> int:
    """Signs ``member`` out of every browser; returns how many sessions ended."""
    if member.id == actor.pk:
        raise TeamChangeRefused("To end your own sessions, use Sessions in your account pages.")
    ended = _end_sessions(member.user)
    audit_record(actor=actor, action=Action.SESSIONS_REVOKED, **_target(member), changes={"sessions_ended": ended})
    return ended


@transaction.atomic
def end_own_sessions(user, *, keep_session_key: str = "") -> int:
    """Ends all of ``user``'s sessions (but ``keep_session_key``), audited as their own; returns how many."""
    ended = _end_sessions(user, keep_session_key=keep_session_key)
    audit_record(
        actor=user,
        action=Action.SESSIONS_REVOKED,
        target_id=f"user:{user.pk}",
        target_label=user.get_username(),
        changes={"sessions_ended": ended},
        detail="Logged out everywhere",
    )
    return ended


class RoleForm(forms.Form):
    role = forms.ChoiceField(label="Role", choices=role_choices, required=False)
