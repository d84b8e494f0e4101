"""The built-in, Voucherify-compatible sandbox: the dashboard's default backend."""

from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "sandbox"
    verbose_name = "Voucherify sandbox"
    default_auto_field = "django.db.models.BigAutoField"
