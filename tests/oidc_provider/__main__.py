"""``python -m tests.oidc_provider serve --port N --data-dir DIR [--admin-token T] [--workers W]``.

Prepares the data dir (database, an RS256 signing key made at first start and kept there), then
replaces itself with gunicorn serving the provider at http://127.0.0.1:N, issuer ``/o``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _prepare(data_dir: Path) -> None:
    import django
    from django.core.management import call_command
    from jwcrypto import jwk

    data_dir.mkdir(parents=True, exist_ok=True)
    key_path = data_dir / "signing-key.pem"
    if not key_path.exists():
        key = jwk.JWK.generate(kty="RSA", size=2048)
        key_path.write_bytes(key.export_to_pem(private_key=True, password=None))
        key_path.chmod(0o600)
    django.setup()
    call_command("migrate", verbosity=0, interactive=False)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.oidc_provider")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="prepare the data dir and serve the provider with gunicorn")
    serve.add_argument("--port", type=int, required=True)
    serve.add_argument("--data-dir", type=Path, required=True)
    serve.add_argument("--admin-token", default=os.environ.get("OIDC_PROVIDER_ADMIN_TOKEN", ""))
    serve.add_argument("--workers", type=int, default=1)
    args = parser.parse_args(argv)

    data_dir = args.data_dir.resolve()
    os.environ.update(
        DJANGO_SETTINGS_MODULE="tests.oidc_provider.settings",
        OIDC_PROVIDER_DATA_DIR=str(data_dir),
        OIDC_PROVIDER_ISSUER=f"http://127.0.0.1:{args.port}/o",
        OIDC_PROVIDER_ADMIN_TOKEN=args.admin_token,
    )
    _prepare(data_dir)
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    os.chdir(ROOT)
    os.execv(gunicorn, [gunicorn, "tests.oidc_provider.wsgi", "--bind", f"127.0.0.1:{args.port}",
                        "--worker-class", "gthread", "--workers", str(args.workers), "--threads", "4",
                        "--timeout", "60", "--control-socket", str(data_dir / "gunicorn.ctl")])  # fmt: skip


if __name__ == "__main__":
    main()
