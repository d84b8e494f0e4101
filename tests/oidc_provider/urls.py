"""The provider's URLs: OAuth 2 / OIDC under /o/ (the issuer), its login form, the tests' admin API."""

from django.contrib.auth import views as auth_views
from django.urls import include, path
from oauth2_provider import urls as oauth2_urls

from . import admin_api

oauth2_patterns = (oauth2_urls.base_urlpatterns + oauth2_urls.oidc_urlpatterns, "oauth2_provider")

urlpatterns = [
    path("o/", include(oauth2_patterns)),
    path("accounts/login/", auth_views.LoginView.as_view(template_name="oidc_provider/login.html"), name="login"),
    path("admin-api/users", admin_api.user_save),
    path("admin-api/users/<str:username>/groups", admin_api.user_groups),
    path("admin-api/clients", admin_api.client_save),
    path("admin-api/tamper", admin_api.tamper),
]
