#!/usr/bin/env python3
"""What ``infra/compose.yaml`` needs and the repository never holds: secrets, keys, the gateway.

    python3 infra/containers/compose_prepare.py     # writes var/compose/ (kept on a re-run)

- ``var/compose/compose.env`` (mode 0600): per service a Django secret key, a database
  password and a broker password, and users-service's signing keys (``USERS_JWT_KEYS``, the
  JSON form of ``JWT_KEYS``): the values compose.yaml interpolates
  (``docker compose --env-file var/compose/compose.env ...``);
- ``var/compose/rabbitmq/definitions.json``: the vhost ``platform`` and one broker user per
  service (``platform.<service>``, the chassis's ``BROKER_USER_FORMAT``), with the permissions
  the no-container runner gives (``runner.broker_permissions``: its own queues, and on the
  events exchange its own event types only); passwords as RabbitMQ's salted SHA-256 hashes;
- ``var/compose/gateway/``: ``kong.yml`` rendered for Kong with the public keys of those
  signing keys (its service URLs, ``http://<dir>:8000``, are the web services' aliases), and
  the same as ``haproxy.cfg`` (the ``compose.haproxy.yaml`` override, where Kong's image
  cannot be pulled; it names its files by absolute path, ``PLATFORM_GATEWAY_DIR``).

A value already in ``compose.env`` is kept, so a re-run changes no password; delete the
directory to start afresh. Needs ``runner.py bootstrap`` (users-service's and the gateway's
virtual environments). Standard library only.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "local"))
import runner

OUT = runner.ROOT / "var" / "compose"
VHOST = "platform"  # compose.yaml's broker vhost
WEB_PORT = 8000  # GUNICORN_BIND in the images


def read_env(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key: value.strip("'") for key, value in pairs}


def rabbitmq_hash(password: str) -> str:
    """RabbitMQ's ``rabbit_password_hashing_sha256``: base64(salt + sha256(salt + password))."""
    salt = secrets.token_bytes(4)
    return base64.b64encode(salt + hashlib.sha256(salt + password.encode()).digest()).decode()


def broker_definitions(env: dict[str, str]) -> dict:
    users, permissions, topics = [], [], []
    for name in runner.SERVICES:
        user = f"{VHOST}.{name}"
        perms = runner.broker_permissions(name)
        users.append(
            {
                "name": user,
                "password_hash": rabbitmq_hash(env[f"{name.upper()}_BROKER_PASSWORD"]),
                "hashing_algorithm": "rabbit_password_hashing_sha256",
                "tags": [],
            }
        )
        permissions.append(
            {"user": user, "vhost": VHOST} | {k: perms[k] for k in ("configure", "write", "read")}
        )
        topics.append(
            {
                "user": user,
                "vhost": VHOST,
                "exchange": "platform.events",
                "write": perms["topic_write"],
                "read": perms["topic_read"],
            }
        )
    return {
        "users": users,
        "vhosts": [{"name": VHOST}],
        "permissions": permissions,
        "topic_permissions": topics,
    }


def django_env() -> dict[str, str]:
    """Enough settings to start users-service's manage.py with no server (key commands only)."""
    return {
        **os.environ,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": "sqlite:///:memory:",
        "CELERY_BROKER_URL": "memory://",
        "JWKS_URL": "http://unused",
        "USERS_TOKEN_URL": "http://unused",
    }


def signing_keys(keys: Path) -> tuple[str, Path]:
    """users-service's signing keys (two, so they rotate): their JSON form and the JWKS file."""
    users = runner.ROOT / runner.SERVICES["users"].dir
    python = str(users / ".venv" / "bin" / "python")
    env = {**django_env(), "JWT_KEYS_DIR": str(keys)}
    manage = [python, "manage.py", "jwt_keys"]
    subprocess.run([*manage, "--dir", str(keys), "--ensure", "2"], cwd=users, env=env, check=True)
    jwks = subprocess.run(
        [*manage, "--jwks"], cwd=users, env=env, check=True, capture_output=True, text=True
    ).stdout
    jwks_file = keys.parent / "users.jwks.json"
    jwks_file.write_text(jwks)
    pems = {pem.stem: pem.read_text() for pem in sorted(keys.glob("*.pem"))}
    return json.dumps(pems, separators=(",", ":")), jwks_file


def render_gateway(jwks: Path) -> None:
    gateway = runner.ROOT / "gateway-config"
    # kong.yml's service URLs name http://<dir>:8000: the web services' network aliases.
    upstreams = [f"--upstream={s.dir}={s.dir}:{WEB_PORT}" for s in runner.SERVICES.values()]
    subprocess.run(
        [
            str(gateway / ".venv" / "bin" / "python"), "-m", "gateway", "render",
            "--kong", str(gateway / "kong.yml"), "--jwks", str(jwks),
            "--out", str(OUT / "gateway"), "--listen", "0.0.0.0:8000",
            "--status-listen", "0.0.0.0:8100", *upstreams,
        ],
        cwd=gateway,
        check=True,
    )  # fmt: skip


def main() -> None:
    runner.bootstrap()
    OUT.mkdir(parents=True, exist_ok=True)
    env_file = OUT / "compose.env"
    env = read_env(env_file)
    env.pop("PLATFORM_GATEWAY_DIR", None)
    for name in runner.SERVICES:
        for secret in ("SECRET_KEY", "DB_PASSWORD", "BROKER_PASSWORD"):
            env.setdefault(f"{name.upper()}_{secret}", secrets.token_urlsafe(32))
    env.setdefault("POSTGRES_PASSWORD", secrets.token_urlsafe(32))
    keys = OUT / "keys" / "users"
    keys.mkdir(parents=True, exist_ok=True, mode=0o700)
    env["USERS_JWT_KEYS"], jwks = signing_keys(keys)
    env_file.touch(mode=0o600)
    # The rendered haproxy.cfg names its files by absolute path: mounted at the same one.
    env["PLATFORM_GATEWAY_DIR"] = str(OUT / "gateway")
    env_file.write_text("".join(f"{key}='{value}'\n" for key, value in sorted(env.items())))
    definitions = OUT / "rabbitmq" / "definitions.json"
    definitions.parent.mkdir(exist_ok=True)
    # Read by the broker's own user in its container: hashes only, no password.
    definitions.write_text(json.dumps(broker_definitions(env), indent=2) + "\n")
    render_gateway(jwks)
    runner.say(f"compose inputs in {OUT}: docker compose --env-file {env_file} ... up")


if __name__ == "__main__":
    main()
