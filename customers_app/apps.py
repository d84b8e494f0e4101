"""The customers feature: service layer, views and forms."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_roles(sender, using="default", **kwargs):
    from django.contrib.auth.management import create_permissions

    from .roles import sync_role_groups

    if using != "default":
        return
    create_permissions(sender, verbosity=0, using=using)
    sync_role_groups()


class CustomersAppConfig(AppConfig):
    name = "customers_app"
    verbose_name = "Customers"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        post_migrate.connect(_sync_roles, sender=self)
        # Signal receivers of the sign-in room (failed second steps → lockout; when a session authenticated).
        from .signin import guards, lockout  # noqa: F401
