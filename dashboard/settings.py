"""Settings for the Voucherify customers dashboard, read from the environment (django-environ).

Two modes:
- Sandbox demo (``VOUCHERIFY_API_URL`` unset): the built-in Voucherify-compatible sandbox is
  installed, mounted at ``/sandbox/`` and used as the backend; every secret has a documented
  demo default.
- Real Voucherify (``VOUCHERIFY_API_URL`` set): no sandbox, no demo users, and every secret must
  come from the environment; a missing one stops the start with a message naming it.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = BASE_DIR / "var"

env = environ.Env()

DEBUG = env.bool("DJANGO_DEBUG", default=False)
PORT = env.int("PORT", default=8000)

VOUCHERIFY_API_URL = env.str("VOUCHERIFY_API_URL", default="").rstrip("/")
SANDBOX_MODE = not VOUCHERIFY_API_URL

# Documented demo defaults; only ever used with the built-in sandbox.
SANDBOX_DEFAULTS = {
    "DJANGO_SECRET_KEY": "sandbox-demo-only-not-secret-3c9f7a1e0b5d4c2a8e6f",
    "VOUCHERIFY_APP_ID": "sandbox-app-id",
    "VOUCHERIFY_APP_TOKEN": "sandbox-app-token",
}


def _secret(name: str) -> str:
    """A secret from the environment; outside the sandbox demo it has no default."""
    value = env.str(name, default="")
    if value:
        return value
    if SANDBOX_MODE:
        return SANDBOX_DEFAULTS[name]
    raise ImproperlyConfigured(
        f"{name} is not set. It is required when VOUCHERIFY_API_URL points at a real Voucherify project."
    )


SECRET_KEY = _secret("DJANGO_SECRET_KEY")
SECRET_KEY_FALLBACKS = env.list("DJANGO_SECRET_KEY_FALLBACKS", default=[])
VOUCHERIFY_APP_ID = _secret("VOUCHERIFY_APP_ID")
VOUCHERIFY_APP_TOKEN = _secret("VOUCHERIFY_APP_TOKEN")
if SANDBOX_MODE:
    # The dashboard talks to its own sandbox in-process (see customers_app.services.inprocess),
    # so the URL only names it; /sandbox/ is also served over HTTP for SDKs and other clients.
    VOUCHERIFY_API_URL = f"http://127.0.0.1:{PORT}/sandbox"
VOUCHERIFY_IN_PROCESS = SANDBOX_MODE and env.bool("VOUCHERIFY_IN_PROCESS", default=True)
VOUCHERIFY_CONNECT_TIMEOUT = env.float("VOUCHERIFY_CONNECT_TIMEOUT", default=3.05)
VOUCHERIFY_READ_TIMEOUT = env.float("VOUCHERIFY_READ_TIMEOUT", default=10.0)
# A page never waits on Voucherify longer than this in total, retries included.
VOUCHERIFY_TOTAL_TIMEOUT = env.float("VOUCHERIFY_TOTAL_TIMEOUT", default=15.0)
VOUCHERIFY_MAX_RETRIES = env.int("VOUCHERIFY_MAX_RETRIES", default=2)
# Background work (exports, bulk jobs) may wait this long for one call, pauses for the budget included.
VOUCHERIFY_BACKGROUND_TOTAL_TIMEOUT = env.float("VOUCHERIFY_BACKGROUND_TOTAL_TIMEOUT", default=300.0)
# A page retries a 429 only when Voucherify asks it to wait less than this; otherwise it says when to retry.
VOUCHERIFY_INTERACTIVE_MAX_RETRY_WAIT = env.float("VOUCHERIFY_INTERACTIVE_MAX_RETRY_WAIT", default=2.0)

# The API budget (customers_app.services.budget): the plan's calls per window (0: learn it from the
# X-Rate-Limit-Limit header), the share background work may use, and the calls kept for agents.
VOUCHERIFY_RATE_LIMIT_PER_MINUTE = env.int("VOUCHERIFY_RATE_LIMIT_PER_MINUTE", default=0)
VOUCHERIFY_RATE_LIMIT_WINDOW_SECONDS = env.float("VOUCHERIFY_RATE_LIMIT_WINDOW_SECONDS", default=60.0)
VOUCHERIFY_BACKGROUND_SHARE = env.float("VOUCHERIFY_BACKGROUND_SHARE", default=0.5)
VOUCHERIFY_AGENT_RESERVE = env.float("VOUCHERIFY_AGENT_RESERVE", default=0.1)

DEMO_PASSWORD = env.str("DEMO_PASSWORD", default="demo-password") if SANDBOX_MODE else ""
SANDBOX_LATENCY_MS = env.int("SANDBOX_LATENCY_MS", default=0)
# Voucherify's rate limit as the sandbox enforces it: calls per application id over a rolling window
# (default the Organization plan's 2,000 a minute; 0 turns it off). The window is 60 s as in
# Voucherify; tests shorten it so they need not wait a minute for calls to be accepted again.
SANDBOX_RATE_LIMIT_PER_MINUTE = env.int("SANDBOX_RATE_LIMIT_PER_MINUTE", default=2000)
SANDBOX_RATE_LIMIT_WINDOW_SECONDS = env.float("SANDBOX_RATE_LIMIT_WINDOW_SECONDS", default=60.0)
# Where the sandbox keeps the CSV files of its exports (GET /v1/exports/{id}?token=...).
SANDBOX_EXPORTS_DIR = env.path("SANDBOX_EXPORTS_DIR", default=VAR_DIR / "sandbox-exports")

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.humanize",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "axes",
    # Sign-in (customers_app.signin): accounts, OpenID Connect single sign-on, two factors, sessions.
    "allauth",
    "allauth.account",
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "allauth.mfa",
    "allauth.usersessions",
    "django_tasks_db",
    "customers_app",
    "customers_app.search",
]
if SANDBOX_MODE:
    INSTALLED_APPS.append("sandbox")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "customers_app.session_middleware.IdleSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "customers_app.signin.enrolment.SecondFactorEnrolmentMiddleware",
    "customers_app.audit_middleware.DeniedAttemptAuditMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    # PASSWORD_LOGIN off refuses password logins; a user without a role sees only the no-access page.
    "customers_app.signin.no_access.SignInPolicyMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "customers_app.middleware.UpstreamErrorMiddleware",
    # Last, so it sees the outcome of failed logins (django-axes lockout).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "dashboard.urls"
WSGI_APPLICATION = "dashboard.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "customers_app.context_processors.dashboard",
            ],
        },
    },
]

SQLITE_OPTIONS = {
    # WAL lets readers and one writer work at once; IMMEDIATE + a busy timeout make concurrent
    # writers wait for each other instead of failing with "database is locked".
    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA secure_delete=ON;",
    "transaction_mode": "IMMEDIATE",
    "timeout": 20,
}


def _database(var: str, default_file: str) -> dict:
    config = env.db_url(var, default=f"sqlite:///{VAR_DIR / default_file}")
    # gunicorn's threads live long: keeping their connections saves a connect (and, for SQLite,
    # the PRAGMAs above) on every request.
    config.setdefault("CONN_MAX_AGE", env.int("DB_CONN_MAX_AGE", default=60))
    config.setdefault("CONN_HEALTH_CHECKS", True)
    if config["ENGINE"] == "django.db.backends.sqlite3":
        config["OPTIONS"] = {**SQLITE_OPTIONS, **config.get("OPTIONS", {})}
        if config["NAME"] not in ("", ":memory:"):
            Path(config["NAME"]).parent.mkdir(parents=True, exist_ok=True)  # var/ is not in git
    return config


DATABASES = {"default": _database("DATABASE_URL", "dashboard.sqlite3")}
if SANDBOX_MODE:
    # The sandbox keeps its customers in a database of its own, so the dashboard's code can only
    # reach customer data through the API.
    DATABASES["sandbox"] = _database("SANDBOX_DATABASE_URL", "sandbox.sqlite3")
    DATABASE_ROUTERS = ["sandbox.routers.SandboxRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://dashboard")}

# Background work runs on Django's task framework. "database" (default): tasks queued in the
# dashboard's database and run by `manage.py db_worker` (make run starts one). "rq": queued in Redis
# (TASKS_REDIS_URL, default CACHE_URL) and run by `manage.py rqworker --job-class django_tasks_rq.Job`.
# "immediate": run inside the request (tests of single views only).
TASKS_BACKEND = env.str("TASKS_BACKEND", default="database")
if TASKS_BACKEND == "rq":
    INSTALLED_APPS += ["django_rq", "django_tasks_rq"]
    TASKS = {"default": {"BACKEND": "django_tasks_rq.RQBackend", "QUEUES": ["default"]}}
    RQ_QUEUES = {"default": {"URL": env.str("TASKS_REDIS_URL", default=env.str("CACHE_URL", default=""))}}
elif TASKS_BACKEND == "immediate":
    TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
elif TASKS_BACKEND == "database":
    TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
else:
    raise ImproperlyConfigured(f"TASKS_BACKEND must be database, rq or immediate, not {TASKS_BACKEND!r}.")
# A running job that has not reported for this long is taken as interrupted and resumed.
BACKGROUND_JOB_STALE_SECONDS = env.int("BACKGROUND_JOB_STALE_SECONDS", default=60)
# Export files are kept this long (then deleted, or at once when a person in them is erased).
EXPORT_KEEP_DAYS = env.int("EXPORT_KEEP_DAYS", default=7)
# GDPR privacy requests: the answer deadline, how long an access pack stays downloadable, and
# whether an erasure needs a second person's approval ("two_person") or not ("off").
PRIVACY_REQUEST_DAYS = env.int("PRIVACY_REQUEST_DAYS", default=30)
PRIVACY_FILE_DAYS = env.int("PRIVACY_FILE_DAYS", default=7)
ERASURE_APPROVAL = env.str("ERASURE_APPROVAL", default="off").strip().lower()
# The customer search index (customers_app.search): an incremental pass every SEARCH_SYNC_SECONDS, a
# reconciliation (removes customers deleted outside the dashboard) every SEARCH_RECONCILE_HOURS, and
# the lease one pass holds so that only one runs at a time across machines (renewed while it works).
SEARCH_SYNC_SECONDS = env.float("SEARCH_SYNC_SECONDS", default=60.0)
SEARCH_RECONCILE_HOURS = env.float("SEARCH_RECONCILE_HOURS", default=24.0)
SEARCH_LEASE_SECONDS = env.float("SEARCH_LEASE_SECONDS", default=120.0)
# With a Redis cache every machine already shares it: the API budget's window lives there too.
_CACHE_URL = env.str("CACHE_URL", default="")
VOUCHERIFY_BUDGET_REDIS_URL = _CACHE_URL if _CACHE_URL.startswith(("redis://", "rediss://")) else ""

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    # Permissions only, in one query per request; ModelBackend and allauth answer from its sets.
    "customers_app.auth_backend.OneQueryPermissionBackend",
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
# Repeated failed logins lock that username from that address for a while; keyed on both so that
# one attacker cannot lock a whole office (one NAT address) or one person out from everywhere.
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_LOCKOUT_CALLABLE = "customers_app.views.auth.locked_out_view"
AXES_RESET_ON_SUCCESS = True
AXES_VERBOSE = False
# allauth passes "username" to authenticate(); its login form names the field "login".
AXES_USERNAME_CALLABLE = "customers_app.signin.lockout.username_of"

LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "customers:list"
LOGOUT_REDIRECT_URL = "account_login"

# --- Sign-in: django-allauth (customers_app.signin) ---
# Staff accounts only: no self sign-up, no e-mail flows; usernames as today (`manage.py dashboard_user`).
ACCOUNT_ADAPTER = "customers_app.signin.adapters.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"username"}
ACCOUNT_SIGNUP_FIELDS = ["username*", "password1*", "password2*"]
ACCOUNT_EMAIL_VERIFICATION = "none"
ACCOUNT_UNIQUE_EMAIL = False
ACCOUNT_SESSION_REMEMBER = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
# Lockout after failed logins (and failed second steps) is django-axes' job, keyed on username and address.
ACCOUNT_RATE_LIMITS = {"login_failed": None}
# Step-up: erase, delete, bulk update, import confirm and role changes need an authentication this recent.
REAUTH_SECONDS = env.int("REAUTH_SECONDS", default=5 * 60)
ACCOUNT_REAUTHENTICATION_TIMEOUT = REAUTH_SECONDS
# Two factors: authenticator apps (TOTP), recovery codes, and passkeys/security keys (WebAuthn).
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_TOTP_ISSUER = env.str("MFA_TOTP_ISSUER", default="Voucherify customers")
# One 30-second period either side, for phones whose clock drifts; each code is accepted once (the cache remembers it).
MFA_TOTP_TOLERANCE = 1
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = DEBUG or SANDBOX_MODE  # http://127.0.0.1 in the demo
MFA_FORMS = {
    "authenticate": "customers_app.signin.forms.SecondStepForm",
    "reauthenticate": "customers_app.signin.forms.SecondStepReauthenticateForm",
}
# Roles that must enrol a second factor before they may use the dashboard at all; anyone else must
# enrol before a page that deletes, erases, bulk-updates or reads the audit trail.
MFA_REQUIRED_ROLES = env.list("MFA_REQUIRED_ROLES", default=["admin"])
# The sandbox demo's admin comes enrolled with this authenticator secret (base32).
DEMO_TOTP_SECRET = env.str("DEMO_TOTP_SECRET", default="JBSWY3DPEHPK3PXPVOUCHERIFYDEMO22") if SANDBOX_MODE else ""
USERSESSIONS_TRACK_ACTIVITY = False

# --- Single sign-on (OIDC) ---
# OpenID Connect through allauth (customers_app.signin.sso); README "Single sign-on". The redirect URL
# to register at the provider is <dashboard>/accounts/oidc/oidc/login/callback/ (provider id "oidc").
OIDC_SERVER_URL = env.str("OIDC_SERVER_URL", default="").rstrip("/")  # the issuer
OIDC_CLIENT_ID = env.str("OIDC_CLIENT_ID", default="")
OIDC_CLIENT_SECRET = env.str("OIDC_CLIENT_SECRET", default="")
OIDC_PROVIDER_NAME = env.str("OIDC_PROVIDER_NAME", default="your company account")
OIDC_ROLE_CLAIM = env.str("OIDC_ROLE_CLAIM", default="groups")
# "support=cs-agents,marketer=marketing,admin=dashboard-admins" -> {"support": ["cs-agents"], ...}; a role
# may be named more than once. Empty: the provider's groups are ignored and admins give roles.
_DASHBOARD_ROLES = ("support", "marketer", "admin")  # the keys of customers_app.roles.ROLE_GROUPS


def _role_map(text: str) -> dict[str, list[str]]:
    role_map: dict[str, list[str]] = {}
    for pair in filter(None, (item.strip() for item in text.split(","))):
        role, _, group = (part.strip() for part in pair.partition("="))
        if role not in _DASHBOARD_ROLES or not group:
            raise ImproperlyConfigured(
                f"OIDC_ROLE_MAP: {pair!r} is not role=group with a role among {', '.join(_DASHBOARD_ROLES)}."
            )
        role_map.setdefault(role, []).append(group)
    return role_map


OIDC_ROLE_MAP = _role_map(env.str("OIDC_ROLE_MAP", default=""))
# The username/password form: on with the sandbox, off once SSO is configured. Break-glass accounts
# (`manage.py dashboard_user`) sign in with their password after a restart with PASSWORD_LOGIN=true.
PASSWORD_LOGIN = env.bool("PASSWORD_LOGIN", default=not OIDC_SERVER_URL)
SOCIALACCOUNT_ADAPTER = "customers_app.signin.sso.SocialAccountAdapter"
SOCIALACCOUNT_PROVIDERS = {"openid_connect": {"OAUTH_PKCE_ENABLED": True, "APPS": []}}
if OIDC_SERVER_URL:
    if not (OIDC_CLIENT_ID and OIDC_CLIENT_SECRET):
        raise ImproperlyConfigured("OIDC_SERVER_URL is set: OIDC_CLIENT_ID and OIDC_CLIENT_SECRET are required too.")
    SOCIALACCOUNT_PROVIDERS["openid_connect"]["APPS"] = [
        {
            "provider_id": "oidc",
            "name": OIDC_PROVIDER_NAME,
            "client_id": OIDC_CLIENT_ID,
            "secret": OIDC_CLIENT_SECRET,
            "settings": {"server_url": OIDC_SERVER_URL},
        }
    ]
SOCIALACCOUNT_LOGIN_ON_GET = False  # the login page's button POSTs (with CSRF) to start SSO
SOCIALACCOUNT_AUTO_SIGNUP = True  # no sign-up form: the provider vouches for who they are
# Accounts are linked by the provider's `sub` only, never by an email address or username.
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_STORE_TOKENS = False

# The age counts from the last request (an idle timeout, within a minute): IdleSessionMiddleware moves
# it on at most once a minute, instead of SESSION_SAVE_EVERY_REQUEST's database write on every request.
SESSION_COOKIE_AGE = env.int("SESSION_IDLE_SECONDS", default=8 * 60 * 60)
# Django's database sessions, whose per-request read is one plain query (customers_app/session_store.py).
SESSION_ENGINE = "customers_app.session_store"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("DJANGO_STATIC_ROOT", default=VAR_DIR / "staticfiles")
# Files the dashboard keeps (exports): local files by default; with several machines use shared
# storage, e.g. S3 through django-storages (STORAGES["default"]["BACKEND"] = "storages.backends.s3.S3Storage").
DASHBOARD_FILES_DIR = env.path("DASHBOARD_FILES_DIR", default=VAR_DIR / "files")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": DASHBOARD_FILES_DIR}},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# Content-Security-Policy (Django 6): our own scripts with nonces only, no inline, no eval.
from django.utils.csp import CSP  # noqa: E402

SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
    "base-uri": [CSP.SELF],
    "object-src": [CSP.NONE],
}
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

# Production hardening; the SSL redirect can be turned off behind a TLS-terminating proxy.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG and not SANDBOX_MODE)
SESSION_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=not DEBUG and not SANDBOX_MODE)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_HSTS_SECONDS = env.int("DJANGO_HSTS_SECONDS", default=0 if DEBUG or SANDBOX_MODE else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0
SECURE_HSTS_PRELOAD = SECURE_HSTS_SECONDS > 0
if env.bool("DJANGO_BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

DATA_UPLOAD_MAX_MEMORY_SIZE = 11 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "loggers": {
        "customers_app": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
        "sandbox": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    },
}
