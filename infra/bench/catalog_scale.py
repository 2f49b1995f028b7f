"""Catalog at scale: catalog-service's read path at two catalog sizes, and against its floor.

What it measures: four public reads of catalog-service, served by gunicorn exactly as in
production (DEBUG off, 2 sync workers, database connections kept for DB_CONN_MAX_AGE=600 s)
from two databases of its own, one with 10,000 products and one with 1,000,000:

- ``first``: the first page of the product list (``GET /api/v1/catalog/products/``, by name);
- ``deep``: a page 90% of the way through the list by name. Following ``next`` links that far
  would take 45,000 requests at 1M, so the cursor is built for the active product 90% of the
  way through the ordering (found once at set-up with OFFSET), encoded exactly as the
  paginator encodes its own ``next`` links; the endpoint must accept it and return a full page;
- ``filtered``: a filtered and searched page (``q=leather&category=clothing&min_price=20&
  max_price=200&in_stock=true&ordering=price``: full-text search, a category with its
  sub-categories, a price range, stock, ordered by price);
- ``detail``: ``GET /api/v1/catalog/products/<id>`` of the active product 90% of the way
  through the ids.

For each it reports the throughput under load (wrk, one thread, ``--connections`` kept-alive
connections) and the p50/p99 latency at one connection (wrk -c1: service time, no queueing),
at both sizes, with the ratio 1M/10k next to its target (1M within 1.25x of 10k: p50 latency
and throughput are judged; p99, noisier on a shared machine, is shown). Runs alternate: in
each round every scenario is measured at both sizes and on both targets back to back, and
each ratio is the median over rounds of the ratios within a round. It also reports the CPU
per request of gunicorn and of the PostgreSQL backends serving it (from /proc), a figure
that other load on the machine disturbs much less than requests per second.

The framework's floor: the same gunicorn process also serves ``/floor/products/`` and
``/floor/products/<id>`` (infra/bench/catalog_floor: catalog-service's settings plus two
hand-written plain Django views, no DRF) that run the same query (same filters, keyset seek,
ORDER BY/LIMIT and ``.values()`` columns) and return the same JSON with orjson. Before any
measurement both must return byte-identical ``results`` (and the same ``next`` cursor) for
every scenario, or the run fails. Target: the real endpoint's throughput at least 0.8x the
floor's, at each size.

It also inspects, in-process (Django's test client, catalog-service's virtual environment),
the queries behind each scenario and behind every ordering (first and deep page) and every
filter alone: how many statements a request runs, whether one counts rows, and the plan
PostgreSQL chose for each (EXPLAIN ANALYZE: indexes used, any sequential scan of products).

Databases: ``bench_catalog_10k`` and ``bench_catalog_1m`` on the local PostgreSQL (``--pg``),
created and migrated (``manage.py ensure_database`` + ``migrate``) and seeded with
``manage.py seed_catalog`` (about 2.5 minutes for 1M) then VACUUM ANALYZE, the first time
only: a later run reuses a database that already holds the expected number of products
(``--reseed`` starts it again). They are kept after the run (``--drop`` drops them).

Run it (``make bench-catalog`` runs the bootstrap first):

    var/tools/bin/python infra/bench/catalog_scale.py            # 10k and 1M, 3 rounds x 5 s
    var/tools/bin/python infra/bench/catalog_scale.py --skip-1m --rounds 1 --duration 3

Results: a table on stdout, and infra/bench/results/catalog_scale-<UTC time>.json / .md plus
catalog_scale-latest.md. This is a benchmark: nothing asserts the targets.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx

import benchlib
from benchlib import (
    ROOT,
    SERVICES,
    BenchError,
    Load,
    first_line,
    verdict,
)

SERVICE = ROOT / SERVICES["catalog"].dir
PYTHON = SERVICE / ".venv" / "bin" / "python"
GUNICORN = SERVICE / ".venv" / "bin" / "gunicorn"
BENCH = ROOT / "infra" / "bench"
FLOOR = BENCH / "catalog_floor"
NAME = "catalog_scale"
API = SERVICES["catalog"].api + "products/"
FLOOR_API = "/floor/products/"
SERVICE_VAR = Path(tempfile.gettempdir()) / "catalog-bench-var"  # the service's VAR_DIR
DEPTH = 0.9  # the deep page and the detail id: 90% of the way through
SCENARIOS = ("first", "deep", "filtered", "detail")
FILTERED = "q=leather&category=clothing&min_price=20&max_price=200&in_stock=true&ordering=price"
TARGET_SCALE, TARGET_FLOOR = 1.25, 0.8
START_TIMEOUT = 60
# Every ordering and every filter alone, for the query inspection (not measured).
COVERAGE_FILTERS = (
    "category=clothing",
    "category=boots",
    "min_price=20&max_price=200",
    "min_price=400",
    "in_stock=true",
    "in_stock=false",
    "q=leather",
    'q="cast iron" -skillet',
)


@dataclass
class Size:
    products: int
    label: str
    database: str
    url: str  # DATABASE_URL
    port: int = 0
    base: str = ""
    server: subprocess.Popen | None = None
    log: Path | None = None
    keys: dict = field(default_factory=dict)
    facts: dict = field(default_factory=dict)

    def paths(self) -> dict[str, dict[str, str]]:
        """scenario -> target -> path (with query)."""
        cursor = self.keys["cursors"]["name"]
        detail = self.keys["detail_id"]
        return {
            "first": {"endpoint": API, "floor": FLOOR_API},
            "deep": {"endpoint": f"{API}?cursor={cursor}", "floor": f"{FLOOR_API}?cursor={cursor}"},
            "filtered": {"endpoint": f"{API}?{FILTERED}", "floor": f"{FLOOR_API}?{FILTERED}"},
            "detail": {"endpoint": f"{API}{detail}", "floor": f"{FLOOR_API}{detail}"},
        }


def label(products: int) -> str:
    if products % 1_000_000 == 0:
        return f"{products // 1_000_000}m"
    if products % 1000 == 0:
        return f"{products // 1000}k"
    return str(products)


# --- tools ---------------------------------------------------------------------------------


def service_env(size: Size) -> dict[str, str]:
    return {
        **os.environ,
        "SECRET_KEY": "catalog-bench-" + "x" * 50,
        "DATABASE_URL": size.url,
        "DEBUG": "false",
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "DB_CONN_MAX_AGE": "600",
        "JWKS_URL": "http://127.0.0.1:9/.well-known/jwks.json",  # reads verify no token
        "USERS_TOKEN_URL": "http://127.0.0.1:9/api/v1/auth/token",  # no admin sign-in here
        "CELERY_BROKER_URL": "filesystem://",
        "VAR_DIR": str(SERVICE_VAR),
        "PYTHONPATH": os.pathsep.join([str(BENCH), str(SERVICE)]),
        "DJANGO_SETTINGS_MODULE": "catalog_floor.settings",
    }


def in_service(size: Size, what: str, script: str, *args: str) -> str:
    """``script`` (manage.py, the floor's probe.py) in catalog-service's environment; ``what``
    names it in the error."""
    done = subprocess.run(
        [str(PYTHON), script, *args],
        cwd=SERVICE,
        env=service_env(size),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise BenchError(f"{what} failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def manage(size: Size, *command: str) -> str:
    return in_service(size, f"manage.py {' '.join(command)}", "manage.py", *command)


def probe(size: Size, *args: str) -> object:
    return json.loads(in_service(size, f"probe.py {args[0]}", str(FLOOR / "probe.py"), *args))


def psql(size: Size | None, sql: str, pg: str) -> str:
    return benchlib.psql(sql, size.database if size else "postgres", pg)


# --- the databases -------------------------------------------------------------------------


def prepare_database(size: Size, args: argparse.Namespace) -> None:
    """Created, migrated, seeded to exactly ``size.products`` (once), vacuumed and analysed."""
    # Database names are bench_catalog_<size label>: digits and k/m only.
    query = f"SELECT 1 FROM pg_database WHERE datname = '{size.database}'"  # noqa: S608
    exists = psql(None, query, args.pg)
    if exists and args.reseed:
        psql(None, f"DROP DATABASE {size.database} WITH (FORCE)", args.pg)
        exists = ""
    manage(size, "ensure_database")
    manage(size, "migrate", "--no-input", "-v0")
    # A one-off count at set-up (about 0.1 s at 1M); the measured requests never count.
    count = int(psql(size, "SELECT count(*) FROM catalog_product", args.pg))
    if count > size.products:
        print(f"{size.database}: {count:,} products, more than {size.products:,}: re-creating")
        psql(None, f"DROP DATABASE {size.database} WITH (FORCE)", args.pg)
        manage(size, "ensure_database")
        manage(size, "migrate", "--no-input", "-v0")
        count = 0
    seeded = False
    if count < size.products:
        missing = size.products - count
        print(f"{size.database}: seeding {missing:,} products (about {missing // 7000 + 1} s)")
        started = time.monotonic()
        # --no-events: the benchmark reads; a million product.changed outbox rows would only
        # slow the seed down and wait for a sweep that never runs here.
        manage(
            size,
            "seed_catalog",
            *("--products", str(missing), "--batch", "5000", "--no-progress", "--no-events"),
        )
        size.facts["seed_s"] = round(time.monotonic() - started, 1)
        seeded = True
    if seeded or args.reseed:
        print(f"{size.database}: VACUUM ANALYZE", flush=True)
        psql(size, "VACUUM ANALYZE", args.pg)
    else:
        psql(size, "ANALYZE catalog_product", args.pg)  # statistics current, whatever happened
    size.facts["products"] = int(psql(size, "SELECT count(*) FROM catalog_product", args.pg))
    size.facts["database_size"] = psql(
        size, "SELECT pg_size_pretty(pg_database_size(current_database()))", args.pg
    )
    size.facts["reused"] = not seeded
    size.keys = probe(size, "keys", str(DEPTH))  # type: ignore[assignment]
    print(
        f"{size.database}: {size.facts['products']:,} products "
        f"({size.facts['database_size']}, {'reused' if not seeded else 'seeded now'})",
        flush=True,
    )


# --- the servers ---------------------------------------------------------------------------


def start_server(size: Size, args: argparse.Namespace, var: Path) -> None:
    size.port = benchlib.free_port_from(args.port + list(args.sizes).index(size.products))
    size.base = f"http://127.0.0.1:{size.port}"
    size.log = var / f"gunicorn-{size.label}.log"
    env = {
        **service_env(size),
        "GUNICORN_BIND": f"127.0.0.1:{size.port}",
        "GUNICORN_WORKERS": str(args.workers),
        "BENCH_RECYCLE": "1" if args.recycle else "0",
    }
    with size.log.open("w") as out:
        size.server = subprocess.Popen(
            [str(GUNICORN), "-c", str(FLOOR / "gunicorn_bench.py"), "config.wsgi"],
            cwd=SERVICE,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_ready(size: Size) -> None:
    assert size.server is not None
    deadline = time.monotonic() + START_TIMEOUT
    failed = benchlib.wait_ok(f"{size.base}/readyz", size.server, deadline, request_timeout=2)
    if failed == "exited":
        raise BenchError(f"gunicorn ({size.label}) exited: see {size.log}")
    if failed:
        raise BenchError(f"gunicorn ({size.label}) not ready after {START_TIMEOUT} s")


def stop_server(size: Size) -> None:
    """SIGTERM to the gunicorn master (graceful), SIGKILL to its group after 20 s."""
    if size.server is not None:
        benchlib.stop_group(size.server, grace=20)


# --- checks before measuring ---------------------------------------------------------------


def raw_results(body: bytes) -> bytes:
    """The bytes of ``results`` in a list page (the last key: next, previous, results)."""
    start = body.find(b'"results":')
    if start < 0 or not body.endswith(b"}"):
        raise BenchError(f"not a list page: {body[:200]!r}")
    return body[start:-1]


def cursor_of(link: str | None) -> str | None:
    if link is None:
        return None
    return parse_qs(urlsplit(link).query).get("cursor", [""])[0]


def check_same(size: Size) -> dict[str, dict]:
    """Both targets answer 200 with byte-identical results (and next cursors); returns facts."""
    facts = {}
    with httpx.Client(base_url=size.base, timeout=30) as client:
        for scenario, paths in size.paths().items():
            answers = {target: client.get(path) for target, path in paths.items()}
            for target, answer in answers.items():
                if answer.status_code != 200:
                    raise BenchError(
                        f"{size.label} {scenario} {target} {paths[target]}: "
                        f"{answer.status_code} {answer.text[:300]}"
                    )
            real, floor = answers["endpoint"].content, answers["floor"].content
            if scenario == "detail":
                same, rows = real == floor, 1
            else:
                same = raw_results(real) == raw_results(floor)
                page = answers["endpoint"].json()
                rows = len(page["results"])
                mine = answers["floor"].json()
                same = same and cursor_of(page["next"]) == cursor_of(mine["next"])
                if rows == 0:
                    raise BenchError(f"{size.label} {scenario}: an empty page measures nothing")
            if not same:
                raise BenchError(
                    f"{size.label} {scenario}: the floor and the endpoint differ:\n"
                    f"endpoint {real[:400]!r}\nfloor    {floor[:400]!r}"
                )
            facts[scenario] = {"rows": rows, "bytes": len(real)}
    return facts


def inspect_queries(size: Size) -> list[dict]:
    """The queries behind each scenario, every ordering and every filter, with their plans."""
    urls = [path for paths in size.paths().values() for path in paths.values()]
    for name, token in size.keys["cursors"].items():
        urls += [f"{API}?ordering={name}", f"{API}?ordering={name}&cursor={token}"]
    urls += [f"{API}?{query}" for query in COVERAGE_FILTERS]
    found = probe(size, "inspect", *urls)
    assert isinstance(found, list)
    for item in found:
        if item["status"] != 200:
            raise BenchError(f"{size.label} {item['url']} answered {item['status']}")
    return found


# --- CPU accounting and wrk ----------------------------------------------------------------


def run_wrk(load: Load, url: str, servers: list[int], backends: set[int]) -> dict:
    """One wrk run, with the CPU per request of gunicorn (our servers' trees) and of the
    PostgreSQL backends serving it (their kept connections) during it."""
    result, cpu = benchlib.wrk_cpu(
        load, url, lambda: benchlib.cpu_by_kind({"gunicorn": servers}, {"postgres": backends})
    )
    result["cpu_us_per_request"] = {
        name: round(seconds / max(result["requests"], 1) * 1e6, 1) for name, seconds in cpu.items()
    }
    return result


# --- the measurement -----------------------------------------------------------------------


def measure_all(sizes: list[Size], args: argparse.Namespace) -> dict:
    """Rounds over scenario x size x target (the target order alternates every round), under
    load and at one connection. Returns series[mode][scenario][size][target] = [runs]."""
    servers = [size.server.pid for size in sizes if size.server is not None]
    loads = {
        "load": Load(args.wrk, args.script, args.duration, args.connections),
        "single": Load(args.wrk, args.script, args.duration, 1),
    }
    targets = ("endpoint", "floor")
    print(f"warm-up: {args.warmup} s per scenario, size and target", flush=True)
    for size in sizes:
        for paths in size.paths().values():
            for path in paths.values():
                warm = Load(args.wrk, args.script, args.warmup, args.connections)
                run_wrk(warm, size.base + path, servers, set())
    # the backends of the benchmark's databases: every worker has connected by now
    backends = benchlib.pg_backend_pids([size.database for size in sizes], server=args.pg)
    series: dict = {}
    total = args.rounds * len(SCENARIOS) * len(sizes) * 2 * 2 * args.duration
    print(f"measuring: about {total // 60} min {total % 60} s", flush=True)
    for index in range(args.rounds):
        order = targets if index % 2 == 0 else targets[::-1]
        for mode, load in loads.items():
            for scenario in SCENARIOS:
                for size in sizes:
                    for target in order:
                        url = size.base + size.paths()[scenario][target]
                        result = run_wrk(load, url, servers, backends)
                        runs = series.setdefault(mode, {}).setdefault(scenario, {})
                        runs.setdefault(size.label, {}).setdefault(target, []).append(result)
                        print(
                            f"  round {index + 1}/{args.rounds} {mode:<6} c={load.connections} "
                            f"{scenario:<8} {size.label:>4} {target:<8} "
                            f"{result['rps']:7.1f} req/s  p50 {result['p50_ms']:6.2f} ms  "
                            f"p99 {result['p99_ms']:6.2f} ms  "
                            f"other load {result['other_load_cores']:.2f} cores",
                            flush=True,
                        )
    return series


def summarize(runs: list[dict]) -> dict:
    names = sorted({name for run in runs for name in run["cpu_us_per_request"]})
    return {
        **benchlib.latency_summary(runs),
        **benchlib.means(runs, {"other_load_cores": 2}),
        "cpu_us_per_request": {
            name: round(statistics.median(run["cpu_us_per_request"][name] for run in runs), 1)
            for name in names
        },
    }


def paired(first: list[dict], second: list[dict], key: str) -> float:
    """Median over rounds of first[key] / second[key]: the two were measured back to back in
    each round, so a change of the machine's other load between rounds cancels out."""
    return round(statistics.median(a[key] / b[key] for a, b in zip(first, second, strict=True)), 3)


def cpu_us(runs: list[dict]) -> float:
    """gunicorn + its PostgreSQL backends, CPU microseconds per request over all rounds."""
    requests = sum(run["requests"] for run in runs)
    spent = sum(
        (run["cpu_us_per_request"]["gunicorn"] + run["cpu_us_per_request"]["postgres"])
        * run["requests"]
        for run in runs
    )
    return round(spent / requests, 1)


def ratios(series: dict, labels: list[str]) -> dict:
    """Per scenario: endpoint/floor at each size, and 1M/10k (largest/smallest size)."""
    found: dict = {}
    small, large = labels[0], labels[-1]
    for scenario in SCENARIOS:
        load, single = series["load"][scenario], series["single"][scenario]
        entry: dict = {"floor": {}, "scale": {}}
        for size in labels:
            entry["floor"][size] = {
                "rps": paired(load[size]["endpoint"], load[size]["floor"], "rps"),
                "cpu": round(cpu_us(load[size]["floor"]) / cpu_us(load[size]["endpoint"]), 3),
            }
        if len(labels) > 1:
            big, little = single[large]["endpoint"], single[small]["endpoint"]
            entry["scale"] = {
                "p50": paired(big, little, "p50_ms"),
                "p99": paired(big, little, "p99_ms"),
                "rps": paired(load[small]["endpoint"], load[large]["endpoint"], "rps"),
                "cpu": round(cpu_us(load[large]["endpoint"]) / cpu_us(load[small]["endpoint"]), 3),
            }
        found[scenario] = entry
    return found


def verdicts(found: dict, labels: list[str], connections: int) -> list[dict]:
    rows = []
    small, large = labels[0], labels[-1]
    for scenario in SCENARIOS:
        scale = found[scenario]["scale"]
        if scale:
            rows += [
                verdict(
                    f"{scenario}: p50 latency {large} / {small} (c=1)",
                    scale["p50"],
                    f"<= {TARGET_SCALE}",
                    scale["p50"] <= TARGET_SCALE,
                ),
                verdict(
                    f"{scenario}: throughput {small} / {large} (c={connections})",
                    scale["rps"],
                    f"<= {TARGET_SCALE}",
                    scale["rps"] <= TARGET_SCALE,
                ),
                verdict(f"{scenario}: p99 latency {large} / {small} (c=1)", scale["p99"]),
                verdict(f"{scenario}: CPU per request {large} / {small}", scale["cpu"]),
            ]
        for size in labels:
            ratio = found[scenario]["floor"][size]
            rows += [
                verdict(
                    f"{scenario}: throughput endpoint / floor at {size}",
                    ratio["rps"],
                    f">= {TARGET_FLOOR}",
                    ratio["rps"] >= TARGET_FLOOR,
                ),
                verdict(f"{scenario}: CPU per request floor / endpoint at {size}", ratio["cpu"]),
            ]
    return rows


# --- reports -------------------------------------------------------------------------------


def context(sizes: list[Size], args: argparse.Namespace) -> dict:
    databases = "; ".join(
        f"{s.database}: {s.facts['products']:,} products, {s.facts['database_size']} "
        + ("(reused)" if s.facts["reused"] else f"(seeded in {s.facts.get('seed_s')} s)")
        for s in sizes
    )
    return {
        **benchlib.provenance(args.loadavg),
        "postgresql": first_line(["psql", f"{args.pg}/postgres", "-qAtc", "SELECT version()"]),
        "databases": databases,
        "gunicorn": f"{args.workers} sync workers, DB_CONN_MAX_AGE=600 (connections reused), "
        f"access log off, recycling {'on' if args.recycle else 'off'}",
        "wrk": first_line([args.wrk, "-v"])
        + f" (one thread; load: c={args.connections}, latency: c=1; {args.rounds} round(s) of "
        f"{args.duration} s each, after {args.warmup} s of warm-up)",
        "notes": [
            f"deep: cursor of the active product {DEPTH:.0%} of the way through the name "
            "ordering (OFFSET at set-up), encoded as the paginator encodes next links",
            f"detail: the active product {DEPTH:.0%} of the way through the ids",
            f"filtered: ?{FILTERED}",
            "floor: infra/bench/catalog_floor/views.py, plain Django views in the same "
            "gunicorn process (same middleware and database settings); results checked "
            "byte-identical to the endpoint's before measuring",
            "latency p50/p99: wrk at one connection; throughput: wrk under load; figures are "
            "medians over rounds; ratios are medians over rounds of the ratio of two runs "
            "made back to back (endpoint and floor; 10k and 1M)",
            "CPU per request: gunicorn's workers plus the PostgreSQL backends of their kept "
            "connections (from /proc), less sensitive than req/s to other load on the machine; "
            "other load: CPU of everything else on the machine during the runs, in cores",
        ],
    }


def rows_figures(report: dict) -> list[list[str]]:
    summary, labels = report["summary"], report["settings"]["sizes"]
    head = ["scenario", "size", "target", "req/s (load)", "p50 ms", "p99 ms", "p50 ms (load)"]
    rows = [[*head, "p99 ms (load)", "gunicorn CPU us/req", "PG CPU us/req", "other load"]]
    for scenario in SCENARIOS:
        for size in labels:
            for target in ("endpoint", "floor"):
                loaded = summary["load"][scenario][size][target]
                single = summary["single"][scenario][size][target]
                cpu = loaded["cpu_us_per_request"]
                rows.append(
                    [
                        scenario,
                        size,
                        target,
                        f"{loaded['rps']:.1f}",
                        f"{single['p50_ms']:.2f}",
                        f"{single['p99_ms']:.2f}",
                        f"{loaded['p50_ms']:.2f}",
                        f"{loaded['p99_ms']:.2f}",
                        f"{cpu.get('gunicorn', 0):.0f}",
                        f"{cpu.get('postgres', 0):.0f}",
                        f"{loaded['other_load_cores']:.2f}",
                    ]
                )
    return rows


def rows_ratios(report: dict) -> list[list[str]]:
    labels, found = report["settings"]["sizes"], report["ratios"]
    small, large = labels[0], labels[-1]
    head = ["scenario"]
    for size in labels:
        head += [f"endpoint/floor req/s {size}", f"floor/endpoint CPU {size}"]
    if len(labels) > 1:
        head += [f"p50 {large}/{small}", f"p99 {large}/{small}", f"req/s {small}/{large}"]
        head += [f"CPU {large}/{small}"]
    rows = [head]
    for scenario in SCENARIOS:
        row = [scenario]
        for size in labels:
            row += [f"{found[scenario]['floor'][size][key]:.2f}" for key in ("rps", "cpu")]
        scale = found[scenario]["scale"]
        row += [f"{scale[key]:.2f}" for key in ("p50", "p99", "rps", "cpu") if scale]
        rows.append(row)
    return rows


def short(url: str) -> str:
    return re.sub(r"cursor=[A-Za-z0-9_-]+", "cursor=<90%>", url)


def rows_queries(report: dict) -> list[list[str]]:
    labels = report["settings"]["sizes"]
    rows = [
        ["request", "queries", "COUNT", *(f"SQL ms {s}" for s in labels), "plan (largest size)"]
    ]
    inspected = report["queries"]
    largest = inspected[labels[-1]]
    for index, item in enumerate(largest):
        timings = [
            "+".join(f"{st['execution_ms']:.2f}" for st in inspected[s][index]["statements"])
            for s in labels
        ]
        plans = []
        for statement in item["statements"]:
            nodes = [n for n in statement["nodes"] if " " in n or n == "Sort"]
            seq = [t for t in statement["seq_scans"] if t == "catalog_product"]
            plans.append(", ".join(nodes) + (" SEQ SCAN OF PRODUCTS" if seq else ""))
        rows.append(
            [
                short(item["url"]),
                str(item["queries"]),
                "yes" if item["counts_rows"] else "no",
                *timings,
                " | ".join(plans),
            ]
        )
    return rows


TABLES = (
    ("Targets", benchlib.rows_targets),
    ("Ratios (endpoint / floor throughput; 1M / 10k)", rows_ratios),
    ("Figures (medians over rounds)", rows_figures),
    ("Queries per request and their plans (EXPLAIN ANALYZE, in-process)", rows_queries),
)


def report_text(report: dict, *, markdown: bool) -> str:
    tables = [
        (title, rows(report))
        for title, rows in TABLES
        if rows is not rows_queries or report.get("queries")
    ]
    title = "Catalog at scale: product list and detail"
    return benchlib.render(title, report["context"], tables, markdown=markdown)


# --- main ----------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default="10000,1000000",
        help="catalog sizes, smallest first (default 10000,1000000)",
    )
    parser.add_argument("--skip-1m", action="store_true", help="leave out the 1,000,000 size")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (default 3)")
    parser.add_argument("--duration", type=int, default=5, help="seconds per wrk run (5)")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per URL")
    parser.add_argument("--connections", type=int, default=4, help="connections under load")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    parser.add_argument("--port", type=int, default=8651, help="first port (default 8651)")
    parser.add_argument(
        "--pg", default="postgres://postgres@127.0.0.1:5432", help="PostgreSQL server URL"
    )
    parser.add_argument("--reseed", action="store_true", help="re-create and seed the databases")
    parser.add_argument("--drop", action="store_true", help="drop the databases at the end")
    parser.add_argument("--no-inspect", action="store_true", help="skip the query inspection")
    parser.add_argument("--recycle", action="store_true", help="keep gunicorn's recycling")
    args = parser.parse_args()
    try:
        sizes = sorted({int(n.replace("_", "")) for n in args.sizes.split(",") if n.strip()})
    except ValueError:
        parser.error("--sizes: comma-separated numbers of products")
    if args.skip_1m:
        sizes = [n for n in sizes if n != 1_000_000]
    if not sizes or min(sizes) < 100 or args.rounds < 1 or args.duration < 1:
        parser.error("at least one size of 100 or more, --rounds and --duration at least 1")
    args.sizes = sizes
    args.loadavg = benchlib.loadavg()
    return args


def benchmark(sizes: list[Size], args: argparse.Namespace, var: Path) -> dict:
    for size in sizes:
        prepare_database(size, args)
    for size in sizes:
        start_server(size, args, var)
    for size in sizes:
        wait_ready(size)
    pages = {}
    for size in sizes:
        pages[size.label] = check_same(size)
        described = ", ".join(
            f"{name} {fact['rows']} rows/{fact['bytes']} B"
            for name, fact in pages[size.label].items()
        )
        print(f"{size.label}: floor and endpoint return the same results ({described})")
    queries = {}
    if not args.no_inspect:
        for size in sizes:
            print(f"{size.label}: inspecting queries and plans", flush=True)
            queries[size.label] = inspect_queries(size)
    args.script = benchlib.wrk_script(var)
    series = measure_all(sizes, args)
    labels = [size.label for size in sizes]
    summary: dict = {"connections": args.connections}
    for mode, scenarios in series.items():
        summary[mode] = {
            scenario: {
                size: {target: summarize(runs) for target, runs in targets.items()}
                for size, targets in by_size.items()
            }
            for scenario, by_size in scenarios.items()
        }
    settings = {
        key: getattr(args, key)
        for key in ("rounds", "duration", "warmup", "connections", "workers")
    }
    report = {
        "context": context(sizes, args),
        "settings": {**settings, "sizes": labels, "products": args.sizes},
        "pages": pages,
        "summary": summary,
        "queries": queries,
        "runs": series,
    }
    report["ratios"] = ratios(series, labels)
    report["targets"] = verdicts(report["ratios"], labels, args.connections)
    return report


def main() -> int:
    args = parse_args()
    args.wrk = benchlib.ensure_wrk()
    if not GUNICORN.exists():
        sys.exit(f"{GUNICORN} is missing: run `make bootstrap` first")
    sizes = [
        Size(n, label(n), f"bench_catalog_{label(n)}", f"{args.pg}/bench_catalog_{label(n)}")
        for n in args.sizes
    ]
    var = Path(tempfile.mkdtemp(prefix="catalog-bench-"))
    (SERVICE_VAR / "static" / "catalog").mkdir(parents=True, exist_ok=True)  # whitenoise's
    failed = True
    try:
        report = benchmark(sizes, args, var)
        failed = False
    except (BenchError, httpx.HTTPError, subprocess.TimeoutExpired) as exc:
        print(f"\nbenchmark failed: {exc}", file=sys.stderr)
        for size in sizes:
            if size.log and size.log.exists():
                print(f"--- {size.log}", file=sys.stderr)
                print(size.log.read_text(errors="replace")[-2000:], file=sys.stderr)
    finally:
        for size in sizes:
            stop_server(size)
        if args.drop:
            for size in sizes:
                psql(None, f"DROP DATABASE IF EXISTS {size.database} WITH (FORCE)", args.pg)
                print(f"dropped database {size.database}")
        if failed:
            print(f"the servers' logs are kept in {var}", file=sys.stderr)
        else:
            shutil.rmtree(var, ignore_errors=True)
    if failed:
        return 1
    print("\n" + report_text(report, markdown=False))
    benchlib.write_reports(NAME, report, report_text(report, markdown=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
