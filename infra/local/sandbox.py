"""An isolated platform: ``runner.py up`` as ``make up`` runs it, beside any other platform.

One implementation for the system tests (infra/tests/conftest.py) and the benchmarks
(infra/bench/benchlib.py): a free port for every service of the registry
(``infra/services.toml``), the gateway, its status page and the SMTP sink; its own
PLATFORM_VAR, database prefix and RabbitMQ vhost (``<prefix>vhost``); the runner in a process
group of its own, its output in a log file; readiness waited for by polling a URL; Ctrl-C
(SIGINT) to the group to stop it, as in a terminal. What each caller adds (settings, deadlines,
how it reports a failure, what it cleans up) stays with the caller.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import httpx

from ports import free_port
from registry import Service

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "infra" / "local" / "runner.py"
GATEWAY_PORTS = ("GATEWAY_PORT", "GATEWAY_STATUS_PORT", "SMTP_PORT")


def allocate_ports(services: Iterable[Service]) -> dict[str, int]:
    """A free port per variable: ``<SERVICE>_PORT`` of each service, then the gateway's, its
    status page's and the SMTP sink's (``GATEWAY_PORTS``)."""
    ports = {f"{service.env_prefix}PORT": free_port() for service in services}
    return ports | {name: free_port() for name in GATEWAY_PORTS}


def isolated_env(
    var: Path, prefix: str, ports: Mapping[str, int], settings: Mapping[str, str]
) -> dict[str, str]:
    """The environment of this process, the ports, the platform's var/, database prefix and
    vhost, then ``settings``."""
    return {
        **os.environ,
        **{name: str(port) for name, port in ports.items()},
        "PLATFORM_VAR": str(var),
        "PLATFORM_DB_PREFIX": prefix,
        "PLATFORM_BROKER_VHOST": f"{prefix}vhost",
        **settings,
    }


def launch(
    env: Mapping[str, str], log: Path, python: str = sys.executable, command: str = "up"
) -> subprocess.Popen:
    """``runner.py <command>`` from the repository's root in its own process group (session),
    its stdout and stderr written to ``log``."""
    with log.open("w") as out:
        return subprocess.Popen(
            [python, RUNNER, command],
            cwd=ROOT,
            env=dict(env),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_ok(url: str, process: subprocess.Popen, deadline: float, request_timeout: float) -> str:
    """Poll ``url`` every 0.5 s until it answers 200: ``""`` then, or why not: ``"exited"``
    (the runner stopped) or ``"timeout"`` (``deadline``, in ``time.monotonic()`` seconds)."""
    while True:
        if process.poll() is not None:
            return "exited"
        if time.monotonic() > deadline:
            return "timeout"
        try:
            if httpx.get(url, timeout=request_timeout).status_code == 200:
                return ""
        except httpx.HTTPError:
            pass
        time.sleep(0.5)


def interrupt(process: subprocess.Popen, timeout: float) -> int | None:
    """Ctrl-C to the runner's process group; its exit code, or None if it still runs after
    ``timeout`` seconds (what to do then is the caller's)."""
    os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
