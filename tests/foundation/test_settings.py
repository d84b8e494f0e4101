"""Settings: secrets required outside the sandbox, the sandbox unmounted with a real Voucherify."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run_django(code: str, **env_vars: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VOUCHERIFY_", "DJANGO_"))}
    env.update(env_vars)
    script = (
        "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'dashboard.settings'); django.setup()\n"
        + code
    )
    return subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


REAL = {
    "VOUCHERIFY_API_URL": "https://api.voucherify.io",
    "DJANGO_SECRET_KEY": "Zq8#vN2!pL5@wR9$tY3%uI7^oP1&aS4*dF6(gH0)jK2-lX5+cV8=bN3",
    "VOUCHERIFY_APP_ID": "app-id",
    "VOUCHERIFY_APP_TOKEN": "app-token",
}


def test_each_missing_secret_is_named_when_using_a_real_voucherify():
    for name in ["DJANGO_SECRET_KEY", "VOUCHERIFY_APP_ID", "VOUCHERIFY_APP_TOKEN"]:
        env = {k: v for k, v in REAL.items() if k != name}
        result = run_django("", **env)
        assert result.returncode != 0
        assert f"{name} is not set" in result.stderr


def test_real_voucherify_mode_has_no_sandbox_and_no_demo_users():
    code = (
        "from django.conf import settings; from django.urls import resolve, Resolver404\n"
        "assert 'sandbox' not in settings.INSTALLED_APPS and 'sandbox' not in settings.DATABASES\n"
        "try:\n    resolve('/sandbox/v1/customers'); print('MOUNTED')\nexcept Resolver404:\n    print('NOT MOUNTED')\n"
        "from django.core.management import call_command\n"
        "try:\n    call_command('demo_users')\nexcept Exception as exc:\n    print('DEMO:', exc)\n"
        "print(settings.VOUCHERIFY_API_URL, settings.VOUCHERIFY_IN_PROCESS)\n"
    )
    result = run_django(code, **REAL)
    assert result.returncode == 0, result.stderr
    assert "NOT MOUNTED" in result.stdout
    assert "DEMO: Demo users exist only with the built-in sandbox" in result.stdout
    assert "https://api.voucherify.io False" in result.stdout


def test_sandbox_mode_mounts_the_sandbox_on_the_same_port_with_demo_defaults():
    code = (
        "from django.conf import settings; from django.urls import resolve\n"
        "resolve('/sandbox/v1/customers')\n"
        "print(settings.VOUCHERIFY_API_URL, settings.VOUCHERIFY_APP_ID, settings.DATABASES['sandbox']['NAME'])\n"
    )
    result = run_django(code, PORT="8123")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[:2] == ["http://127.0.0.1:8123/sandbox", "sandbox-app-id"]
    assert result.stdout.split()[2].endswith("var/sandbox.sqlite3")


def test_production_settings_pass_the_deploy_check():
    env = {**REAL, "DJANGO_ALLOWED_HOSTS": "dashboard.example.com"}
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT, env={**{k: v for k, v in os.environ.items() if not k.startswith(("VOUCHERIFY_", "DJANGO_"))}, **env},
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


def test_make_refuses_a_python_older_than_3_12():
    old = "/root/.pyenv/versions/3.11.7/bin/python3"
    if not Path(old).exists():
        old = sys.executable + "-missing"
    result = subprocess.run(["make", "python-check", f"PYTHON={old}"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode != 0
    assert "needs Python 3.12 or newer" in result.stdout
