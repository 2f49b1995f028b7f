#!/usr/bin/env python3
"""The no-container runner behind ``make up``: install, prepare and run the whole platform.

Standard library only, so it runs on a bare machine with nothing but python3.

    python3 infra/local/platform.py bootstrap   # venvs for tools, chassis and every service
    python3 infra/local/platform.py prepare     # databases, migrations, keys, demo staff
    python3 infra/local/platform.py up          # bootstrap + prepare + run under honcho
    python3 infra/local/platform.py down        # stop a running `up`
    python3 infra/local/platform.py manage catalog publish_products   # a service's manage.py,
                                                # with the environment `up` gives it

Everything it writes lives under ``var/`` (``PLATFORM_VAR`` overrides), except each part's
``.venv``. Backing services: PostgreSQL, RabbitMQ and Redis at their local defaults when they
answer, else SQLite files and the chassis's filesystem transport under ``var/``
(``PLATFORM_EMBEDDED=1`` forces that). Overrides: ``<SERVICE>_DATABASE_URL`` and
``<SERVICE>_PORT`` (USERS, CATALOG, ORDERS), ``CELERY_BROKER_URL``, ``REDIS_URL``,
``PLATFORM_DB_PREFIX`` (database names), ``PLATFORM_BROKER_VHOST``, ``GUNICORN_WORKERS``.

Events: every service with ``chassis.events`` installed gets ``manage.py events_setup`` in
prepare (the ``platform.events`` exchange, its queues and their bindings), before any worker
or relay runs, so no event is published to an exchange that does not route it yet. On
RabbitMQ the topology lives in the platform's vhost; on the filesystem transport the bindings
are files under ``var/broker/control`` that every process reads, so events flow there too.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VAR = Path(os.environ.get("PLATFORM_VAR", ROOT / "var")).resolve()
TOOLS = ROOT / "var" / "tools"  # shared by every PLATFORM_VAR: it holds no state
WHEELS = ROOT / "var" / "wheels"
PROCFILE = ROOT / "infra" / "local" / "Procfile"
TOOLS_LOCK = ROOT / "infra" / "requirements.lock"
DB_PREFIX = os.environ.get("PLATFORM_DB_PREFIX", "")
# A RabbitMQ virtual host of its own keeps a platform from sharing queues with another one
# (tests, benchmarks) or with the services' own test suites, which publish events to the
# default vhost; created with rabbitmqctl when it is missing (else the default vhost is used).
BROKER_VHOST = os.environ.get("PLATFORM_BROKER_VHOST", "platform")
# Names this instance (Celery node names must be unique per broker).
PLATFORM_ID = hashlib.sha256(str(VAR).encode()).hexdigest()[:8]
HOST = "127.0.0.1"
GATEWAY_PORT = int(os.environ.get("GATEWAY_PORT", "8000"))
GATEWAY_STATUS_PORT = int(os.environ.get("GATEWAY_STATUS_PORT", "8100"))
SYSTEM_PACKAGES = {"haproxy": "haproxy", "deck": "deck"}  # command -> Debian package

# name -> directory, port, and the manage.py commands that prepare it (after migrate).
SERVICES: dict[str, dict] = {
    "users": {
        "dir": "users-service",
        "port": int(os.environ.get("USERS_PORT", "8101")),
        "prepare": [
            ["jwt_keys", "--dir", "{var}/keys/users", "--ensure", "2"],
            [
                "ensure_demo_staff",
                "--email",
                "admin@example.com",
                "--password-file",
                "{var}/demo-staff-password",
            ],
        ],
    },
    "catalog": {
        "dir": "catalog-service",
        "port": int(os.environ.get("CATALOG_PORT", "8102")),
        # A demo catalog the first time (a no-op once there are products).
        "prepare": [["seed_catalog", "--products", "200", "--if-empty", "--no-progress"]],
    },
    "orders": {
        "dir": "orders-service",
        "port": int(os.environ.get("ORDERS_PORT", "8103")),
        "prepare": [],
    },
}


def say(message: str) -> None:
    print(f"\033[1m==> {message}\033[0m", flush=True)


def run(cmd: list[str], *, cwd: Path = ROOT, env: dict | None = None, quiet: bool = False) -> None:
    result = subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE if quiet else None,
        stderr=subprocess.STDOUT if quiet else None,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        if quiet and result.stdout:
            print(result.stdout, file=sys.stderr)
        sys.exit(f"command failed ({result.returncode}): {' '.join(map(str, cmd))}")


def tree_hash(*paths: Path) -> str:
    digest = hashlib.sha256()
    for base in paths:
        files = (
            [base]
            if base.is_file()
            else sorted(
                p
                for p in base.rglob("*")
                if p.is_file()
                and ".venv" not in p.parts
                and "__pycache__" not in p.parts
                and ".egg-info" not in str(p)
                and "build" not in p.parts
            )
        )
        for path in files:
            digest.update(str(path.relative_to(ROOT)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


# --- bootstrap ---------------------------------------------------------------------------


def bootstrap() -> None:
    """Install what is missing (Debian packages, virtual environments); else a no-op."""
    ensure_system_packages()
    uv = ensure_tools()
    chassis_hash = tree_hash(ROOT / "chassis" / "src", ROOT / "chassis" / "pyproject.toml")
    ensure_chassis_wheel(uv, chassis_hash)
    ensure_venv(uv, ROOT / "chassis", chassis_hash, editable="-e.")
    ensure_venv(uv, ROOT / "gateway-config", "", pins_chassis=False)
    for spec in SERVICES.values():
        ensure_venv(uv, ROOT / spec["dir"], chassis_hash)


def ensure_system_packages() -> None:
    missing = [pkg for cmd, pkg in SYSTEM_PACKAGES.items() if shutil.which(cmd) is None]
    if not missing:
        return
    say(f"installing Debian packages: {' '.join(missing)}")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    if sudo and shutil.which("sudo") is None:
        sys.exit(f"please install the Debian packages {' '.join(missing)} (apt-get install)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run([*sudo, "apt-get", "update", "-qq"], env=env, quiet=True)
    run(
        [*sudo, "apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
        env=env,
        quiet=True,
    )


def ensure_tools() -> Path:
    marker = TOOLS / ".lock-hash"
    wanted = tree_hash(TOOLS_LOCK)
    if not (marker.exists() and marker.read_text() == wanted):
        say("installing tools (uv, honcho, ruff, pytest) into var/tools")
        run([sys.executable, "-m", "venv", "--clear", TOOLS], quiet=True)
        run(
            [TOOLS / "bin" / "pip", "install", "-q", "--no-deps", "-r", TOOLS_LOCK],
            quiet=True,
        )
        marker.write_text(wanted)
    return TOOLS / "bin" / "uv"


def ensure_chassis_wheel(uv: Path, chassis_hash: str) -> None:
    marker = WHEELS / ".chassis-hash"
    if marker.exists() and marker.read_text() == chassis_hash:
        return
    say("building the chassis wheel")
    WHEELS.mkdir(parents=True, exist_ok=True)
    for old in WHEELS.glob("platform_chassis-*.whl"):
        old.unlink()
    run(
        [uv, "build", "--wheel", "--quiet", "--out-dir", WHEELS, ROOT / "chassis"],
        quiet=True,
    )
    marker.write_text(chassis_hash)


def ensure_venv(
    uv: Path, part: Path, chassis_hash: str, editable: str | None = None, pins_chassis: bool = True
) -> None:
    lock = part / "requirements-dev.lock"
    venv = part / ".venv"
    marker = venv / ".platform-hash"
    wanted = tree_hash(lock) + chassis_hash
    if marker.exists() and marker.read_text() == wanted:
        return
    say(f"installing {part.name} into {part.name}/.venv")
    if not (venv / "bin" / "python").exists():
        run([uv, "venv", "--quiet", "--python", sys.executable, venv], quiet=True)
    env = {**os.environ, "VIRTUAL_ENV": str(venv)}
    sync = [uv, "pip", "sync", "--quiet", "--find-links", WHEELS, lock]
    if editable is None and pins_chassis:
        sync += ["--reinstall-package", "platform-chassis"]
    run(sync, cwd=part, env=env, quiet=True)
    if editable:
        run(
            [uv, "pip", "install", "--quiet", "--no-deps", editable],
            cwd=part,
            env=env,
            quiet=True,
        )
    marker.write_text(wanted)


# --- environment -------------------------------------------------------------------------


def answers(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1):
            return True
    except OSError:
        return False


def secret(name: str) -> str:
    path = VAR / "secrets" / name
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


def platform_env() -> dict[str, str]:
    """The environment every process gets: backing services chosen, plus local relaxations."""
    embedded = os.environ.get("PLATFORM_EMBEDDED") == "1"  # force SQLite + filesystem broker
    postgres, rabbit, redis = (
        (False, False, False) if embedded else (answers(5432), answers(5672), answers(6379))
    )
    vhost = BROKER_VHOST if rabbit and BROKER_VHOST and ensure_vhost(BROKER_VHOST) else ""
    broker = os.environ.get("CELERY_BROKER_URL") or (
        f"amqp://guest:guest@{HOST}:5672/{vhost}" if rabbit else "filesystem://"
    )
    env = {
        "VAR_DIR": str(VAR),
        "PLATFORM_ID": PLATFORM_ID,
        "CELERY_BROKER_URL": broker,
        "REDIS_URL": os.environ.get("REDIS_URL") or (f"redis://{HOST}:6379/0" if redis else ""),
        # Local runs speak plain HTTP on 127.0.0.1: no HTTPS redirect, no Secure cookies.
        "DEBUG": "false",
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_COOKIES": "false",
        "SECURE_HSTS_SECONDS": "0",
        "ALLOWED_HOSTS": "localhost,127.0.0.1",
        "LOG_FORMAT": os.environ.get("LOG_FORMAT", "json"),
        "GUNICORN_WORKERS": os.environ.get("GUNICORN_WORKERS", "2"),
        "JWKS_URL": f"http://{HOST}:{SERVICES['users']['port']}/.well-known/jwks.json",
        # Staff sign in to catalog/orders admins with their users-service account (SSO).
        "USERS_TOKEN_URL": f"http://{HOST}:{SERVICES['users']['port']}/api/v1/auth/token",
        # Requests arrive through the gateway, which appends the client to X-Forwarded-For.
        "NUM_PROXIES": "1",
        "GATEWAY_PORT": str(GATEWAY_PORT),
        "GATEWAY_STATUS_PORT": str(GATEWAY_STATUS_PORT),
    }
    for name, spec in SERVICES.items():
        key = f"{name.upper()}_"
        env[key + "PORT"] = str(spec["port"])
        env[key + "SECRET_KEY"] = secret(f"{name}-secret-key")
        env[key + "DATABASE_URL"] = os.environ.get(key + "DATABASE_URL") or (
            f"postgres://postgres@{HOST}:5432/{DB_PREFIX}{name}"
            if postgres
            else f"sqlite:///{VAR / f'{name}.sqlite3'}"
        )
        env[key + "JWT_KEYS_DIR"] = str(VAR / "keys" / name)
    env["_CHOICE"] = json.dumps(
        {
            "database": "PostgreSQL 127.0.0.1:5432" if postgres else f"SQLite files in {VAR}",
            "broker": "RabbitMQ 127.0.0.1:5672"
            if broker.startswith("amqp")
            else f"filesystem transport (chassis.transport) in {VAR}/broker",
            "cache": "Redis 127.0.0.1:6379" if env["REDIS_URL"] else "in-process memory",
        }
    )
    return env


def ensure_vhost(vhost: str) -> bool:
    """Create the RabbitMQ virtual host if missing; False (default vhost) without rabbitmqctl."""
    if shutil.which("rabbitmqctl") is None:
        say(f"rabbitmqctl not found: using the default vhost instead of {vhost}")
        return False
    listed = subprocess.run(
        ["rabbitmqctl", "-q", "list_vhosts"], capture_output=True, text=True, check=False
    )
    if vhost not in listed.stdout.split():
        run(["rabbitmqctl", "-q", "add_vhost", vhost], quiet=True)
        run(
            ["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
            quiet=True,
        )
    return True


def service_env(name: str, env: dict[str, str]) -> dict[str, str]:
    key = f"{name.upper()}_"
    return {
        **os.environ,
        **env,
        "SECRET_KEY": env[key + "SECRET_KEY"],
        "DATABASE_URL": env[key + "DATABASE_URL"],
        "JWT_KEYS_DIR": env[key + "JWT_KEYS_DIR"],
    }


# --- prepare / up / down -----------------------------------------------------------------


def uses_events(part: Path) -> bool:
    """Whether the service installs chassis.events (its settings name the app)."""
    return '"chassis.events"' in (part / "config" / "settings.py").read_text()


def prepare(env: dict[str, str]) -> None:
    for name, spec in SERVICES.items():
        part = ROOT / spec["dir"]
        python = part / ".venv" / "bin" / "python"
        senv = service_env(name, env)
        events = ["events_setup"] if uses_events(part) else []
        steps = "database, migrations, static files" + (", event queues" if events else "")
        say(f"preparing {name}: {steps}")
        for command in (
            ["ensure_database"],
            ["migrate", "--no-input"],
            ["collectstatic", "--no-input"],
            *([events] if events else []),
            *spec["prepare"],
        ):
            args = [a.format(var=VAR) for a in command]
            run(
                [
                    python,
                    "manage.py",
                    *args,
                    "-v",
                    "0" if args[0] != "jwt_keys" else "1",
                ],
                cwd=part,
                env=senv,
                quiet=args[0] in ("migrate", "collectstatic", "events_setup"),
            )


def render_gateway(env: dict[str, str]) -> None:
    """Render gateway-config/kong.yml with users-service's current public keys (its JWKS).

    ``GATEWAY_KONG_FILE`` renders another declarative file instead (the benchmark's copy).
    """
    kong_file = Path(os.environ.get("GATEWAY_KONG_FILE", ROOT / "gateway-config" / "kong.yml"))
    shown = kong_file.relative_to(ROOT) if kong_file.is_relative_to(ROOT) else kong_file
    say(f"rendering the gateway from {shown}")
    users = ROOT / SERVICES["users"]["dir"]
    jwks = subprocess.run(
        [users / ".venv" / "bin" / "python", "manage.py", "jwt_keys", "--jwks"],
        cwd=users,
        env=service_env("users", env),
        capture_output=True,
        text=True,
        check=False,
    )
    if jwks.returncode != 0:
        sys.exit(f"cannot read users-service's JWKS:\n{jwks.stderr}")
    jwks_file = VAR / "keys" / "users.jwks.json"
    jwks_file.write_text(jwks.stdout)
    gateway = ROOT / "gateway-config"
    upstreams = [f"--upstream={spec['dir']}={HOST}:{spec['port']}" for spec in SERVICES.values()]
    run(
        [
            gateway / ".venv" / "bin" / "python",
            "-m",
            "gateway",
            "render",
            "--kong",
            kong_file.resolve(),
            "--jwks",
            jwks_file,
            "--out",
            VAR / "gateway",
            "--listen",
            f"{HOST}:{GATEWAY_PORT}",
            "--status-listen",
            f"{HOST}:{GATEWAY_STATUS_PORT}",
            *upstreams,
        ],
        cwd=gateway,
        quiet=True,
    )
    run(["haproxy", "-c", "-q", "-f", VAR / "gateway" / "haproxy.cfg"], quiet=True)


def summary(env: dict[str, str]) -> None:
    choice = json.loads(env["_CHOICE"])
    password = (VAR / "demo-staff-password").read_text().strip()
    print("\n" + "=" * 72)
    print("Platform backing services:")
    for what, where in choice.items():
        print(f"  {what:<9} {where}")
    gateway = f"http://{HOST}:{GATEWAY_PORT}"
    print(f"Reach it through the gateway: {gateway}")
    for name in SERVICES:
        print(
            f"  {name:<9} API {gateway}/api/v1/   admin {gateway}/admin/{name}/   "
            f"docs {gateway}/docs/{name}/"
        )
    print(f"  metrics   http://{HOST}:{GATEWAY_STATUS_PORT}/metrics (gateway, Prometheus)")
    print(f"  gateway access log: {VAR / 'log' / 'gateway-access.log'}")
    direct = ", ".join(f"{name} http://{HOST}:{spec['port']}" for name, spec in SERVICES.items())
    print(f"Services directly (health probes, debugging): {direct}")
    print(f"Demo staff account: admin@example.com / {password}")
    print("Ctrl-C stops everything.")
    print("=" * 72 + "\n", flush=True)


def up() -> None:
    bootstrap()
    env = platform_env()
    say("backing services: " + ", ".join(f"{k}={v}" for k, v in json.loads(env["_CHOICE"]).items()))
    prepare(env)
    render_gateway(env)
    ports = [s["port"] for s in SERVICES.values()] + [GATEWAY_PORT, GATEWAY_STATUS_PORT]
    busy = [str(port) for port in ports if answers(port)]
    if busy:
        sys.exit(f"port(s) {', '.join(busy)} already in use: is the platform running? (make down)")
    summary(env)
    pidfile = VAR / "run" / "honcho.pid"
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    honcho = subprocess.Popen(
        [TOOLS / "bin" / "honcho", "-f", PROCFILE, "-d", ROOT, "start"],
        env={**os.environ, **env, "PATH": f"{TOOLS / 'bin'}:{os.environ['PATH']}"},
        start_new_session=True,
    )
    pidfile.write_text(str(honcho.pid))

    def forward(signum: int, _frame: object) -> None:
        honcho.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    try:
        code = honcho.wait()
    finally:
        pidfile.unlink(missing_ok=True)
    sys.exit(0 if code in (0, -signal.SIGTERM, 128 + signal.SIGTERM) else code)


def down() -> None:
    pidfile = VAR / "run" / "honcho.pid"
    if not pidfile.exists():
        print("the platform is not running (no var/run/honcho.pid)")
        return
    pid = int(pidfile.read_text())
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pidfile.unlink(missing_ok=True)
        print("the platform was not running")
        return
    for _ in range(100):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    print("platform stopped")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["bootstrap", "prepare", "up", "down", "env", "manage"])
    parser.add_argument("service", nargs="?", choices=sorted(SERVICES), help="(manage)")
    parser.add_argument("arguments", nargs=argparse.REMAINDER, help="(manage) its arguments")
    args = parser.parse_args()
    if args.command == "manage":
        if not args.service or not args.arguments:
            parser.error("manage needs a service and a manage.py command")
        part = ROOT / SERVICES[args.service]["dir"]
        env = service_env(args.service, platform_env())
        command = [str(part / ".venv" / "bin" / "python"), "manage.py", *args.arguments]
        sys.exit(subprocess.run(command, cwd=part, env=env, check=False).returncode)
    if args.command == "bootstrap":
        bootstrap()
    elif args.command == "prepare":
        bootstrap()
        env = platform_env()
        prepare(env)
        render_gateway(env)
    elif args.command == "env":
        for key, value in sorted(platform_env().items()):
            print(f"{key}={'(hidden)' if key.endswith('SECRET_KEY') else value}")
    elif args.command == "up":
        up()
    else:
        down()


if __name__ == "__main__":
    main()
