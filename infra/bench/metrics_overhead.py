"""What chassis.metrics costs a service per request: the chassis's test project's views,
called in-process through Django's full handler (every middleware), with and without the
metrics (MetricsMiddleware and the query timer), in prometheus_client's multiprocess mode as
gunicorn runs it (values in mmap'ed files). Runs under the chassis's virtual environment on its
own database (PostgreSQL, migrated first), e.g.:

    cd chassis && export DATABASE_URL=postgres://postgres@127.0.0.1:5432/metrics_bench
    createdb -h 127.0.0.1 -U postgres metrics_bench
    DJANGO_SETTINGS_MODULE=tests.settings PYTHONPATH=.:src .venv/bin/django-admin migrate
    .venv/bin/python ../infra/bench/metrics_overhead.py [--requests 3000] [--rounds 5]

Each round times the same requests both ways (interleaved); the minimum per variant is kept
(a shared machine only adds noise). Prints microseconds per request and the difference.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

CHASSIS = Path(__file__).resolve().parents[2] / "chassis"
os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="metrics-bench-")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
sys.path[:0] = [str(CHASSIS), str(CHASSIS / "src")]

import django  # noqa: E402 - after the environment and the path

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from chassis import metrics  # noqa: E402

TARGETS = {
    "GET /api/v1/items/1/ (no query)": "/api/v1/items/1/",
    "GET /readyz (queries)": "/readyz",
}


def timed(client: Client, path: str, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        client.get(path)
    return (time.perf_counter() - start) / n * 1e6


def direct(n: int) -> dict[str, float]:
    """The metrics' own work, timed alone (microseconds): what a request adds (route label,
    counter, histogram) and what a query adds (its timer and histogram)."""
    import timeit

    def request_work() -> None:
        start = time.perf_counter()
        elapsed = time.perf_counter() - start
        labels = ("api/v1/items/<int:item_id>/", "GET", "200")
        metrics.HTTP_REQUESTS.labels(*labels).inc()
        metrics.HTTP_SECONDS.labels(*labels).observe(elapsed)

    def query_work() -> None:
        start = time.perf_counter()
        metrics.DB_QUERY_SECONDS.labels("default").observe(time.perf_counter() - start)

    return {
        name: min(timeit.repeat(work, number=n, repeat=5)) / n * 1e6
        for name, work in (("per request", request_work), ("per query", query_work))
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from django.conf import settings

    without = [m for m in settings.MIDDLEWARE if m != "chassis.metrics.MetricsMiddleware"]
    client = Client()
    connection.ensure_connection()
    best: dict[tuple[str, str], float] = {}
    for _ in range(args.rounds):
        for name, path in TARGETS.items():
            timed(client, path, 200)  # warm
            with override_settings(MIDDLEWARE=without):
                connection.execute_wrappers.clear()
                off = timed(client, path, args.requests)
            metrics.instrument_database()
            metrics._on_connection(connection=connection)
            on = timed(client, path, args.requests)
            for variant, value in (("without metrics", off), ("with metrics", on)):
                key = (name, variant)
                best[key] = min(best.get(key, value), value)
    for name, micros in direct(20_000).items():
        print(f"metrics' own work {name}: {micros:.2f} us (multiprocess mode, min of 5)")
    print(f"{'request':36} {'without':>10} {'with':>10} {'cost':>10}  (us/request, min of rounds)")
    for name in TARGETS:
        off, on = best[(name, "without metrics")], best[(name, "with metrics")]
        print(f"{name:36} {off:10.1f} {on:10.1f} {on - off:10.1f}")


if __name__ == "__main__":
    main()
