"""Keeps the sandbox's tables in the ``sandbox`` database and everything else out of it."""

from __future__ import annotations

SANDBOX_DB = "sandbox"


class SandboxRouter:
    def db_for_read(self, model, **hints):
        return SANDBOX_DB if model._meta.app_label == "sandbox" else None

    db_for_write = db_for_read

    def allow_relation(self, obj1, obj2, **hints):
        in_sandbox = {obj1._meta.app_label == "sandbox", obj2._meta.app_label == "sandbox"}
        return len(in_sandbox) == 1 or None

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return (app_label == "sandbox") == (db == SANDBOX_DB)
