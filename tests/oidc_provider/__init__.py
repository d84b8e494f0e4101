"""A tiny OpenID provider (django-oauth-toolkit) that the sign-in tests start on loopback.

It is a Django project of its own, separate from the dashboard: its own settings, database, users and
signing key, all kept in one data directory. Start it with
``python -m tests.oidc_provider serve --port N --data-dir DIR``; tests drive it through its admin API
(see ``admin_api.py``) and ``tests/signin/conftest.py``.
"""
