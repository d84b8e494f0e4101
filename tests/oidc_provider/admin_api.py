"""The tests' remote control of the provider: users and their groups, clients, the tamper switch.

JSON in, JSON out, and only with ``Authorization: Bearer <OIDC_PROVIDER_ADMIN_TOKEN>``.
"""

from __future__ import annotations

import hmac
import json

from django.conf import settings
from django.contrib.auth.models import Group, User
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from oauth2_provider.models import Application

from .validator import TAMPER_MODES


def _admin_endpoint(view):
    @csrf_exempt
    @require_POST
    def wrapped(request: HttpRequest, *args, **kwargs):
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not settings.ADMIN_TOKEN or not hmac.compare_digest(given, settings.ADMIN_TOKEN):
            return JsonResponse({"error": "admin token required"}, status=401)
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return JsonResponse({"error": "the body must be JSON"}, status=400)
        return view(request, body, *args, **kwargs)

    return wrapped


def _set_groups(user: User, names: list[str]) -> None:
    user.groups.set([Group.objects.get_or_create(name=name)[0] for name in names])


@_admin_endpoint
def user_save(request, body):
    """Creates or updates a user: username, password, email, name, groups."""
    user, created = User.objects.get_or_create(username=body["username"])
    if "password" in body:
        user.set_password(body["password"])
    user.email = body.get("email", user.email)
    first, _, last = body.get("name", "").partition(" ")
    user.first_name, user.last_name = first, last
    user.save()
    if "groups" in body:
        _set_groups(user, body["groups"])
    return JsonResponse({"username": user.username, "sub": str(user.pk), "created": created})


@_admin_endpoint
def user_groups(request, body, username: str):
    """Replaces a user's groups."""
    user = User.objects.get(username=username)
    _set_groups(user, body["groups"])
    return JsonResponse({"username": username, "groups": sorted(body["groups"])})


@_admin_endpoint
def client_save(request, body):
    """Registers (or updates) a confidential client: client_id, client_secret, redirect_uris."""
    app = Application.objects.filter(client_id=body["client_id"]).first() or Application(client_id=body["client_id"])
    app.client_secret = body["client_secret"]
    app.redirect_uris = " ".join(body["redirect_uris"])
    app.client_type = Application.CLIENT_CONFIDENTIAL
    app.authorization_grant_type = Application.GRANT_AUTHORIZATION_CODE
    app.algorithm = Application.RS256_ALGORITHM
    app.skip_authorization = True
    app.name = body.get("name", body["client_id"])
    app.save()
    return JsonResponse({"client_id": app.client_id})


@_admin_endpoint
def tamper(request, body):
    """Sets how the next ID tokens are spoiled ("" puts things right); see TAMPER_MODES."""
    mode = body.get("mode", "")
    if mode not in TAMPER_MODES:
        return JsonResponse({"error": f"unknown mode {mode!r}", "modes": TAMPER_MODES}, status=400)
    settings.TAMPER_PATH.write_text(mode)
    return JsonResponse({"mode": mode})
