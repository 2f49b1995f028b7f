"""Helpers of the tests that run a service's pipeline outside this working tree (test_split.py,
test_new_service.py): its virtual environment made as the runner makes it, and its `make ci`
with database names and a RabbitMQ vhost of its own, as infra/local/isolated gives."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UV = ROOT / "var" / "tools" / "bin" / "uv"
WHEELS = ROOT / "var" / "wheels"
PIPELINE_TIMEOUT = 900  # one service's `make ci` on a busy machine (about 2 minutes idle)
# What a developer's or CI's shell may carry that must not reach a pipeline run elsewhere.
LEAKING = ("DATABASE_URL", "CELERY_BROKER_URL", "VIRTUAL_ENV", "DJANGO_SETTINGS_MODULE")


def chassis_wheel() -> Path:
    wheels = sorted(WHEELS.glob("platform_chassis-*.whl"))
    assert len(wheels) == 1, f"expected one chassis wheel in {WHEELS} (make bootstrap): {wheels}"
    return wheels[0]


def tracked_files(path: str, root: Path = ROOT) -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--", path], cwd=root, capture_output=True, check=True
    )
    return [name for name in listed.stdout.decode().split("\0") if name]


def copy_tracked(path: str, target: Path, root: Path = ROOT) -> None:
    """The files git tracks under ``path`` (no venv, no caches), as they are in the tree."""
    for name in tracked_files(path, root):
        if not (root / name).exists():  # deleted in the working tree, not yet committed
            continue
        (target / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / name, target / name)


def make_venv(part: Path, wheels: Path) -> None:
    """The runner's install (infra/local: ensure_venv): uv, the part's dev lock, the wheels.
    uv's cache makes it a matter of seconds once `make bootstrap` has run."""
    venv = part / ".venv"
    env = {**clean_environment(), "VIRTUAL_ENV": str(venv)}
    run([UV, "venv", "--quiet", "--python", "python3", venv], cwd=part, env=env)
    sync = [UV, "pip", "sync", "--quiet", "--compile-bytecode", "--find-links", wheels]
    run([*sync, "requirements-dev.lock"], cwd=part, env=env)


def clean_environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in LEAKING}


def run(
    command: list,
    *,
    cwd: Path,
    env: dict[str, str],
    timeout: int = 300,
    expect_failure: bool = False,
) -> str:
    result = subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=timeout,
        check=False,
    )
    failed = result.returncode != 0
    assert failed == expect_failure, (
        f"{command} in {cwd} ({result.returncode}):\n{result.stdout[-6000:]}"
    )
    return result.stdout


def run_pipeline(part: Path, short: str, timeout: int = PIPELINE_TIMEOUT) -> str:
    """``make ci`` in ``part`` with databases and a vhost of its own, removed afterwards."""
    run_id = f"t{secrets.token_hex(4)}_{short}"
    env = {
        **clean_environment(),
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{run_id}",
        "CELERY_BROKER_URL": f"amqp://guest:guest@127.0.0.1:5672/{run_id}",
    }
    rabbitmqctl = shutil.which("rabbitmqctl")
    if rabbitmqctl:
        subprocess.run([rabbitmqctl, "-q", "add_vhost", run_id], check=True)
        permissions = ["set_permissions", "-p", run_id, "guest", ".*", ".*", ".*"]
        subprocess.run([rabbitmqctl, "-q", *permissions], check=True)
    else:  # a broker in a container: the default vhost, as the parts' own pipelines use
        env["CELERY_BROKER_URL"] = "amqp://guest:guest@127.0.0.1:5672//"
    try:
        return run(["make", "ci"], cwd=part, env=env, timeout=timeout)
    finally:
        if rabbitmqctl:
            subprocess.run([rabbitmqctl, "-q", "delete_vhost", run_id], check=False)
        drop_databases(run_id)


def drop_databases(run_id: str) -> None:
    """pytest-django keeps test_<name> (--reuse-db): a one-off name would stay forever."""
    for name in (run_id, f"test_{run_id}"):
        subprocess.run(
            [
                "psql",
                "-h",
                "127.0.0.1",
                "-U",
                "postgres",
                "-q",
                "-c",
                f'DROP DATABASE IF EXISTS "{name}"',
            ],
            capture_output=True,
            check=False,
        )
