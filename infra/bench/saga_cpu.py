"""Where the saga benchmark's CPU goes: process groups read from /proc, and what an order
costs the databases (commits, outbox events).

Groups: ``gateway`` (HAProxy), ``<service> web`` (gunicorn master and workers), ``<service>
worker`` (Celery worker and its pool processes), ``<service> beat``, ``mail sink``, ``log
relay`` (the runner and its supervisor, which relays every process's output), ``postgresql``
(every PostgreSQL process: backends, WAL writer, checkpointer; the postmaster's reaped
children included), ``rabbitmq`` (the Erlang VM) and ``client`` (this process: every thread
sending and reading orders). Each process counts utime + stime + its reaped children's
(cutime + cstime), so a recycled worker's time stays in its group. The machine runs the
platform and the benchmark alone when the figures are to be trusted.
"""

from __future__ import annotations

import os
import resource
import subprocess
import time
from pathlib import Path

from _harness import SERVICES, Platform, stat_fields

TICK = os.sysconf("SC_CLK_TCK")
PSQL = ["psql", "-h", "127.0.0.1", "-U", "postgres", "-q", "-At", "-c"]


def _tree(root: int) -> dict[int, list[str]]:
    """Every process under ``root`` -> its stat fields after the name."""
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stats[int(entry.name)] = stat_fields(int(entry.name))
            except (OSError, ValueError):
                continue
    children: dict[int, list[int]] = {}
    for pid, fields in stats.items():
        children.setdefault(int(fields[1]), []).append(pid)
    tree, todo = {}, [root]
    while todo:
        pid = todo.pop()
        if pid in stats:
            tree[pid] = stats[pid]
        todo += children.get(pid, [])
    return tree


def _group(pid: int) -> str:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        folder = Path(os.readlink(f"/proc/{pid}/cwd")).name
    except OSError:
        return ""
    service = next((s for s, spec in SERVICES.items() if spec.dir == folder), None)
    if "haproxy" in command:
        return "gateway"
    if "mailsink" in command:
        return "mail sink"
    if service and "gunicorn" in command:
        return f"{service} web"
    if service and "celery" in command:
        return f"{service} {'beat' if ' beat ' in command else 'worker'}"
    if "runner.py" in command or "supervise" in command:
        return "log relay"
    return "platform, other"


def _ticks(fields: list[str]) -> int:
    return sum(int(value) for value in fields[11:15])


def _by_name(name: str) -> int:
    """Ticks of every process whose command name is ``name`` (children reaped included)."""
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() == name:
                total += _ticks(stat_fields(int(entry.name)))
        except (OSError, ValueError):
            continue
    return total


def snapshot(platform: Platform) -> dict:
    """CPU seconds by group now (plus the monotonic time it was taken)."""
    groups: dict[str, float] = {}
    for pid, fields in _tree(platform.process.pid).items():
        name = _group(pid)
        if name:
            groups[name] = groups.get(name, 0.0) + _ticks(fields) / TICK
    groups["postgresql"] = _by_name("postgres") / TICK
    groups["rabbitmq"] = _by_name("beam.smp") / TICK
    own = resource.getrusage(resource.RUSAGE_SELF)
    groups["client"] = own.ru_utime + own.ru_stime
    return {"at": time.monotonic(), "groups": groups}


def difference(before: dict, after: dict, elapsed: float, orders: int) -> dict[str, dict]:
    """Group -> cores used over ``elapsed`` and CPU milliseconds per order, busiest first."""
    out = {}
    for name, seconds in after["groups"].items():
        spent = max(0.0, seconds - before["groups"].get(name, 0.0))
        out[name] = {
            "cores": round(spent / elapsed, 3) if elapsed else 0.0,
            "ms_per_order": round(spent * 1000 / orders, 2) if orders else None,
        }
    total = sum(v["cores"] for v in out.values())
    out["all"] = {
        "cores": round(total, 3),
        "ms_per_order": round(total * elapsed * 1000 / orders, 2) if orders else None,
    }
    return dict(sorted(out.items(), key=lambda item: -item[1]["cores"]))


def _sql(database: str, query: str) -> str:
    done = subprocess.run([*PSQL, query, "-d", database], capture_output=True, text=True)
    return done.stdout.strip()


def database_counts(platform: Platform) -> dict[str, int]:
    """Commits (pg_stat_database, all the platform's databases) and outbox rows written
    (every service). PostgreSQL publishes a backend's counts within a second of a
    transaction, or ten when it went idle: a step's figure is close, not exact."""
    commits = _sql(
        "postgres",
        "SELECT coalesce(sum(xact_commit), 0) FROM pg_stat_database "  # noqa: S608 - our prefix
        f"WHERE datname LIKE '{platform.prefix}%'",
    )
    count = "SELECT count(*) FROM chassis_events_outboxevent"
    events = sum(int(_sql(f"{platform.prefix}{name}", count) or 0) for name in SERVICES)
    return {"commits": int(commits or 0), "events": events}


def per_order(before: dict, after: dict, orders: int) -> dict[str, float | None]:
    if not orders:
        return {"commits": None, "events": None}
    return {key: round((after[key] - before[key]) / orders, 2) for key in ("commits", "events")}
