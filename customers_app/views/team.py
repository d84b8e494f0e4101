"""The Team page: admins see who uses the dashboard and change roles, deactivate people and end sessions.

Each change has a page of its own (GET) that shows whom it is about, and a POST that acts; the POSTs
need a recent sign-in (``dangerous_action``), and a role change interrupted by one comes back filled in.
Everyone may also end all of their own sessions ("Log out everywhere", linked from their Sessions page).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.decorators import permission_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import team
from ..roles import MANAGE_TEAM, perm
from ..signin.guards import dangerous_action, resumed_post
from ..signin.no_access import has_dashboard_access


def _member_or_404(user_id: int) -> team.TeamMember:
    member = team.team_member(user_id)
    if member is None:
        raise Http404("No such user.")
    return member


def _context(request: HttpRequest, member: team.TeamMember, **extra) -> dict:
    return {"member": member, "is_me": member.id == request.user.pk, "nav": "team", **extra}


def _sessions_ended(count: int) -> str:
    return f"{count} session{'' if count == 1 else 's'} ended"


@permission_required(perm(MANAGE_TEAM), raise_exception=True)
@require_GET
def team_list_view(request: HttpRequest) -> HttpResponse:
    """Lets an admin see everyone with an account: role, how they sign in, second factor, last login, sessions."""
    context = {
        "members": team.team_members(),
        "roles_from_provider": bool(settings.OIDC_ROLE_MAP),
        "nav": "team",
    }
    return render(request, "team/list.html", context)


@permission_required(perm(MANAGE_TEAM), raise_exception=True)
@require_http_methods(["GET", "POST"])
@dangerous_action
def team_role_view(request: HttpRequest, user_id: int) -> HttpResponse:
    """Lets an admin give someone a different role (or none); single sign-on may own the role instead."""
    member = _member_or_404(user_id)
    if request.method == "GET":
        # Back from a step-up: the role they had chosen, to confirm once more.
        form = team.RoleForm(resumed_post(request) or None, initial={"role": member.role_key})
        return render(request, "team/role.html", _context(request, member, form=form))

    form = team.RoleForm(request.POST)
    if form.is_valid():
        role = form.cleaned_data["role"]
        try:
            changed = team.change_role(actor=request.user, member=member, role=role)
        except team.TeamChangeRefused as exc:
            form.add_error(None, str(exc))
        else:
            new_role = dict(team.role_choices())[role]
            if changed:
                messages.success(request, f"{member.username} now has the role {new_role}.")
            else:
                messages.info(request, f"{member.username} already had the role {new_role}.")
            return redirect("customers:team")
    return render(request, "team/role.html", _context(request, member, form=form), status=400)


def _confirmed_action(request: HttpRequest, user_id: int, *, template: str, act, done: str) -> HttpResponse:
    """A Team action without a form: GET shows whom it is about, POST does ``act`` and says ``done``
    (formatted with ``member`` and ``ended``, the sessions it ended)."""
    member = _member_or_404(user_id)
    if request.method == "GET":
        resumed_post(request)  # back from a step-up: nothing to fill in, the page asks again
        return render(request, template, _context(request, member))
    try:
        ended = act(actor=request.user, member=member)
    except team.TeamChangeRefused as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done.format(member=member, ended=_sessions_ended(ended)))
    return redirect("customers:team")


@permission_required(perm(MANAGE_TEAM), raise_exception=True)
@require_http_methods(["GET", "POST"])
@dangerous_action
def team_deactivate_view(request: HttpRequest, user_id: int) -> HttpResponse:
    """Lets an admin stop someone from signing in at all, ending their sessions at once."""
    return _confirmed_action(
        request, user_id, template="team/deactivate.html", act=team.deactivate,
        done="{member.username} can no longer sign in ({ended}).",
    )  # fmt: skip


@permission_required(perm(MANAGE_TEAM), raise_exception=True)
@require_http_methods(["GET", "POST"])
@dangerous_action
def team_sessions_revoke_view(request: HttpRequest, user_id: int) -> HttpResponse:
    """Lets an admin sign someone out of every browser (a lost laptop); they can sign in again."""
    return _confirmed_action(
        request, user_id, template="team/revoke_sessions.html", act=team.revoke_sessions,
        done="{member.username} is signed out everywhere ({ended}).",
    )  # fmt: skip


@require_POST
def sessions_end_all_view(request: HttpRequest) -> HttpResponse:
    """Lets anyone with a role end every one of their sessions, this one too ("Log out everywhere")."""
    if not has_dashboard_access(request.user):
        raise PermissionDenied
    team.end_own_sessions(request.user)
    logout(request)
    messages.success(request, "You are logged out everywhere: every browser you used has to sign in again.")
    return redirect("account_login")
