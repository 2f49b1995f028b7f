"""What the benchmarks share: an isolated platform, wrk, CPU from /proc, and their reports.

- The platform: ``start_platform`` runs ``infra/local/runner.py up`` as ``make up`` does, in a
  temporary PLATFORM_VAR, on free ports for every service of the registry
  (``infra/services.toml``) and the gateway, with its own database prefix and RabbitMQ vhost,
  and the gateway rendered from a copy of kong.yml whose rate limits are raised (a load from
  one address would otherwise hit them); ``stop_platform`` presses Ctrl-C and drops what it
  made outside its var/ (databases, vhost, the services' broker users).
- wrk: one thread, a Lua script counting every non-2xx answer (wrk's own counter only sees
  status >= 400); a run with any non-2xx or socket error fails the benchmark.
- Reports: a context block, tables as text (stdout) and Markdown, written under
  infra/bench/results as ``<name>-<UTC time>.json`` / ``.md`` and ``<name>-latest.md``.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform as host
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import httpx

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "infra" / "local" / "runner.py"
KONG = ROOT / "gateway-config" / "kong.yml"
RESULTS = ROOT / "infra" / "bench" / "results"
RAISED_LIMIT = 10_000_000
START_TIMEOUT = 240  # the first run installs the virtual environments

sys.path.insert(0, str(ROOT / "infra" / "local"))
from ports import free_port  # noqa: E402 - the runner's directory, just added
from registry import load_services  # noqa: E402 - the runner's directory, just added

SERVICES = load_services(env={})  # name -> Service (infra/services.toml)


class BenchError(RuntimeError):
    """The benchmark cannot give a trustworthy figure (platform down, non-2xx, wrk failed)."""


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


def start_platform(var: Path, settings: dict[str, str], kind: Callable[..., P] = Platform) -> P:
    """``runner.py up`` in its own process group; ``settings`` are added to its environment."""
    kong_file = var / "kong.bench.yml"
    print(
        f"gateway rendered from a copy of kong.yml: {raised_kong(kong_file)} rate limits "
        f"raised to {RAISED_LIMIT:,}/minute (counting still runs)",
        flush=True,
    )
    prefix = f"bench_{secrets.token_hex(3)}_"
    ports = {service.env_prefix + "PORT": free_port() for service in SERVICES.values()}
    ports |= {
        "GATEWAY_PORT": free_port(),
        "GATEWAY_STATUS_PORT": free_port(),
        "SMTP_PORT": free_port(),
    }
    env = {
        **os.environ,
        **{name: str(port) for name, port in ports.items()},
        **settings,
        "PLATFORM_VAR": str(var),
        "PLATFORM_DB_PREFIX": prefix,
        "PLATFORM_BROKER_VHOST": f"{prefix}vhost",
        "GATEWAY_KONG_FILE": str(kong_file),
    }
    log = var / "platform.log"
    python = shutil.which("python3") or sys.executable  # as `make up` runs it
    with log.open("w") as out:
        process = subprocess.Popen(
            [python, RUNNER, "up"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
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
        while True:
            if platform.process.poll() is not None:
                raise BenchError(f"platform exited with {platform.process.returncode}")
            if time.monotonic() > deadline:
                raise BenchError(f"platform not ready after {START_TIMEOUT}s ({url})")
            try:
                if httpx.get(url, timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.5)


def stop_platform(platform: Platform) -> None:
    """Ctrl-C to the runner's group, as in a terminal; SIGKILL what is left after 90 s (the
    runner's grace is 30 s). Then its databases, vhost and broker users are dropped."""
    if platform.process.poll() is None:
        os.killpg(platform.process.pid, signal.SIGINT)
        try:
            platform.process.wait(timeout=90)
        except subprocess.TimeoutExpired:
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


def drop_databases(prefix: str) -> None:
    if shutil.which("psql") is None:
        return
    psql = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-At", "-c"]
    listed = subprocess.run(
        [*psql, "SELECT datname FROM pg_database"], capture_output=True, text=True, check=False
    )
    for name in (n for n in listed.stdout.split() if n.startswith(prefix)):
        subprocess.run(
            [*psql, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"],
            capture_output=True,
            check=False,
        )
        print(f"dropped database {name}")


# --- wrk and CPU from /proc ----------------------------------------------------------------

# Counts every response that is not a 2xx (wrk's own counter only sees status >= 400).
WRK_SCRIPT = """
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args) bad = 0 end
function response(status, headers, body)
  if status < 200 or status > 299 then bad = bad + 1 end
end
function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do total = total + thread:get("bad") end
  io.write(string.format("non2xx %d\\n", total))
end
"""
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass
class Load:
    wrk: str
    script: Path
    duration: int
    connections: int


def ensure_wrk() -> str:
    """wrk's path; installs the Debian package when missing and running as root."""
    found = shutil.which("wrk")
    if found:
        return found
    if os.geteuid() != 0:
        sys.exit("wrk is not installed: apt-get install wrk (as root), then run again")
    print("installing wrk (apt-get install -y wrk)", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    quiet = {"env": env, "capture_output": True, "check": False}
    if subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], **quiet).returncode != 0:
        subprocess.run(["apt-get", "update", "-qq"], **quiet)
        subprocess.run(["apt-get", "install", "-y", "-qq", "wrk"], **quiet)
    return shutil.which("wrk") or sys.exit("could not install wrk (apt-get install wrk)")


def parse_wrk(text: str) -> dict:
    """Requests, requests/s, p50/p99 (ms), non-2xx (the script's count) and socket errors."""
    percentiles = {
        p: float(v) * UNITS[u]
        for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
    }
    requests = re.search(r"^\s+(\d+) requests in", text, re.M)
    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    non2xx = re.search(r"^non2xx (\d+)$", text, re.M)
    errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    if not (requests and rps and non2xx and set(percentiles) == {"50", "99"}):
        raise BenchError(f"cannot read wrk's output:\n{text}")
    return {
        "requests": int(requests[1]),
        "rps": float(rps[1]),
        "p50_ms": percentiles["50"],
        "p99_ms": percentiles["99"],
        "non2xx": int(non2xx[1]),
        "socket_errors": sum(int(n) for n in errors.groups()) if errors else 0,
    }


def run_wrk(load: Load, url: str, headers: Iterable[str] = ()) -> dict:
    """One wrk run (one thread); fails on any non-2xx answer or socket error."""
    command = [load.wrk, "-t1", f"-c{load.connections}", f"-d{load.duration}s", "--latency"]
    command += ["-s", str(load.script), *(a for h in headers for a in ("-H", h)), url]
    done = subprocess.run(
        command, capture_output=True, text=True, check=False, timeout=load.duration + 60
    )
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    result = parse_wrk(done.stdout)
    if result["non2xx"] or result["socket_errors"]:
        raise BenchError(
            f"{url}: {result['non2xx']} non-2xx responses and "
            f"{result['socket_errors']} socket errors: figures not trustworthy\n{done.stdout}"
        )
    return result


def stat_fields(pid: int) -> list[str]:
    """/proc/<pid>/stat after the command name: [1] ppid, [11:15] utime stime cutime cstime."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2 :].split()


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of every core, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def latency_summary(runs: list[dict]) -> dict:
    """Medians over rounds of one target's wrk runs (the rest of a summary is the bench's)."""
    return {
        "rounds": len(runs),
        "requests": sum(run["requests"] for run in runs),
        "rps": round(statistics.median(run["rps"] for run in runs), 1),
        "p50_ms": round(statistics.median(run["p50_ms"] for run in runs), 3),
        "p99_ms": round(statistics.median(run["p99_ms"] for run in runs), 3),
    }


# --- reports -------------------------------------------------------------------------------


def first_line(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return (done.stdout or done.stderr).strip().split("\n")[0]


def loadavg() -> str:
    return " ".join(f"{n:.2f}" for n in os.getloadavg())


def provenance(load: str) -> dict[str, str]:
    """When, which commit (and whether the tree had changes), which machine under what load."""
    commit = first_line(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"])
    dirty = first_line(["git", "-C", str(ROOT), "status", "--porcelain"])
    return {
        "finished_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "commit": commit + (" (uncommitted changes)" if dirty else ""),
        "machine": f"{os.cpu_count()} cores, {host.machine()}, load average before start {load}",
    }


def verdict(figure: str, value: float, target: str = "-", ok: bool | None = None) -> dict:
    outcome = "info" if ok is None else "PASS" if ok else "MISS"
    return {"figure": figure, "value": value, "target": target, "verdict": outcome}


def rows_targets(report: dict) -> list[list[str]]:
    return [["figure", "value", "target", "verdict"]] + [
        [t["figure"], f"{t['value']:g}", t["target"], t["verdict"]] for t in report["targets"]
    ]


def text_table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    return "\n".join([lines[0], "  ".join("-" * w for w in widths), *lines[1:]])


def md_table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join([lines[0], "|" + "---|" * len(rows[0]), *lines[1:]])


def render(
    title: str, meta: dict, tables: list[tuple[str, list[list[str]]]], *, markdown: bool
) -> str:
    """The title, ``- key: value`` lines (``notes`` last, one line each), then the tables."""
    table = md_table if markdown else text_table
    out = [("# " if markdown else "") + title, ""]
    out += [f"- {key}: {value}" for key, value in meta.items() if key != "notes"]
    out += [f"- note: {note}" for note in meta.get("notes", [])]
    for heading, rows in tables:
        out += ["", f"## {heading}" if markdown else heading, "", table(rows)]
    return "\n".join(out) + "\n"


def write_reports(name: str, report: dict, markdown: str) -> list[Path]:
    """``<name>-<UTC time>.json`` and ``.md``, and ``<name>-latest.md``, in infra/bench/results."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    paths = [
        RESULTS / f"{name}-{stamp}.json",
        RESULTS / f"{name}-{stamp}.md",
        RESULTS / f"{name}-latest.md",
    ]
    paths[0].write_text(json.dumps(report, indent=2) + "\n")
    paths[1].write_text(markdown)
    paths[2].write_text(markdown)
    for path in paths:
        print(f"wrote {path.relative_to(ROOT)}")
    return paths
