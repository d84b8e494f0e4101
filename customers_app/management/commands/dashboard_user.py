"""Creates or updates a dashboard user with one role: how real deployments add people."""

from __future__ import annotations

import getpass

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from customers_app.roles import ROLE_GROUPS, set_role


def set_user_role(username: str, role: str, password: str) -> tuple[object, bool]:
    """Creates or updates ``username`` with exactly one dashboard role; returns (user, created)."""
    user, created = get_user_model().objects.get_or_create(username=username)
    user.set_password(password)
    user.is_active = True
    user.save()
    set_role(user, role)
    return user, created


class Command(BaseCommand):
    help = "Create or update a dashboard user with the role support, marketer or admin."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=sorted(ROLE_GROUPS))
        parser.add_argument("--password", help="Prompted for when omitted.")

    def handle(self, *args, username, role, password, **options):
        if password is None:
            password = getpass.getpass(f"Password for {username}: ")
            if password != getpass.getpass("Password (again): "):
                raise CommandError("The passwords do not match.")
        if not password:
            raise CommandError("The password must not be empty.")
        try:
            validate_password(password, get_user_model()(username=username))
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        with transaction.atomic():
            _, created = set_user_role(username, role, password)
        verb = "Created" if created else "Updated"
        self.stdout.write(self.style.SUCCESS(f"{verb} {username} with the role {role}."))
