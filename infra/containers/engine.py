"""The container engine for the image tests: Debian's docker.io, started when it is not running.

dockerd is configured (``/etc/docker/daemon.json``, merged into what is there) to create no
bridge and touch no firewall rule (``"bridge": "none"``, ``"iptables": false``): every container
of the platform uses the host's network, so all traffic stays on 127.0.0.1. Standard library
only; root or sudo is needed to start the daemon.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

DAEMON_JSON = Path("/etc/docker/daemon.json")
SETTINGS = {"bridge": "none", "iptables": False, "ip6tables": False}
LOG = Path("/var/log/platform-dockerd.log")
START_TIMEOUT = 120


def sudo() -> list[str]:
    return [] if os.geteuid() == 0 else ["sudo", "-n"]


def docker_ready() -> bool:
    result = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return result.returncode == 0


def configure() -> bool:
    """Merge SETTINGS into daemon.json; True when the file changed (a running daemon keeps
    its old settings until restarted: it is then refused, rather than silently used)."""
    current = json.loads(DAEMON_JSON.read_text()) if DAEMON_JSON.exists() else {}
    wanted = {**current, **SETTINGS}
    if wanted == current:
        return False
    text = json.dumps(wanted, indent=2) + "\n"
    if os.geteuid() == 0:
        DAEMON_JSON.parent.mkdir(parents=True, exist_ok=True)
        DAEMON_JSON.write_text(text)
    else:
        subprocess.run([*sudo(), "mkdir", "-p", str(DAEMON_JSON.parent)], check=True)
        subprocess.run(
            [*sudo(), "tee", str(DAEMON_JSON)],
            input=text,
            text=True,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    return True


def ensure_engine() -> None:
    """dockerd answering on its default socket, with the host-network-only settings."""
    if shutil.which("docker") is None or shutil.which("dockerd") is None:
        sys.exit("docker.io is not installed (python3 infra/local/runner.py bootstrap)")
    lock_path = Path(tempfile.gettempdir()) / "platform-dockerd.lock"
    with lock_path.open("w") as lock:  # two test runs starting it at once: one does
        fcntl.flock(lock, fcntl.LOCK_EX)
        changed = configure()
        if docker_ready():
            if changed:
                sys.exit(f"dockerd runs with settings older than {DAEMON_JSON}: restart it")
            return
        with open(os.devnull, "rb") as devnull:
            subprocess.Popen(
                [*sudo(), "sh", "-c", f"exec dockerd >> {LOG} 2>&1"],
                stdin=devnull,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # outlives the test run: a daemon, and the image cache
            )
        deadline = time.monotonic() + START_TIMEOUT
        while not docker_ready():
            if time.monotonic() > deadline:
                sys.exit(f"dockerd did not answer within {START_TIMEOUT} s (see {LOG})")
            time.sleep(0.5)


if __name__ == "__main__":
    ensure_engine()
    print("dockerd is running")
