#!/usr/bin/env python3
"""The platform run from its images, on this machine's PostgreSQL, RabbitMQ and Redis.

    python3 infra/containers/run.py up      # build, prepare, run; Ctrl-C stops everything

What ``make up`` runs as processes, run as containers of the service images
(``images.py``): per service a one-shot migrate container (``manage.py prepare_service``:
database, migrations, event queues, the registry's prepare steps), then web (gunicorn),
worker and beat containers; the gateway is HAProxy rendered from ``kong.yml`` on the host, as
with ``make up``, and so is the SMTP sink the services mail through (``<var>/mail/*.eml``).
Every container uses the host's network (all traffic on 127.0.0.1: the engine is set up with
no bridge, ``engine.py``), runs as uid 10001 with a read-only root filesystem (a tmpfs on
``/tmp``), no capability and no privilege escalation.

The environment is the runner's (``infra/local/runner.py``, same overrides: ``PLATFORM_VAR``,
``PLATFORM_DB_PREFIX``, ``PLATFORM_BROKER_VHOST``, ``<SERVICE>_PORT``, ``GATEWAY_PORT``, ...):
the platform's own databases, vhost, per-service broker users and Redis key prefix. Each
container gets its own service's variables only, from an env file under ``<var>/containers``.
Keys and the demo staff password live in ``<var>/state`` (owned by uid 10001), mounted at
``/var/lib/platform``: read-write for migrate (which creates them), read-only for the others.
Ctrl-C or SIGTERM: the gateway stops, then ``docker stop`` gives every container up to 30 s
(gunicorn's graceful timeout is 20 s; a Celery worker finishes its task); it exits 0 when
every container exited 0. Standard library only.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "local"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
import runner
from images import build_all

STATE = "/var/lib/platform"  # the platform's state inside the containers
APP_UID = 10001  # the images' user
STOP_TIMEOUT = 30
TMP = "/tmp"  # noqa: S108 - in the container: its own tmpfs
ROLES = ("web", "worker", "beat")


def say(message: str) -> None:
    runner.say(message)


def container_name(service: str, role: str) -> str:
    return f"platform-{runner.PLATFORM_ID}-{service}-{role}"


def container_env(name: str, env: dict[str, str]) -> dict[str, str]:
    """What one service's containers get: the variables of its ``.env.example`` set in this
    process's environment (as ``make up``'s processes inherit them: limits, throttles), the
    platform's common ones, and its own database, secret key, broker account and keys."""
    spec = runner.SERVICES[name]
    documented = {
        line.split("=", 1)[0]
        for line in (runner.ROOT / spec.dir / ".env.example").read_text().splitlines()
        if "=" in line and not line.startswith("#")
    }
    inherited = {k: v for k, v in os.environ.items() if k in documented}
    own = {
        s.env_prefix + suffix
        for s in runner.SERVICES.values()
        for suffix in ("PORT", "SECRET_KEY", "DATABASE_URL", "BROKER_URL", "JWT_KEYS_DIR")
    }  # every service's own: given to it alone, under the plain names
    common = {k: v for k, v in env.items() if not k.startswith("_") and k not in own}
    key = spec.env_prefix
    return {
        **inherited,
        **common,
        "VAR_DIR": "/app/var",  # the image's collected static files
        "SECRET_KEY": env[key + "SECRET_KEY"],
        "DATABASE_URL": env[key + "DATABASE_URL"],
        "CELERY_BROKER_URL": env[key + "BROKER_URL"],
        "JWT_KEYS_DIR": f"{STATE}/keys/{name}",
    }


def write_env_file(name: str, env: dict[str, str]) -> Path:
    path = runner.VAR / "containers" / f"{name}.env"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text("".join(f"{k}={v}\n" for k, v in sorted(container_env(name, env).items())))
    return path


def state_dir() -> Path:
    state = runner.VAR / "state"
    state.mkdir(parents=True, exist_ok=True)
    state.chmod(0o700)
    if os.geteuid() == 0:
        os.chown(state, APP_UID, APP_UID)
    elif state.stat().st_uid != APP_UID:
        sys.exit(f"{state} must belong to uid {APP_UID} (the images' user): chown it")
    return state


def docker_run(
    name: str, role: str, image: str, env_file: Path, command: list[str], *, detach: bool = True
) -> list[str]:
    """The ``docker run`` command line of one container of ``name``."""
    writable = role == "migrate"
    options = [
        "docker", "run", "--name", container_name(name, role),
        "--label", f"platform.id={runner.PLATFORM_ID}",
        "--network", "host", "--read-only", "--tmpfs", f"{TMP}:rw,nosuid,nodev,size=256m",
        "--cap-drop", "ALL", "--security-opt", "no-new-privileges",
        "--user", f"{APP_UID}:{APP_UID}", "--env-file", str(env_file),
        "--volume", f"{runner.VAR / 'state'}:{STATE}:{'rw' if writable else 'ro'}",
        "--stop-timeout", str(STOP_TIMEOUT),
    ]  # fmt: skip
    if role == "web":
        port = runner.SERVICES[name].port
        options += ["--env", f"GUNICORN_BIND={runner.HOST}:{port}"]
    else:
        options += ["--no-healthcheck"]
    if role == "migrate":
        options += ["--rm", "--env", f"VAR_DIR={TMP}/var"]  # static files: the image has them
    if detach:
        options.append("--detach")
    return [*options, image, *command]


def commands(name: str) -> dict[str, list[str]]:
    spec = runner.SERVICES[name]
    steps = ["--step=" + shlex.join(a.format(var=STATE) for a in step) for step in spec.prepare]
    return {
        "migrate": ["python", "manage.py", "prepare_service", *steps, "-v", "1"],
        "web": ["gunicorn", "-c", "gunicorn.conf.py", "config.wsgi"],
        "worker": [
            "celery", "-A", "config", "worker", "--hostname", f"{name}.{runner.PLATFORM_ID}@%h",
            "--concurrency", "2", "--loglevel", "INFO",
        ],
        "beat": ["celery", "-A", "config", "beat", "--schedule", f"{TMP}/celerybeat-{name}",
                 "--loglevel", "INFO"],
    }  # fmt: skip


def remove(names: list[str]) -> None:
    if names:
        subprocess.run(["docker", "rm", "--force", *names], capture_output=True, check=False)


def migrate(images: dict[str, str], env_files: dict[str, Path]) -> None:
    """The one-shot migrate container of every service, side by side."""
    say("migrating " + ", ".join(images) + " (one-shot containers)")
    remove([container_name(name, "migrate") for name in images])
    running = {
        name: subprocess.Popen(
            docker_run(name, "migrate", image, env_files[name], commands(name)["migrate"],
                       detach=False),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name, image in images.items()
    }  # fmt: skip
    failed = []
    for name, process in running.items():
        output, _ = process.communicate()
        for line in output.splitlines():
            print(f"  {name}-migrate: {line}", flush=True)
        if process.returncode != 0:
            failed.append(name)
    if failed:
        sys.exit(f"migrating {', '.join(failed)} failed (output above)")


def follow(container: str) -> subprocess.Popen:
    """Its log lines, prefixed with its name, on this process's output."""
    label = container.removeprefix(f"platform-{runner.PLATFORM_ID}-")
    process = subprocess.Popen(
        ["docker", "logs", "--follow", container],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )

    def relay() -> None:
        assert process.stdout
        for line in process.stdout:
            print(f"{label} | {line}", end="", flush=True)

    threading.Thread(target=relay, daemon=True).start()
    return process


def exit_code(container: str) -> int:
    inspect = subprocess.run(
        ["docker", "inspect", "--format", "{{.State.ExitCode}}", container],
        capture_output=True,
        text=True,
        check=False,
    )
    return int(inspect.stdout.strip() or -1)


def up() -> None:
    runner.bootstrap()
    env = runner.platform_env()
    if not env["PLATFORM_BROKER_ACCOUNTS"] or not env["REDIS_URL"]:
        sys.exit("the containers need the local PostgreSQL, RabbitMQ (with rabbitmqctl) and Redis")
    if any("sqlite" in env[s.env_prefix + "DATABASE_URL"] for s in runner.SERVICES.values()):
        sys.exit("the containers need the local PostgreSQL")
    started = time.monotonic()
    images = build_all([])
    say(f"images ready in {time.monotonic() - started:.0f} s")
    runner.ensure_broker(env)
    state = state_dir()
    env["USERS_JWT_KEYS_DIR"] = str(state / "keys" / "users")  # the gateway renders from these
    env_files = {name: write_env_file(name, env) for name in images}
    migrate(images, env_files)
    (runner.VAR / "keys").mkdir(exist_ok=True)  # the gateway's copy of the JWKS
    runner.render_gateway(env)
    containers = [container_name(name, role) for name in images for role in ROLES]
    remove(containers)
    mail = subprocess.Popen(  # the services' mail (runner.platform_env points them at it)
        [
            sys.executable,
            str(runner.ROOT / "infra/local/mailsink.py"),
            "--port",
            str(runner.SMTP_PORT),
            "--dir",
            str(runner.VAR / "mail"),
        ]
    )
    for name, image in images.items():
        for role in ROLES:
            run = docker_run(name, role, image, env_files[name], commands(name)[role])
            subprocess.run(run, check=True, stdout=subprocess.DEVNULL)
    logs = [follow(container) for container in containers]
    access_log = runner.VAR / "log" / "gateway-access.log"
    access_log.parent.mkdir(parents=True, exist_ok=True)
    with access_log.open("a") as out:
        gateway = subprocess.Popen(
            ["haproxy", "-dMglobal", "-db", "-f", str(runner.VAR / "gateway" / "haproxy.cfg")],
            stdout=out,
        )
    say(f"running: {', '.join(containers)} and the gateway on port {runner.GATEWAY_PORT}")
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    while not stopping.wait(0.5):
        if gateway.poll() is not None:
            say(f"the gateway exited with {gateway.returncode}")
            break
    code = stop(gateway, containers, logs)
    mail.terminate()
    mail.wait(timeout=30)
    sys.exit(code)


def stop(gateway: subprocess.Popen, containers: list[str], logs: list[subprocess.Popen]) -> int:
    say("stopping: the gateway, then every container (docker stop, up to 30 s)")
    if gateway.poll() is None:
        gateway.terminate()
        gateway.wait(timeout=30)
    subprocess.run(
        ["docker", "stop", "--time", str(STOP_TIMEOUT), *containers],
        capture_output=True,
        check=False,
    )
    codes = {container: exit_code(container) for container in containers}
    for process in logs:
        process.wait(timeout=30)
    remove(containers)
    failed = {c: code for c, code in codes.items() if code != 0}
    if failed:
        say(f"containers that did not exit 0: {failed}")
        return 1
    say("every container stopped cleanly")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up"])
    parser.parse_args()
    up()


if __name__ == "__main__":
    main()
