"""Sign-in: django-allauth's accounts, single sign-on and second factors, fitted to the dashboard.

- ``adapters``: staff accounts only (no self sign-up, no e-mail flows).
- ``enrolment``: roles in ``MFA_REQUIRED_ROLES`` enrol a second factor before anything else.
- ``guards``: ``dangerous_action`` for erase, delete, bulk update, import confirm and role changes
  (a second factor enrolled, and an authentication within ``REAUTH_SECONDS``).
- ``lockout``: failed second steps count toward django-axes' lockout like failed passwords.
- ``sso``: OpenID Connect and the roles it brings.
"""
