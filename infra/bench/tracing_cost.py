"""What tracing costs a request: CPU time of one gunicorn worker per request, tracing off and on.

What it measures: catalog-service's ``GET /api/v1/catalog/products/`` (a page of 20 products:
a few queries, a cache lookup) sent sequentially to a gunicorn with one sync worker, and the
CPU time (utime+stime from /proc, all its threads: the span exporter's included) that worker
spent per request. CPU time, not wall time: the machine may be shared, and a busy neighbour
stretches latencies but hardly the CPU a request takes. Variants, each its own gunicorn, in
alternating rounds (their order rotated every round) so that all see the same machine:

- ``off``: this checkout, ``OTEL_EXPORTER_OTLP_ENDPOINT`` unset (chassis.tracing off);
- ``on``: this checkout, exporting every span (Django, psycopg, redis) over OTLP/HTTP to a
  receiver in this process (infra/tests/otlp.py: it decodes every span, as a collector would);
- ``base`` (with ``--base DIR``): another checkout, e.g. a clone at the commit before tracing
  came in, whose catalog-service/.venv is bootstrapped: the "before" of ``off``.

The database (``<prefix>catalog``, migrated and seeded with 200 products by this checkout,
dropped at the end) and Redis (keys under the prefix) are the machine's; no broker is used.

Run it:

    var/tools/bin/python infra/bench/tracing_cost.py --rounds 6 --requests 300
    git clone -q . /tmp/base && git -C /tmp/base checkout <commit before tracing> && \
        (cd /tmp/base && python3 infra/local/runner.py bootstrap)
    var/tools/bin/python infra/bench/tracing_cost.py --base /tmp/base

Results: a table on stdout, and infra/bench/results/tracing_cost-<UTC time>.json / .md plus
tracing_cost-latest.md. This is a benchmark: nothing asserts a target.
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

import benchlib
from benchlib import ROOT, BenchError, free_port, stat_fields

sys.path.insert(0, str(ROOT / "infra" / "tests"))
import otlp  # the system tests' receiver (infra/tests, just added to the path)

ENDPOINT = "/api/v1/catalog/products/"
WARM_UP = 50


def service_env(prefix: str, var: Path) -> dict[str, str]:
    keep = ("PATH", "HOME", "LANG", "LC_ALL")
    return {
        **{k: v for k, v in os.environ.items() if k in keep},
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{prefix}catalog",
        "CELERY_BROKER_URL": "filesystem://",
        "VAR_DIR": str(var),
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "CACHE_KEY_PREFIX": f"{prefix}:",
        "JWKS_URL": "http://127.0.0.1:1/.well-known/jwks.json",
        "USERS_TOKEN_URL": "http://127.0.0.1:1/api/v1/auth/token",
        "DEBUG": "false",
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "GUNICORN_WORKERS": "1",
        "GUNICORN_CMD_ARGS": "--max-requests 0",
    }


def prepare(env: dict[str, str]) -> None:
    manage = [str(ROOT / "catalog-service/.venv/bin/python"), "manage.py"]
    for command in (
        ["ensure_database"],
        ["migrate", "--no-input", "-v", "0"],
        ["seed_catalog", "--products", "200", "--if-empty", "--no-progress"],
    ):
        subprocess.run(
            [*manage, *command], cwd=ROOT / "catalog-service", env=env, check=True, text=True
        )


def start(checkout: Path, env: dict[str, str], log: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    service = checkout / "catalog-service"
    with log.open("w") as out:
        master = subprocess.Popen(
            [
                *(str(service / ".venv/bin/gunicorn"), "-c", "gunicorn.conf.py"),
                *("--bind", f"127.0.0.1:{port}", "config.wsgi"),
            ],
            cwd=service,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}{ENDPOINT}", timeout=10).status_code == 200:
                return master, port
        except httpx.HTTPError:
            pass
        if master.poll() is not None:
            break
        time.sleep(0.2)
    raise BenchError(f"gunicorn of {checkout} did not answer: see {log}")


def worker_of(master: subprocess.Popen) -> int:
    children = Path(f"/proc/{master.pid}/task/{master.pid}/children").read_text().split()
    if len(children) != 1:
        raise BenchError(f"expected one gunicorn worker, found {children}")
    return int(children[0])


def cpu_seconds(pid: int) -> float:
    fields = stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(port: int, worker: int, requests: int) -> float:
    """CPU microseconds the worker spent per request, over ``requests`` sequential ones."""
    url = f"http://127.0.0.1:{port}{ENDPOINT}"
    with httpx.Client(timeout=60) as client:
        for _ in range(WARM_UP):
            client.get(url).raise_for_status()
        time.sleep(1.0)  # the exporter's batch of the warm-up leaves before counting starts
        before = cpu_seconds(worker)
        for _ in range(requests):
            client.get(url).raise_for_status()
        time.sleep(1.0)  # ... and the batch of the measured requests is sent within it
        return (cpu_seconds(worker) - before) / requests * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--base", type=Path, help="a checkout to measure as 'base' (before)")
    args = parser.parse_args()
    prefix = f"bench_{secrets.token_hex(3)}_"
    receiver, server = otlp.start()
    var = Path(tempfile.mkdtemp(prefix="tracing-cost-"))
    env = service_env(prefix, var)
    variants = {
        "off": (ROOT, env),
        "on": (ROOT, {**env, "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url}),
    }
    if args.base:
        variants["base"] = (args.base.resolve(), env)
    started: dict[str, tuple[subprocess.Popen, int]] = {}
    results: dict[str, list[float]] = {name: [] for name in variants}
    load_before = benchlib.loadavg()
    try:
        prepare(env)
        for name, (checkout, variant_env) in variants.items():
            started[name] = start(checkout, variant_env, var / f"{name}.log")
        names = list(variants)
        for round_ in range(args.rounds):
            for name in names[round_ % len(names) :] + names[: round_ % len(names)]:
                master, port = started[name]
                results[name].append(measure(port, worker_of(master), args.requests))
            print(
                f"round {round_ + 1}: " + "  ".join(f"{n} {results[n][-1]:.0f} us" for n in names)
            )
    finally:
        for master, _port in started.values():
            master.terminate()
            master.wait(timeout=60)
        server.shutdown()
        benchlib.drop_databases(prefix)
    spans = len(receiver.spans)
    return report(results, args, load_before, spans)


def report(results: dict[str, list[float]], args: argparse.Namespace, load: str, spans: int) -> int:
    medians = {name: statistics.median(values) for name, values in results.items()}
    rows = [["variant", "median us/request", "min", "max", "vs off"]]
    for name, values in results.items():
        change = (medians[name] / medians["off"] - 1) * 100
        rows.append(
            [
                name,
                f"{medians[name]:.0f}",
                f"{min(values):.0f}",
                f"{max(values):.0f}",
                f"{change:+.1f}%",
            ]
        )
    meta = {
        **benchlib.provenance(load),
        "endpoint": f"catalog-service GET {ENDPOINT} (20 products), one sync gunicorn worker",
        "rounds": f"{args.rounds} x {args.requests} sequential requests per variant",
        "spans_received": str(spans),
        "notes": [
            "CPU time of the gunicorn worker (all threads, the span exporter's included)",
            "base: " + (str(args.base) if args.base else "not measured (no --base)"),
        ],
    }
    per_round = [["round", *results]] + [
        [str(i + 1), *(f"{results[n][i]:.0f}" for n in results)] for i in range(args.rounds)
    ]
    tables = [("CPU per request (us)", rows), ("By round (us)", per_round)]
    print(benchlib.render("Tracing cost", meta, tables, markdown=False))
    markdown = benchlib.render("Tracing cost", meta, tables, markdown=True)
    benchlib.write_reports("tracing_cost", {"meta": meta, "us_per_request": results}, markdown)
    return 0


if __name__ == "__main__":
    sys.exit(main())
