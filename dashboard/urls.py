"""Top-level URLs: the dashboard, its login, and (in sandbox mode) the built-in Voucherify sandbox."""

from django.conf import settings
from django.urls import include, path
from django.views.generic import RedirectView

from customers_app.views.health import healthz_view
from customers_app.views.signin import NOT_OFFERED_ACCOUNT_PAGES, not_offered

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="customers:list"), name="home"),
    path("healthz", healthz_view, name="healthz"),
    # Sign-in (django-allauth): login, second factors, re-authentication, sessions, single sign-on.
    # Accounts are staff accounts: the sign-up and e-mail/password-reset pages are not offered.
    *[path(f"accounts/{p}", not_offered) for p in NOT_OFFERED_ACCOUNT_PAGES],
    path("accounts/", include("allauth.urls")),
    path("", include("customers_app.urls")),
]

if settings.SANDBOX_MODE:
    urlpatterns.append(path("sandbox/", include("sandbox.urls")))
