"""The bench library: what the benchmarks share (platform, wrk, CPU, PostgreSQL, reports).

- The platform: ``start_platform`` runs ``infra/local/runner.py up`` as ``make up`` does
  (infra/local/sandbox.py, shared with the system tests), in a temporary PLATFORM_VAR, on free
  ports for every service of the registry (``infra/services.toml``) and the gateway, with its
  own database prefix and RabbitMQ vhost, and the gateway rendered from a copy of kong.yml
  whose rate limits are raised (a load from one address would otherwise hit them);
  ``stop_platform`` presses Ctrl-C and drops what it made outside its var/ (databases, vhost,
  the services' broker users).
- wrk: one thread, a Lua script counting every non-2xx answer (wrk's own counter only sees
  status >= 400); a run with any non-2xx or socket error fails the benchmark. ``wrk_cpu``
  adds the CPU each process kind and the whole machine spent during the run.
- CPU (infra/bench/cpugroups.py): by process name (``cpu_by_process``), by kind
  (``cpu_by_kind``), and by platform group over a window (``platform_groups``,
  ``snapshot``/``cpu_between``, ``CpuSampler``): gateway, each service's web, worker and
  beat, PostgreSQL, RabbitMQ, the supervisor and the client. For a long run::

      sampler = CpuSampler(platform_groups(platform)).start()
      ...  # the load
      cpu = sampler.stop()  # {"gateway": {"cpu_s": 1.2, "cores": 0.04}, "users-web": ...}
- Reports: a context block, tables as text (stdout) and Markdown, written under
  infra/bench/results as ``<name>-<UTC time>.json`` / ``.md`` and ``<name>-latest.md``;
  ``chart_path`` names a chart beside them (infra/bench/charts.py draws it).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from benchreport import (
    RESULTS,
    ROOT,
    chart_path,
    first_line,
    loadavg,
    md_table,
    provenance,
    render,
    rows_targets,
    text_table,
    verdict,
    write_reports,
)
from benchwrk import (
    UNITS,
    WRK_SCRIPT,
    BenchError,
    Load,
    ensure_wrk,
    latency_summary,
    machine_ticks,
    means,
    parse_wrk,
    run_wrk,
    with_wrk,
    wrk_cpu,
    wrk_script,
)
from cpugroups import (
    CpuSampler,
    Groups,
    Proc,
    classify,
    cpu_between,
    cpu_by_kind,
    cpu_by_process,
    descendants,
    read_procs,
    snapshot,
    stat_fields,
)

RUNNER = ROOT / "infra" / "local" / "runner.py"
KONG = ROOT / "gateway-config" / "kong.yml"
RAISED_LIMIT = 10_000_000
START_TIMEOUT = 240  # the first run installs the virtual environments
PG = "postgres://postgres@127.0.0.1:5432"  # the local PostgreSQL server, as the runner's

sys.path.insert(0, str(ROOT / "infra" / "local"))
import sandbox  # noqa: E402 - the runner's directory, just added
from ports import free_port  # noqa: E402 - the runner's directory, just added
from registry import load_services  # noqa: E402 - the runner's directory, just added

SERVICES = load_services(env={})  # name -> Service (infra/services.toml)
# Given through here from benchreport.py, benchwrk.py and cpugroups.py: import from benchlib.
__all__ = [
    "RESULTS",
    "UNITS",
    "WRK_SCRIPT",
    "BenchError",
    "CpuSampler",
    "Groups",
    "Load",
    "Proc",
    "chart_path",
    "classify",
    "cpu_between",
    "cpu_by_kind",
    "cpu_by_process",
    "descendants",
    "ensure_wrk",
    "first_line",
    "free_port",
    "latency_summary",
    "loadavg",
    "machine_ticks",
    "md_table",
    "means",
    "parse_wrk",
    "provenance",
    "read_procs",
    "render",
    "rows_targets",
    "run_wrk",
    "snapshot",
    "stat_fields",
    "text_table",
    "verdict",
    "with_wrk",
    "write_reports",
    "wrk_cpu",
    "wrk_script",
]


# --- the isolated platform -----------------------------------------------------------------


@dataclass
class Platform:
    process: subprocess.Popen
    var: Path
    log: Path
    prefix: str  # of its database names; its RabbitMQ vhost is f"{prefix}vhost"
    env: dict[str, str]
    services: dict[str, str]  # service name -> its base URL (direct)
    gateway: str
    status: str  # the gateway's Prometheus endpoint
    seen: set[int] = field(default_factory=set)  # pids to SIGKILL if Ctrl-C is not enough


P = TypeVar("P", bound=Platform)


def raised_kong(dest: Path) -> int:
    """Copy kong.yml with every rate-limiting ``minute`` raised; nothing else differs."""
    text = KONG.read_text()
    raised, count = re.subn(r"(\{minute: )\d+(,)", rf"\g<1>{RAISED_LIMIT}\g<2>", text)
    plugins = text.count("- name: rate-limiting")
    if count != plugins or re.search(r"\{[^}]*\b(second|hour|day|month|year):", text):
        raise BenchError(
            f"kong.yml has {plugins} rate-limiting plugins, raised {count}: "
            "update raised_kong() to the file's new shape"
        )
    dest.write_text(raised)
    return count


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port_from(preferred: int) -> int:
    """``preferred`` or the next free port after it (``free_port``: any free port)."""
    for port in range(preferred, preferred + 50):
        if port_free(port):
            return port
    raise BenchError(f"no free port in {preferred}..{preferred + 49}")


def start_platform(var: Path, settings: dict[str, str], kind: Callable[..., P] = Platform) -> P:
    """``runner.py up`` in its own process group; ``settings`` are added to its environment."""
    kong_file = var / "kong.bench.yml"
    print(
        f"gateway rendered from a copy of kong.yml: {raised_kong(kong_file)} rate limits "
        f"raised to {RAISED_LIMIT:,}/minute (counting still runs)",
        flush=True,
    )
    prefix = f"bench_{secrets.token_hex(3)}_"
    ports = sandbox.allocate_ports(SERVICES.values())
    env = sandbox.isolated_env(
        var, prefix, ports, {**settings, "GATEWAY_KONG_FILE": str(kong_file)}
    )
    log = var / "platform.log"
    python = shutil.which("python3") or sys.executable  # as `make up` runs it
    process = sandbox.launch(env, log, python)
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    return kind(
        process=process,
        var=var,
        log=log,
        prefix=prefix,
        env=env,
        services={name: url[s.env_prefix + "PORT"] for name, s in SERVICES.items()},
        gateway=url["GATEWAY_PORT"],
        status=url["GATEWAY_STATUS_PORT"] + "/metrics",
    )


def wait_ready(platform: Platform, services: Iterable[str] | None = None) -> None:
    """Every service (or those named) ready, then the gateway serving users-service's JWKS."""
    names = SERVICES if services is None else services
    urls = [f"{platform.services[name]}/readyz" for name in names]
    deadline = time.monotonic() + START_TIMEOUT
    for url in [*urls, f"{platform.gateway}/.well-known/jwks.json"]:
        failed = sandbox.wait_ok(url, platform.process, deadline, request_timeout=2)
        if failed == "exited":
            raise BenchError(f"platform exited with {platform.process.returncode}")
        if failed:
            raise BenchError(f"platform not ready after {START_TIMEOUT}s ({url})")


def stop_platform(platform: Platform) -> None:
    """Ctrl-C to the runner's group, as in a terminal; SIGKILL what is left after 90 s (the
    runner's grace is 30 s). Then its databases, vhost and broker users are dropped."""
    if platform.process.poll() is None:
        platform.seen |= set(descendants(read_procs(), platform.process.pid))
        if sandbox.interrupt(platform.process, timeout=90) is None:
            print("platform did not stop on Ctrl-C: killing its processes", file=sys.stderr)
            for pid in platform.seen:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(platform.process.pid, signal.SIGKILL)
            platform.process.wait(timeout=10)
    drop_databases(platform.prefix)
    if shutil.which("rabbitmqctl"):  # the platform's vhost and its services' broker users
        vhost = f"{platform.prefix}vhost"
        for command in (
            ["delete_vhost", vhost],
            *(["delete_user", f"{vhost}.{name}"] for name in SERVICES),
        ):
            subprocess.run(["rabbitmqctl", "-q", *command], capture_output=True, check=False)


wait_ok = sandbox.wait_ok  # poll a URL until 200, the process exits or a deadline passes


def stop_group(process: subprocess.Popen, grace: float) -> None:
    """SIGTERM to a process started in a session of its own (graceful), SIGKILL to its group
    after ``grace`` seconds."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)


# --- PostgreSQL ----------------------------------------------------------------------------


def psql(sql: str, database: str = "postgres", server: str = PG, *, check: bool = True) -> str:
    """``sql``'s rows (``-qAt``: one a line, columns split by ``|``); a failure raises
    BenchError unless ``check`` is false (then "")."""
    done = subprocess.run(
        ["psql", f"{server}/{database}", "-v", "ON_ERROR_STOP=1", "-qAt", "-c", sql],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 and check:
        raise BenchError(f"psql {database}: {sql}: {done.stderr}")
    return done.stdout.strip() if done.returncode == 0 else ""


def drop_databases(prefix: str) -> None:
    if shutil.which("psql") is None:
        return
    listed = psql("SELECT datname FROM pg_database", check=False)
    for name in (n for n in listed.split() if n.startswith(prefix)):
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", check=False)
        print(f"dropped database {name}")


def pg_backend_pids(databases: Iterable[str] = (), prefix: str = "", server: str = PG) -> set[int]:
    """PostgreSQL backends connected to ``databases`` or to any whose name starts with
    ``prefix`` (pg_stat_activity)."""
    quoted = ", ".join("'" + name.replace("'", "''") + "'" for name in databases)
    where = [f"datname IN ({quoted})"] if quoted else []
    where += ["starts_with(datname, '" + prefix.replace("'", "''") + "')"] if prefix else []
    if not where:
        return set()
    query = f"SELECT pid FROM pg_stat_activity WHERE {' OR '.join(where)}"  # noqa: S608
    return {int(pid) for pid in psql(query, server=server).split()}


def platform_groups(
    platform: Platform,
    pg: str = "platform",
    labelled: Mapping[int, str] = {},
) -> Groups:
    """The platform's process groups (cpugroups.Groups), this process as the client;
    ``pg``: "platform" for its databases' backends only, "all" for every postgres process."""
    prefix = platform.prefix if pg == "platform" else None
    pids = frozenset(pg_backend_pids(prefix=prefix) if prefix else ())
    services = {service.dir: name for name, service in SERVICES.items()}
    return Groups(platform.process.pid, os.getpid(), services, prefix, pids, labelled)
