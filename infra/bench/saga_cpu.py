"""What an order costs in the saga benchmark: CPU per process group (benchlib's CpuSampler,
every PostgreSQL process included: backends, WAL writer, checkpointer) per CONFIRMED order,
and what it cost the databases (commits, outbox events)."""

from __future__ import annotations

from benchlib import SERVICES, Platform, psql


def per_order_cpu(cpu: dict[str, dict], orders: int) -> dict[str, dict]:
    """The sampler's figures (group -> cpu_s, cores) with CPU milliseconds per order and an
    ``all`` row, busiest group first."""
    out = {
        group: {
            "cores": round(value["cores"], 3),
            "ms_per_order": round(value["cpu_s"] * 1000 / orders, 2) if orders else None,
        }
        for group, value in cpu.items()
    }
    spent = sum(value["cpu_s"] for value in cpu.values())
    out["all"] = {
        "cores": round(sum(value["cores"] for value in cpu.values()), 3),
        "ms_per_order": round(spent * 1000 / orders, 2) if orders else None,
    }
    return dict(sorted(out.items(), key=lambda item: -item[1]["cores"]))


def database_counts(platform: Platform) -> dict[str, int]:
    """Commits (pg_stat_database, all the platform's databases) and outbox rows written
    (every service). PostgreSQL publishes a backend's counts within a second of a
    transaction, or ten when it went idle: a step's figure is close, not exact."""
    prefix = platform.prefix.replace("'", "''")
    commits = psql(
        "SELECT coalesce(sum(xact_commit), 0) FROM pg_stat_database "  # noqa: S608 - our prefix
        f"WHERE starts_with(datname, '{prefix}')"
    )
    count = "SELECT count(*) FROM chassis_events_outboxevent"
    events = sum(int(psql(count, f"{platform.prefix}{name}") or 0) for name in SERVICES)
    return {"commits": int(commits or 0), "events": events}


def per_order(before: dict, after: dict, orders: int) -> dict[str, float | None]:
    if not orders:
        return {"commits": None, "events": None}
    return {key: round((after[key] - before[key]) / orders, 2) for key in ("commits", "events")}
