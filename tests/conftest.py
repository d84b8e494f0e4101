"""Shared fixtures: the sandbox behind a real server, a client for it, and logged-in users per role."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config):
    """The sandbox's test database is a file: async actions write to it from a background thread,
    and Django's default in-memory shared-cache SQLite fails such writes at once ("database table
    is locked") instead of waiting; a file database gets WAL and the busy timeout from settings."""
    from django.conf import settings

    # Test users need no slow password hashing; the served product (sandbox_server) keeps the real one.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    if "sandbox" in settings.DATABASES:
        test_name = Path(tempfile.gettempdir()) / f"sandbox-tests-{os.getpid()}.sqlite3"
        settings.DATABASES["sandbox"].setdefault("TEST", {})["NAME"] = str(test_name)


def pytest_collection_modifyitems(config, items):
    """Browser tests last: Playwright leaves an event loop on the main thread for the rest of the
    session, and Django then refuses database access from that thread."""
    items.sort(key=lambda item: "tests/browser/" in str(item.fspath))


SANDBOX_CUSTOMERS = 1000  # enough to page past page 99 at 10 per page


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass(frozen=True)
class SandboxServer:
    """The whole product in sandbox mode, served by gunicorn like `make run` does."""

    url: str  # the dashboard, e.g. http://127.0.0.1:PORT
    base_url: str  # the sandbox API, url + "/sandbox"
    app_id: str
    app_token: str
    demo_password: str
    log_path: Path

    @property
    def headers(self) -> dict[str, str]:
        return {"X-App-Id": self.app_id, "X-App-Token": self.app_token}

    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        """A direct call to the sandbox API: the reference the dashboard is compared with."""
        return requests.request(method, self.base_url + path, headers=self.headers, timeout=30, **kwargs)


@pytest.fixture(autouse=True)
def _plain_static_files(settings):
    """Tests render templates without running collectstatic first."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture(autouse=True)
def _budget_store(request):
    """Every upstream call books itself in the API budget, which lives in the dashboard's database."""
    if "browser" not in request.keywords:
        request.getfixturevalue("db")
    yield


@pytest.fixture(autouse=True)
def _empty_cache():
    """Cached upstream answers (segment names) must not leak from one test's upstream into another's."""
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def product_env(workdir: Path, port: int, **overrides: str) -> dict[str, str]:
    """The environment of a served product in sandbox mode with its databases in ``workdir``."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("VOUCHERIFY_", "DJANGO_", "DATABASE_URL", "SANDBOX_", "CACHE_URL"))
    }
    env.update(
        PORT=str(port),
        DJANGO_DEBUG="false",
        DATABASE_URL=f"sqlite:///{workdir / 'dashboard.sqlite3'}",
        SANDBOX_DATABASE_URL=f"sqlite:///{workdir / 'sandbox.sqlite3'}",
        SANDBOX_EXPORTS_DIR=str(workdir / "exports"),
        DJANGO_STATIC_ROOT=str(workdir / "static"),
        DEMO_PASSWORD="demo-password-for-tests",
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    return env


def prepare_product(env: dict[str, str], customers: int) -> None:
    """Migrations, static files, demo users and (when the sandbox is empty) ``customers`` seeded."""
    subprocess.run(
        [sys.executable, "manage.py", "prepare_dashboard", "--customers", str(customers)],
        cwd=ROOT, env=env, check=True, capture_output=True,
    )  # fmt: skip


class ServedProduct:
    """A gunicorn serving the product with ``env``; ``start``/``stop``/``kill`` it like an operator would."""

    def __init__(
        self, env: dict[str, str], log_path: Path, workers: int = 2, threads: int = 8, task_worker: bool = True
    ):
        self.env, self.log_path, self.workers, self.threads = env, log_path, workers, threads
        self.port = int(env["PORT"])
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.task_worker: subprocess.Popen | None = None
        self.wants_task_worker = task_worker

    def start_task_worker(self) -> None:
        """The background-job worker beside the web server, as `make run` starts it."""
        log = self.log_path.with_suffix(".worker.log").open("ab")
        self.task_worker = subprocess.Popen(
            [sys.executable, "manage.py", "db_worker", "--no-startup-delay", "--interval", "0.2"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()

    def stop_task_worker(self, *, kill: bool = False) -> None:
        if self.task_worker is None:
            return
        if kill:
            self.task_worker.kill()
        else:
            self.task_worker.terminate()
        try:
            self.task_worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.task_worker.kill()
            self.task_worker.wait()
        self.task_worker = None

    def start(self, timeout: float = 60) -> ServedProduct:
        gunicorn = Path(sys.executable).with_name("gunicorn")
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(gunicorn), "dashboard.wsgi", "--bind", f"127.0.0.1:{self.port}", "--worker-class", "gthread",
             "--workers", str(self.workers), "--threads", str(self.threads), "--timeout", "120"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        log.close()
        if self.wants_task_worker and self.task_worker is None:
            self.start_task_worker()
        deadline = time.monotonic() + timeout
        while True:
            try:
                # A login page needs no API call, so waiting for the server spends none of the budget.
                if requests.get(self.url + "/accounts/login/", timeout=5).status_code == 200:
                    return self
            except (requests.ConnectionError, requests.Timeout):
                pass  # not listening yet, or its workers still booting on a busy machine
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.process.kill()
                raise RuntimeError("The product server did not start:\n" + self.log_path.read_text()[-4000:])
            time.sleep(0.2)

    def worker_pids(self) -> list[int]:
        """The gunicorn workers' pids (children of the master)."""
        assert self.process is not None
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children").read_text().split()
        return [int(pid) for pid in children]

    def stop(self) -> None:
        self.stop_task_worker()
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def kill(self) -> None:
        """SIGKILL to the master and its workers at once: a crash, no clean shutdown."""
        self.stop_task_worker(kill=True)
        if self.process is None:
            return
        pids = self.worker_pids()
        self.process.kill()
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        self.process.wait()
        self.process = None


@pytest.fixture(scope="session")
def sandbox_server(tmp_path_factory) -> SandboxServer:
    """The suite's shared served product, with the sandbox's rate limit at its default (2,000/min)."""
    workdir = tmp_path_factory.mktemp("sandbox-server")
    env = product_env(workdir, free_port())
    prepare_product(env, SANDBOX_CUSTOMERS)
    product = ServedProduct(env, workdir / "gunicorn.log").start()
    server = SandboxServer(
        url=product.url,
        base_url=product.url + "/sandbox",
        app_id="sandbox-app-id",
        app_token="sandbox-app-token",
        demo_password=env["DEMO_PASSWORD"],
        log_path=product.log_path,
    )
    yield server
    product.stop()


@pytest.fixture
def use_sandbox_server(settings, sandbox_server):
    """Points the dashboard under test at the sandbox server over real HTTP."""
    settings.VOUCHERIFY_API_URL = sandbox_server.base_url
    settings.VOUCHERIFY_APP_ID = sandbox_server.app_id
    settings.VOUCHERIFY_APP_TOKEN = sandbox_server.app_token
    settings.VOUCHERIFY_IN_PROCESS = False
    return sandbox_server


@pytest.fixture
def tasks_run_immediately(settings):
    """Background jobs run inside the request that starts them (Django's ImmediateBackend): tests of
    one view see the job through; tests/jobs runs them on a real worker process instead."""
    settings.TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}


# The authenticator secret of the test users that login_as enrols (base32).
TEST_TOTP_SECRET = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"


def fully_signed_in(client, user) -> None:
    """Logs the test client in as ``user`` as if they had just passed every step (password, second
    factor): dangerous pages find a second factor and a fresh authentication (customers_app.signin)."""
    from customers_app.signin.factors import enrol_totp
    from customers_app.signin.guards import mark_authenticated

    enrol_totp(user, TEST_TOTP_SECRET)
    client.force_login(user)
    session = client.session
    mark_authenticated(session)
    session.save()


@pytest.fixture
def login_as(db, client):
    """Logs the test client in as a fresh user with the given role (support, marketer, admin), enrolled
    with a second factor and freshly authenticated (tests/signin covers the steps themselves)."""
    from customers_app.management.commands.dashboard_user import set_user_role

    def login(role: str, username: str | None = None):
        user, _ = set_user_role(username or f"{role}-user", role, "a-long-test-password")
        fully_signed_in(client, user)
        return client

    return login


@pytest.fixture
def support_client(login_as):
    return login_as("support")


@pytest.fixture
def marketer_client(login_as):
    return login_as("marketer")


@pytest.fixture
def admin_role_client(login_as):
    return login_as("admin")


BIG_SANDBOX_CUSTOMERS = 100_000


@pytest.fixture(scope="session")
def big_sandbox_dir(tmp_path_factory) -> Path:
    """Databases of a product whose sandbox holds 100,000 customers (a real project's size), seeded once.

    Start servers on it with ``ServedProduct(product_env(big_sandbox_dir, free_port(), ...), log)``.
    """
    workdir = tmp_path_factory.mktemp("big-sandbox")
    prepare_product(product_env(workdir, free_port()), BIG_SANDBOX_CUSTOMERS)
    return workdir


# (served product, username, code) already accepted: allauth takes each authenticator code once.
_USED_TOTP_CODES: set[tuple[str, str, str]] = set()


def fresh_totp_code(secret: str, key: tuple[str, str]) -> str:
    """A code of ``secret`` valid now (MFA_TOTP_TOLERANCE=1: this, the next or the last period) that
    this test run has not used yet for ``key``; waits for the next period when all three are used."""
    import time

    import pyotp

    totp = pyotp.TOTP(secret)
    while True:
        now = time.time()
        for at in (now, now + 30, now - 30):
            code = totp.at(at)
            if (*key, code) not in _USED_TOTP_CODES:
                _USED_TOTP_CODES.add((*key, code))
                return code
        time.sleep(30 - now % 30 + 0.5)


def signed_in(
    url: str, username: str, password: str = "demo-password-for-tests", totp_secret: str = ""
) -> requests.Session:
    """A browser-like session of a served product, signed in through its login form and, for roles
    enrolled with a second factor (the demo admin: DEMO_TOTP_SECRET), its second step."""
    import re

    from django.conf import settings

    session = requests.Session()
    login = session.get(url + "/accounts/login/", timeout=10)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text).group(1)
    answer = session.post(
        url + "/accounts/login/",
        data={"login": username, "password": password, "csrfmiddlewaretoken": token},
        headers={"Referer": url + "/accounts/login/"},
        timeout=30,
        allow_redirects=False,
    )
    assert answer.status_code == 302, answer.text[:500]
    if answer.headers["Location"].startswith("/accounts/2fa/authenticate/"):
        second = session.get(url + "/accounts/2fa/authenticate/", timeout=10)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', second.text).group(1)
        code = fresh_totp_code(totp_secret or settings.DEMO_TOTP_SECRET, (url, username))
        answer = session.post(
            url + "/accounts/2fa/authenticate/",
            data={"code": code, "csrfmiddlewaretoken": token},
            headers={"Referer": url + "/accounts/2fa/authenticate/"},
            timeout=30,
            allow_redirects=False,
        )
        assert answer.status_code == 302, answer.text[:500]
    session.headers["Referer"] = url + "/"
    return session


def csrf_post(session: requests.Session, url: str, form_url: str, data: dict, **kwargs) -> requests.Response:
    """POSTs a form the way a browser does: with the CSRF token of the page that holds the form."""
    import re

    page = session.get(form_url, timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    return session.post(url, data={**data, "csrfmiddlewaretoken": token}, timeout=60, **kwargs)
