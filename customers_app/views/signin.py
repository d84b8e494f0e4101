"""Sign-in pages the dashboard adds to django-allauth's (which serves login, second factors and sessions)."""

from __future__ import annotations

from django.http import Http404

# allauth pages for self-service accounts: the dashboard's accounts are created by admins or SSO,
# and it sends no e-mail, so these answer 404 instead of offering a flow that cannot work.
NOT_OFFERED_ACCOUNT_PAGES = [
    "signup/",
    "email/",
    "confirm-email/",
    "password/reset/",
    "password/reset/done/",
    "password/reset/key/done/",
    "password/set/",
    "login/code/",
    "login/code/confirm/",
    "3rdparty/signup/",
]


def not_offered(request, *args, **kwargs):
    raise Http404("This page is not offered: ask an admin of the dashboard.")
