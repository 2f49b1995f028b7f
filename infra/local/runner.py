#!/usr/bin/env python3
"""The no-container runner behind ``make up``: install, prepare and run the whole platform.

Standard library only, so it runs on a bare machine with nothing but python3.

    python3 infra/local/runner.py bootstrap   # venvs for tools, chassis and every service
    python3 infra/local/runner.py prepare     # databases, migrations, keys, demo staff
    python3 infra/local/runner.py up          # bootstrap + prepare + run, supervised
    python3 infra/local/runner.py down        # stop a running `up`
    python3 infra/local/runner.py destroy     # drop its databases, broker vhost and users
    python3 infra/local/runner.py manage catalog publish_products   # a service's manage.py,
                                                # with the environment `up` gives it

Everything it writes lives under ``var/`` (``PLATFORM_VAR`` overrides), except each part's
``.venv``. Backing services: PostgreSQL, RabbitMQ and Redis at their local defaults when they
answer, else SQLite files and the chassis's filesystem transport under ``var/``
(``PLATFORM_EMBEDDED=1`` forces that). Overrides: ``<SERVICE>_DATABASE_URL`` and
``<SERVICE>_PORT`` (USERS, CATALOG, ...: the registry's names), ``CELERY_BROKER_URL``,
``REDIS_URL``, ``PLATFORM_DB_PREFIX`` (database names), ``PLATFORM_BROKER_VHOST``,
``GUNICORN_WORKERS``, ``PLATFORM_STOP_GRACE_SECONDS``, ``SMTP_PORT`` (the local SMTP sink,
1025: ``<var>/mail/*.eml``), ``ORDERS_REQUIRE_VERIFIED_EMAIL`` (false here: a local demo),
``SCALE``.

Scale-out (``make up SCALE="orders=3 catalog=2"``, needs PostgreSQL and RabbitMQ): a service
scaled to N runs N web processes (gunicorn, each with ``GUNICORN_WORKERS`` workers: the first
on its registered port, the others on free ports, all in the gateway's backend for it,
round-robin) and N Celery workers; still one beat per service.

The services, their ports, prepare steps and event types are those of the service registry,
``infra/services.toml`` (read by ``registry.py``). Processes (``<var>/Procfile``, rendered at
every start from ``Procfile.template``: per service web, worker and one beat, plus the gateway)
run under the supervisor in ``supervise.py``: one that exits unexpectedly is restarted with
backoff, and given up (named, with its last lines) after repeated crashes. Ctrl-C or
``make down`` sends SIGTERM to all; the platform is stopped within
``PLATFORM_STOP_GRACE_SECONDS`` (30 by default: gunicorn's graceful timeout is 20 s) plus a
moment, and exits 0 when every process stopped on SIGTERM.

Prepare is one Django start per service (``manage.py prepare_service``), the three side by
side, and skips what is done (applied migrations, unchanged static files, existing keys,
staff and catalog), so a second start is quick.

Broker: on RabbitMQ, the platform has its own vhost and each service its own broker user
(``<vhost>.<service>``, password in ``var/secrets``), allowed its own queues, the events
exchange, and (topic permissions) to publish its own event types only. Without rabbitmqctl
(RabbitMQ in a container) it says so and every service uses guest in the default vhost.

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
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from ports import free_port
from procfile import write_procfile
from registry import load_services
from supervise import Supervisor, read_procfile

ROOT = Path(__file__).resolve().parents[2]
VAR = Path(os.environ.get("PLATFORM_VAR", ROOT / "var")).resolve()
TOOLS = ROOT / "var" / "tools"  # shared by every PLATFORM_VAR: it holds no state
WHEELS = ROOT / "var" / "wheels"
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
SMTP_PORT = int(os.environ.get("SMTP_PORT", "1025"))  # the local SMTP sink (mailsink.py)
# command -> Debian package; promtool checks the alert rules and the scrape configuration, the
# image tests (infra/containers) need the engine and the builder of the base image, the browser
# tests drive chromium through Playwright.
SYSTEM_PACKAGES = {
    "haproxy": "haproxy",
    "deck": "deck",
    "promtool": "prometheus",
    "dockerd": "docker.io",
    "debootstrap": "debootstrap",
    "chromium": "chromium",
}
# Packages are installed with their bytecode compiled: where PYTHONDONTWRITEBYTECODE is set (as
# on CI machines) nothing else writes it, and every process start (manage.py, gunicorn, each
# worker) compiled ~1100 modules again: about 2 s of CPU each. Changing this reinstalls.
INSTALL_FLAVOUR = "+bytecode"

# name -> directory, port, API, event types and prepare steps (after migrate): the registry.
SERVICES = load_services()


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
        ensure_venv(uv, ROOT / spec.dir, chassis_hash)


def ensure_system_packages() -> None:
    # dockerd and debootstrap live in /usr/sbin, off an ordinary user's PATH.
    path = f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin"
    missing = [pkg for cmd, pkg in SYSTEM_PACKAGES.items() if shutil.which(cmd, path=path) is None]
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
        say("installing tools (uv, ruff, pytest) into var/tools")
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
    wanted = tree_hash(lock) + chassis_hash + INSTALL_FLAVOUR
    if marker.exists() and marker.read_text() == wanted:
        return
    say(f"installing {part.name} into {part.name}/.venv")
    if not (venv / "bin" / "python").exists():
        run([uv, "venv", "--quiet", "--python", sys.executable, venv], quiet=True)
    env = {**os.environ, "VIRTUAL_ENV": str(venv)}
    sync = [uv, "pip", "sync", "--quiet", "--compile-bytecode", "--find-links", WHEELS, lock]
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


def rabbitmqctl_available() -> bool:
    return shutil.which("rabbitmqctl") is not None


def platform_env() -> dict[str, str]:
    """The environment every process gets: backing services chosen, plus local relaxations.

    On RabbitMQ with rabbitmqctl at hand, each service connects as its own broker user in the
    platform's vhost (created by ``prepare``: :func:`ensure_broker`); without rabbitmqctl (a
    broker in a container) every service uses guest in the default vhost, as said at start-up.
    """
    embedded = os.environ.get("PLATFORM_EMBEDDED") == "1"  # force SQLite + filesystem broker
    postgres, rabbit, redis = (
        (False, False, False) if embedded else (answers(5432), answers(5672), answers(6379))
    )
    override = os.environ.get("CELERY_BROKER_URL")
    accounts = rabbit and not override and bool(BROKER_VHOST) and rabbitmqctl_available()
    vhost = BROKER_VHOST if accounts else ""
    broker = override or (f"amqp://guest:guest@{HOST}:5672/{vhost}" if rabbit else "filesystem://")
    env = {
        "VAR_DIR": str(VAR),
        "PLATFORM_ID": PLATFORM_ID,
        "PLATFORM_BROKER_ACCOUNTS": "1" if accounts else "",
        "CELERY_BROKER_URL": broker,
        "REDIS_URL": os.environ.get("REDIS_URL") or (f"redis://{HOST}:6379/0" if redis else ""),
        # Platforms on one machine share Redis: each keeps its keys under its own prefix.
        "CACHE_KEY_PREFIX": f"{PLATFORM_ID}:",
        # Local runs speak plain HTTP on 127.0.0.1: no HTTPS redirect, no Secure cookies.
        "DEBUG": "false",
        "SECURE_SSL_REDIRECT": "false",
        "SECURE_COOKIES": "false",
        "SECURE_HSTS_SECONDS": "0",
        "ALLOWED_HOSTS": "localhost,127.0.0.1",
        "LOG_FORMAT": os.environ.get("LOG_FORMAT", "json"),
        "GUNICORN_WORKERS": os.environ.get("GUNICORN_WORKERS", "2"),
        "JWKS_URL": f"http://{HOST}:{SERVICES['users'].port}/.well-known/jwks.json",
        # Staff sign in to catalog/orders admins with their users-service account (SSO).
        "USERS_TOKEN_URL": f"http://{HOST}:{SERVICES['users'].port}/api/v1/auth/token",
        # Requests arrive through the gateway, which appends the client to X-Forwarded-For,
        # and catalog/orders' admin sign-in calls users-service: all of them on this machine.
        "TRUSTED_PROXIES": f"{HOST}/32",
        "GATEWAY_PORT": str(GATEWAY_PORT),
        "GATEWAY_STATUS_PORT": str(GATEWAY_STATUS_PORT),
        # Every service mails through the local SMTP sink (plain SMTP on 127.0.0.1); the links
        # in account mails point at the gateway, and orders takes orders from unverified
        # addresses in this local demo unless ORDERS_REQUIRE_VERIFIED_EMAIL=true is set.
        "SMTP_PORT": str(SMTP_PORT),
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": HOST,
        "EMAIL_PORT": str(SMTP_PORT),
        "EMAIL_USE_TLS": "false",
        "ACCOUNT_LINKS_BASE_URL": f"http://{HOST}:{GATEWAY_PORT}",
        "ORDERS_REQUIRE_VERIFIED_EMAIL": os.environ.get("ORDERS_REQUIRE_VERIFIED_EMAIL", "false"),
    }
    for name, spec in SERVICES.items():
        key = f"{name.upper()}_"
        env[key + "PORT"] = str(spec.port)
        env[key + "SECRET_KEY"] = secret(f"{name}-secret-key")
        env[key + "DATABASE_URL"] = os.environ.get(key + "DATABASE_URL") or (
            f"postgres://postgres@{HOST}:5432/{DB_PREFIX}{name}"
            if postgres
            else f"sqlite:///{VAR / f'{name}.sqlite3'}"
        )
        env[key + "JWT_KEYS_DIR"] = str(VAR / "keys" / name)
        # prometheus_client's multiprocess files of the service's web, worker and beat.
        env[key + "METRICS_DIR"] = str(VAR / "metrics" / name)
        env[key + "BROKER_URL"] = (
            f"amqp://{broker_user(name)}:{secret(f'broker-{name}')}@{HOST}:5672/{vhost}"
            if accounts
            else broker
        )
    env["_CHOICE"] = json.dumps(
        {
            "database": "PostgreSQL 127.0.0.1:5432" if postgres else f"SQLite files in {VAR}",
            "broker": (
                f"RabbitMQ 127.0.0.1:5672, vhost {vhost}, one user per service"
                if accounts
                else "RabbitMQ 127.0.0.1:5672"
                if broker.startswith("amqp")
                else f"filesystem transport (chassis.transport) in {VAR}/broker"
            ),
            "cache": "Redis 127.0.0.1:6379" if env["REDIS_URL"] else "in-process memory",
        }
    )
    if rabbit and not override and not accounts:
        env["_BROKER_NOTE"] = (
            "rabbitmqctl not found: every service connects as guest to the default vhost "
            "(no vhost of its own, no per-service broker users)"
        )
    return env


# --- the broker's accounts ---------------------------------------------------------------

# What a service's broker user may touch in the platform's vhost (RabbitMQ regexes on resource
# names): its own queues (``<service>``, ``<service>.events``, its workers' pidbox queues), the
# events exchange, the default exchange (retries go back to the service's own queue through it)
# and the exchanges/queues of Celery's remote control and worker events.
CELERY_RESOURCES = r"celery\.pidbox|reply\.celery\.pidbox|.+\.reply\.celery\.pidbox|celeryev(\..+)?"


def broker_user(service: str) -> str:
    """Broker users are per platform (their names are global in RabbitMQ, vhosts are not)."""
    return f"{BROKER_VHOST}.{service}"


def broker_permissions(service: str) -> dict[str, str]:
    own = rf"{re.escape(service)}(\..+)?"
    resources = rf"^({own}|platform\.events|{CELERY_RESOURCES})$"
    return {
        "configure": resources,
        "write": rf"^({own}|platform\.events|amq\.default|{CELERY_RESOURCES})$",
        "read": resources,
        # Topic permission on the events exchange: the routing key is the event type, so a
        # service publishes its own event types only (RabbitMQ refuses anything else).
        "topic_write": "^("
        + "|".join(re.escape(p) for p in SERVICES[service].publishes)
        + r")\..+$",
        "topic_read": ".*",
    }


def rabbitmqctl(*args: str, stdin: str | None = None) -> str:
    result = subprocess.run(
        ["rabbitmqctl", "-q", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if result.returncode != 0:
        sys.exit(f"rabbitmqctl {' '.join(args[:2])} failed: {result.stderr or result.stdout}")
    return result.stdout


def ensure_broker(env: dict[str, str]) -> None:
    """The platform's vhost, and one broker user per service with least privilege in it.

    A handful of rabbitmqctl calls (each starts an Erlang VM): list what exists, change only
    what differs. A user's password is (re)set when its secret under ``var/secrets`` is new.
    """
    if env.get("_BROKER_NOTE"):
        say(env["_BROKER_NOTE"])
    if not env["PLATFORM_BROKER_ACCOUNTS"]:
        return
    vhost = BROKER_VHOST
    if vhost not in rabbitmqctl("list_vhosts", "name").split():
        rabbitmqctl("add_vhost", vhost)
    # guest (the operator's account on a development machine) administers the vhost: the
    # system tests and `celery control` use it; the services never do.
    wanted = {"guest": {"configure": ".*", "write": ".*", "read": ".*"}}
    wanted.update({broker_user(name): broker_permissions(name) for name in SERVICES})
    users = {
        row.split("\t")[0] for row in rabbitmqctl("list_users", "--no-table-headers").splitlines()
    }
    permissions = {
        row.split("\t")[0]: row.split("\t")[1:]
        for row in rabbitmqctl("list_permissions", "-p", vhost, "--no-table-headers").splitlines()
        if row.strip()
    }
    topics = {
        row.split("\t")[0]: row.split("\t")[1:]
        for row in rabbitmqctl(
            "list_topic_permissions", "-p", vhost, "--no-table-headers"
        ).splitlines()
        if row.strip()
    }
    for name in SERVICES:
        user, marker = broker_user(name), VAR / "secrets" / f"broker-{name}.set"
        password = secret(f"broker-{name}")
        # The password on standard input: never on a command line (ps shows those).
        if user not in users:
            rabbitmqctl("add_user", user, stdin=password)
        elif not marker.exists():
            rabbitmqctl("change_password", user, stdin=password)
        marker.touch()
    for user, perms in wanted.items():
        triple = [perms["configure"], perms["write"], perms["read"]]
        if permissions.get(user) != triple:
            rabbitmqctl("set_permissions", "-p", vhost, user, *triple)
        if "topic_write" in perms:
            topic = ["platform.events", perms["topic_write"], perms["topic_read"]]
            if topics.get(user) != topic:
                rabbitmqctl("set_topic_permissions", "-p", vhost, user, *topic)


def destroy_broker() -> None:
    """Remove the platform's vhost and its service users (``runner.py destroy``)."""
    if not rabbitmqctl_available() or not BROKER_VHOST:
        return
    subprocess.run(["rabbitmqctl", "-q", "delete_vhost", BROKER_VHOST], capture_output=True)
    for name in SERVICES:
        subprocess.run(["rabbitmqctl", "-q", "delete_user", broker_user(name)], capture_output=True)


def service_env(name: str, env: dict[str, str]) -> dict[str, str]:
    key = f"{name.upper()}_"
    return {
        **os.environ,
        **env,
        "SECRET_KEY": env[key + "SECRET_KEY"],
        "DATABASE_URL": env[key + "DATABASE_URL"],
        "CELERY_BROKER_URL": env[key + "BROKER_URL"],
        "JWT_KEYS_DIR": env[key + "JWT_KEYS_DIR"],
    }


def scale_wanted() -> dict[str, int]:
    """``SCALE`` ("orders=3 catalog=2", spaces or commas): instances per service, 1 unless
    named. Exits naming what is wrong: an unknown service, a count outside 1-16."""
    wanted = dict.fromkeys(SERVICES, 1)
    for item in os.environ.get("SCALE", "").replace(",", " ").split():
        name, _, count = item.partition("=")
        if name not in SERVICES or not count.isdigit() or not 1 <= int(count) <= 16:
            sys.exit(f"SCALE: {item!r} is not <service>=<1-16> (services: {', '.join(SERVICES)})")
        wanted[name] = int(count)
    return wanted


def scale_out(env: dict[str, str], scale: dict[str, int]) -> None:
    """Ports for the extra web instances in ``env``: ``<NAME>_PORT_<i>`` from the environment,
    else a free one."""
    scaled = [name for name, count in scale.items() if count > 1]
    embedded = not env["CELERY_BROKER_URL"].startswith("amqp") or any(
        not env[f"{name.upper()}_DATABASE_URL"].startswith("postgres") for name in scaled
    )
    if scaled and embedded:
        sys.exit(
            "SCALE needs PostgreSQL and RabbitMQ: several processes writing one SQLite file "
            "and the filesystem broker is not what production runs"
        )
    for name, count in scale.items():
        for number in range(2, count + 1):
            key = f"{name.upper()}_PORT_{number}"
            env[key] = os.environ.get(key) or str(free_port())


def web_ports(name: str, env: dict[str, str]) -> list[int]:
    """Every web instance's port of a service: its own, then the scaled-out ones."""
    key, number, ports = f"{name.upper()}_PORT", 2, [SERVICES[name].port]
    while f"{key}_{number}" in env:
        ports.append(int(env[f"{key}_{number}"]))
        number += 1
    return ports


# --- prepare / up / down -----------------------------------------------------------------


def prepare(env: dict[str, str]) -> None:
    """Every service's database, migrations, static files, event queues and own steps: one
    Django start per service (``manage.py prepare_service``, which skips what is done), the
    services side by side."""
    say("preparing " + ", ".join(SERVICES) + ": database, migrations, static files, event queues")
    running = {}
    for name, spec in SERVICES.items():
        part = ROOT / spec.dir
        steps = [
            "--step=" + shlex.join(a.format(var=VAR) for a in command) for command in spec.prepare
        ]
        running[name] = subprocess.Popen(
            [part / ".venv" / "bin" / "python", "manage.py", "prepare_service", *steps, "-v", "1"],
            cwd=part,
            env=service_env(name, env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    failed = []
    for name, process in running.items():
        output, _ = process.communicate()
        for line in output.splitlines():
            print(f"  {name}: {line}")
        if process.returncode != 0:
            failed.append(name)
    if failed:
        sys.exit(f"preparing {', '.join(failed)} failed (output above)")


def render_gateway(env: dict[str, str]) -> None:
    """Render gateway-config/kong.yml with users-service's current public keys (its JWKS).

    ``GATEWAY_KONG_FILE`` renders another declarative file instead (the benchmark's copy).
    """
    kong_file = Path(os.environ.get("GATEWAY_KONG_FILE", ROOT / "gateway-config" / "kong.yml"))
    shown = kong_file.relative_to(ROOT) if kong_file.is_relative_to(ROOT) else kong_file
    say(f"rendering the gateway from {shown}")
    users = ROOT / SERVICES["users"].dir
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
    upstreams = [
        f"--upstream={spec.dir}=" + ",".join(f"{HOST}:{port}" for port in web_ports(name, env))
        for name, spec in SERVICES.items()
    ]
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
    for name, spec in SERVICES.items():
        print(
            f"  {name:<9} API {gateway}{spec.api}   admin {gateway}/admin/{name}/   "
            f"docs {gateway}/docs/{name}/"
        )
    print(f"  metrics   http://{HOST}:{GATEWAY_STATUS_PORT}/metrics (gateway, Kong's names)")
    print(f"            http://{HOST}:<service port>/metrics (each service, not via the gateway)")
    print(f"  gateway access log: {VAR / 'log' / 'gateway-access.log'}")
    print(f"Mail (SMTP sink {HOST}:{SMTP_PORT}): every message is a file in {VAR / 'mail'}/*.eml")
    direct = ", ".join(
        f"{name} " + " ".join(f"http://{HOST}:{port}" for port in web_ports(name, env))
        for name in SERVICES
    )
    print(f"Services directly (health probes, debugging): {direct}")
    scaled = {n: c for n, c in scale_wanted().items() if c > 1}
    if scaled:
        print(
            "Scaled out: "
            + ", ".join(f"{n} {c} web + {c} worker processes" for n, c in scaled.items())
            + " (one beat per service)"
        )
    print(f"Demo staff account: admin@example.com / {password}")
    roles = sorted((VAR / "demo-accounts").glob("*@*"))  # users-service's ensure_demo_roles
    for path in roles:
        print(f"  role account: {path.name} / {path.read_text().strip()}")
    print("Ctrl-C stops everything.")
    print("=" * 72 + "\n", flush=True)


STOP_GRACE = float(os.environ.get("PLATFORM_STOP_GRACE_SECONDS", "30"))


def up() -> None:
    bootstrap()
    env = platform_env()
    say("backing services: " + ", ".join(f"{k}={v}" for k, v in json.loads(env["_CHOICE"]).items()))
    scale = scale_wanted()
    scale_out(env, scale)
    ensure_broker(env)
    prepare(env)
    render_gateway(env)
    ports = [p for name in SERVICES for p in web_ports(name, env)]
    ports += [GATEWAY_PORT, GATEWAY_STATUS_PORT, SMTP_PORT]
    busy = [str(port) for port in ports if answers(port)]
    if busy:
        sys.exit(f"port(s) {', '.join(busy)} already in use: is the platform running? (make down)")
    metrics_dirs_reset(env)
    summary(env)
    pidfile = VAR / "run" / "platform.pid"
    pidfile.parent.mkdir(parents=True, exist_ok=True)
    pidfile.write_text(str(os.getpid()))
    supervisor = Supervisor(
        read_procfile(write_procfile(VAR, SERVICES.values(), scale)),
        env={**os.environ, **env, "PATH": f"{TOOLS / 'bin'}:{os.environ['PATH']}"},
        cwd=ROOT,
        grace=STOP_GRACE,
    )
    try:
        code = supervisor.run()
    finally:
        pidfile.unlink(missing_ok=True)
    sys.exit(code)


def metrics_dirs_reset(env: dict[str, str]) -> None:
    """Empty each service's metrics directory before its processes start: files left by a
    previous run's processes would be summed into this run's counters."""
    for name in SERVICES:
        directory = Path(env[f"{name.upper()}_METRICS_DIR"])
        shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir(parents=True)


def down() -> None:
    """Stop a platform started by ``up`` (SIGTERM to its runner) and wait for it to finish."""
    pidfile = VAR / "run" / "platform.pid"
    if not pidfile.exists():
        print(f"the platform is not running (no {pidfile})")
        return
    pid = int(pidfile.read_text())
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        pidfile.unlink(missing_ok=True)
        print("the platform was not running")
        return
    deadline = time.monotonic() + STOP_GRACE + 15
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            print("platform stopped")
            return
        time.sleep(0.2)
    sys.exit(f"the platform (pid {pid}) is still running {STOP_GRACE + 15:.0f} s after SIGTERM")


def destroy() -> None:
    """Drop what ``prepare`` created outside ``var/``: the databases (PostgreSQL) and the broker's
    vhost and users. For test and benchmark platforms (their own prefix and vhost)."""
    env = platform_env()
    for name in SERVICES:
        url = env[f"{name.upper()}_DATABASE_URL"]
        if url.startswith("postgres://"):
            database = url.rsplit("/", 1)[1]
            subprocess.run(
                [
                    "psql",
                    "-h",
                    HOST,
                    "-U",
                    "postgres",
                    "-qtA",
                    "-c",
                    f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)',
                ],
                capture_output=True,
                check=False,
            )
    destroy_broker()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "command", choices=["bootstrap", "prepare", "up", "down", "env", "manage", "destroy"]
    )
    parser.add_argument("service", nargs="?", choices=sorted(SERVICES), help="(manage)")
    parser.add_argument("arguments", nargs=argparse.REMAINDER, help="(manage) its arguments")
    args = parser.parse_args()
    if args.command == "manage":
        if not args.service or not args.arguments:
            parser.error("manage needs a service and a manage.py command")
        part = ROOT / SERVICES[args.service].dir
        env = service_env(args.service, platform_env())
        command = [str(part / ".venv" / "bin" / "python"), "manage.py", *args.arguments]
        sys.exit(subprocess.run(command, cwd=part, env=env, check=False).returncode)
    if args.command == "bootstrap":
        bootstrap()
    elif args.command == "prepare":
        bootstrap()
        env = platform_env()
        ensure_broker(env)
        prepare(env)
        render_gateway(env)
    elif args.command == "env":
        for key, value in sorted(platform_env().items()):
            hidden = key.endswith("SECRET_KEY") or (key.endswith("BROKER_URL") and "@" in value)
            print(f"{key}={'(hidden)' if hidden else value}")
    elif args.command == "up":
        up()
    elif args.command == "destroy":
        destroy()
    else:
        down()


if __name__ == "__main__":
    main()
