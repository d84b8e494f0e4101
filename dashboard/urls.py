"""Top-level URLs: the dashboard, its login, and (in sandbox mode) the built-in Voucherify sandbox."""

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.views.generic import RedirectView

from customers_app.views.health import healthz_view

urlpatterns = [
    path("", RedirectView.as_view(pattern_name="customers:list"), name="home"),
    path("healthz", healthz_view, name="healthz"),
    path("accounts/login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("customers_app.urls")),
]

if settings.SANDBOX_MODE:
    urlpatterns.append(path("sandbox/", include("sandbox.urls")))
