"""Guards for dangerous actions: a second factor enrolled, and a recent authentication (step-up).

Erase, delete, bulk update, import confirm and role changes are wrapped in ``dangerous_action``:

- Whoever opens such a page must have a second factor; until they enrol, GET and POST alike are sent
  to enrolment (the server refuses the action, not only the link).
- A POST needs an authentication (password, second factor or a fresh single sign-on) within the last
  ``REAUTH_SECONDS``. An older session is asked again; what the user had typed is kept in the session
  and ``resumed_post`` gives it back to the form when they land on it again, so they confirm it once
  more instead of the action being replayed behind their back.
"""

from __future__ import annotations

import time
from functools import wraps
from urllib.parse import urlencode

from allauth.account.adapter import get_adapter as get_account_adapter
from allauth.account.signals import authentication_step_completed
from allauth.mfa.models import Authenticator
from django.conf import settings
from django.contrib import messages
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, QueryDict
from django.urls import reverse

# When the session last proved who it is (Unix seconds): set at every completed authentication step.
AUTHENTICATED_AT_KEY = "signin_authenticated_at"
_STASH_KEY = "signin_step_up_post"


@receiver(authentication_step_completed)
def _remember_authentication(sender, request, user, method, **kwargs) -> None:
    request.session[AUTHENTICATED_AT_KEY] = time.time()


def mark_authenticated(session) -> None:
    """Records that the session's user authenticated just now (used by logins that bypass allauth)."""
    session[AUTHENTICATED_AT_KEY] = time.time()


def has_second_factor(user) -> bool:
    cached = getattr(user, "_dashboard_has_second_factor", None)
    if cached is None:
        cached = Authenticator.objects.filter(
            user_id=user.pk, type__in=[Authenticator.Type.TOTP, Authenticator.Type.WEBAUTHN]
        ).exists()
        user._dashboard_has_second_factor = cached
    return cached


def recently_authenticated(request: HttpRequest) -> bool:
    at = request.session.get(AUTHENTICATED_AT_KEY)
    return at is not None and time.time() - float(at) < settings.REAUTH_SECONDS


def resumed_post(request: HttpRequest) -> QueryDict | None:
    """The form data a step-up interrupted on this page, once (then it is gone), or None."""
    stash = request.session.get(_STASH_KEY)
    if not stash or stash.get("path") != request.path:
        return None
    del request.session[_STASH_KEY]
    data = QueryDict(mutable=True)
    for name, values in stash["data"].items():
        data.setlist(name, values)
    return data


def _redirect(request: HttpRequest, url: str) -> HttpResponse:
    if getattr(request, "htmx", False):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = url
        return response
    return HttpResponseRedirect(url)


def reauthentication_url(request: HttpRequest, next_url: str) -> str:
    methods = get_account_adapter(request).get_reauthentication_methods(request.user)
    if methods:
        return f"{methods[0]['url']}?{urlencode({'next': next_url})}"
    # Single sign-on only (no password, no second factor here): a fresh login at the provider.
    login = reverse("openid_connect_login", kwargs={"provider_id": "oidc"})
    return f"{login}?{urlencode({'process': 'login', 'next': next_url})}"


def step_up(request: HttpRequest, return_to: str) -> HttpResponse:
    """Keeps the posted form for ``return_to`` and sends the user to prove who they are again."""
    data = {name: request.POST.getlist(name) for name in request.POST if name != "csrfmiddlewaretoken"}
    request.session[_STASH_KEY] = {"path": return_to.split("?")[0], "data": data}
    messages.info(request, "Please confirm it is you: this action needs a sign-in from the last few minutes.")
    return _redirect(request, reauthentication_url(request, return_to))


def _enrolment_page(request: HttpRequest) -> HttpResponse:
    messages.warning(request, "This page needs a second factor. Set one up to continue.")
    return _redirect(request, f"{reverse('mfa_index')}?{urlencode({'next': request.get_full_path()})}")


def second_factor_required(view):
    """For pages that read what only a second factor may (the audit trail): enrolment, any method."""

    @wraps(view)
    def guarded(request: HttpRequest, *args, **kwargs):
        if not has_second_factor(request.user):
            return _enrolment_page(request)
        return view(request, *args, **kwargs)

    guarded.needs_second_factor = True
    return guarded


def dangerous_action(view=None, *, return_to: str = ""):
    """Second factor enrolled for any method; a recent authentication for POST (see module doc).

    After the step-up the user lands on the URL they posted to (GET), or on the URL named by
    ``return_to`` (given the view's keyword arguments) when the action's URL takes only POST: the
    page with its Confirm button.
    """

    def decorator(view):
        @wraps(view)
        def guarded(request: HttpRequest, *args, **kwargs):
            if not has_second_factor(request.user):
                return _enrolment_page(request)
            if request.method == "POST" and not recently_authenticated(request):
                back = reverse(return_to, kwargs=kwargs) if return_to else request.get_full_path()
                return step_up(request, back)
            return view(request, *args, **kwargs)

        guarded.needs_second_factor = True
        guarded.dangerous_action = True
        return guarded

    return decorator(view) if view is not None else decorator
