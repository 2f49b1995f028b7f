"""infra/bench/benchlib.py's pure logic: wrk's output read, processes put in their CPU groups
and their CPU counted between two snapshots (fake /proc data), reports rendered; and the
environment of an isolated platform (infra/local/sandbox.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

import sandbox
from conftest import REGISTRY, ROOT

sys.path.insert(0, str(ROOT / "infra" / "bench"))
from benchlib import (
    BenchError,
    Groups,
    Proc,
    classify,
    latency_summary,
    means,
    parse_wrk,
    render,
    rows_targets,
    verdict,
)
from cpugroups import Snapshot, cpu_between, parse_proc, ticks_between

WRK = """Running 3s test @ http://127.0.0.1:8001/api/v1/users/me
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     5.10ms    1.20ms  30.00ms   90.00%
    Req/Sec     1.57k   100.00     1.70k    70.00%
  Latency Distribution
     50%    4.87ms
     75%    5.50ms
     90%    6.20ms
     99%    1.02s
  4712 requests in 3.00s, 1.20MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
Requests/sec:   1570.42
Transfer/sec:    410.00KB
non2xx 3
"""


def test_wrk_output_gives_requests_rate_percentiles_non2xx_and_socket_errors() -> None:
    assert parse_wrk(WRK) == {
        "requests": 4712,
        "rps": 1570.42,
        "p50_ms": 4.87,
        "p99_ms": 1020.0,
        "non2xx": 3,
        "socket_errors": 3,
    }


def test_wrk_output_without_the_scripts_count_is_refused() -> None:
    with pytest.raises(BenchError, match="cannot read wrk's output"):
        parse_wrk(WRK.replace("non2xx 3\n", ""))


def test_a_stat_line_is_read_whatever_the_command_name_holds() -> None:
    fields = "S 7 7 7 0 -1 0 0 0 0 0 250 50 30 10 20 0 3 0 98765 0 0"
    proc = parse_proc(42, f"42 (gunicorn: (x) y) {fields}", b"a\0b c\0", "/srv/users-service")
    assert proc == Proc(42, 7, 98765, "gunicorn: (x) y", "a b c", "/srv/users-service", 300, 40)


def proc(pid: int, ppid: int, cmdline: str, cwd: str = "/", comm: str = "", **ticks: int) -> Proc:
    name = comm or cmdline.split()[0].rsplit("/", 1)[-1][:15]
    return Proc(pid, ppid, ticks.get("start", 1), name, cmdline, cwd, ticks.get("own", 0), 0)


GUNICORN = "/w/users-service/.venv/bin/python .venv/bin/gunicorn -c gunicorn.conf.py"
CELERY = "/w/orders-service/.venv/bin/python .venv/bin/celery -A config"
PROCS = [
    proc(400, 1, "python3 infra/bench/order_saga.py"),  # the client
    proc(401, 400, "wrk -t1 -c8 http://127.0.0.1:8001/"),
    proc(100, 400, "python3 infra/local/runner.py up"),
    proc(101, 100, GUNICORN, "/w/users-service"),
    proc(102, 101, GUNICORN, "/w/users-service"),
    proc(103, 100, f"{CELERY} worker --concurrency 1", "/w/orders-service"),
    proc(104, 103, f"{CELERY} worker --concurrency 1", "/w/orders-service"),
    proc(105, 100, f"{CELERY} beat --schedule x", "/w/orders-service"),
    proc(106, 100, "haproxy -dMglobal -db -f haproxy.cfg"),
    proc(107, 100, "python infra/local/mailsink.py --port 2525"),
    proc(108, 100, "sleep 5"),
    proc(200, 1, "/usr/lib/postgresql/15/bin/postgres -D /var/lib/x", comm="postgres"),
    proc(201, 200, "postgres: 15/main: postgres bench_ab_users 127.0.0.1(5555) idle"),
    proc(202, 200, "postgres: 15/main: postgres other_orders 127.0.0.1(5556) idle"),
    proc(203, 200, "postgres: 15/main: checkpointer"),
    proc(204, 200, "postgres: 15/main: postgres other_x 127.0.0.1(5557) idle"),
    proc(300, 1, "/usr/lib/erlang/erts-13.1.5/bin/beam.smp -W w", comm="beam.smp"),
    proc(301, 300, "erl_child_setup 1024"),
    proc(
        302,
        1,
        "/usr/lib/erlang/bin/beam.smp -B -- -run escript start -escript main rabbitmqctl_escript",
        comm="beam.smp",
    ),
    proc(500, 1, GUNICORN, "/other/users-service"),  # another platform's: no group
    proc(501, 500, "haproxy -f other.cfg"),
]
SERVICES = {"users-service": "users", "orders-service": "orders"}


def test_processes_are_put_in_the_platforms_groups() -> None:
    procs = {p.pid: p for p in PROCS}
    groups = Groups(100, 400, SERVICES, pg_prefix="bench_ab_", pg_pids=frozenset({204}))
    assert classify(procs, groups) == {
        400: "client",
        401: "client",
        100: "supervisor",
        101: "users-web",
        102: "users-web",
        103: "orders-worker",
        104: "orders-worker",
        105: "orders-beat",
        106: "gateway",
        107: "mail",
        108: "other",
        201: "postgres",
        204: "postgres",
        300: "rabbitmq",
        301: "rabbitmq",
    }


def test_every_postgres_process_counts_without_a_prefix_and_labels_win() -> None:
    procs = {p.pid: p for p in PROCS}
    groups = Groups(100, 400, SERVICES, labelled={500: "bare-haproxy"})
    found = classify(procs, groups)
    assert {pid: found[pid] for pid in (200, 201, 202, 203, 204, 500, 501)} == {
        200: "postgres",
        201: "postgres",
        202: "postgres",
        203: "postgres",
        204: "postgres",
        500: "bare-haproxy",
        501: "bare-haproxy",
    }


def p(pid: int, ppid: int, own: int, children: int = 0, start: int = 1) -> Proc:
    return Proc(pid, ppid, start, "x", "x", "/", own, children)


def test_cpu_between_snapshots_follows_processes_that_come_and_go() -> None:
    before = Snapshot(
        10.0,
        {
            1: p(1, 0, 1000),  # a web master, reaps 2 in between
            2: p(2, 1, 300),  # its worker: 300 before, 340 at its end
            3: p(3, 1, 50),  # a worker that goes on
            4: p(4, 0, 80),  # a backend whose parent is in no group: ends, its last ticks lost
            5: p(5, 0, 70, start=1),  # pid 5 reused in between
        },
        {1: "web", 2: "web", 3: "web", 4: "postgres", 5: "client"},
    )
    after = Snapshot(
        12.0,
        {
            1: p(1, 0, 1010, children=340),
            3: p(3, 1, 150),
            5: p(5, 0, 20, start=9),  # a new process on the old pid: all of it counts
            6: p(6, 1, 30),  # a new worker
        },
        {1: "web", 3: "web", 5: "client", 6: "web"},
    )
    # web: master +10, reaped worker 340 - 300, worker 3 +100, new worker 30
    assert ticks_between(before, after) == {"web": 180, "client": 20}
    assert cpu_between(before, after, tick=100) == {
        "client": {"cpu_s": 0.2, "cores": 0.1},
        "web": {"cpu_s": 1.8, "cores": 0.9},
    }


def test_reports_render_as_text_and_markdown() -> None:
    report = {"targets": [verdict("ratio", 0.95, ">= 0.9", True), verdict("p99 | ms", 1.5)]}
    meta = {"commit": "abc123", "notes": ["one", "two"]}
    tables = [("Targets", rows_targets(report))]
    assert render("Bench", meta, tables, markdown=False) == (
        "Bench\n\n- commit: abc123\n- note: one\n- note: two\n\nTargets\n\n"
        "figure    value  target  verdict\n"
        "--------  -----  ------  -------\n"
        "ratio     0.95   >= 0.9  PASS\n"
        "p99 | ms  1.5    -       info\n"
    )
    assert render("Bench", meta, tables, markdown=True) == (
        "# Bench\n\n- commit: abc123\n- note: one\n- note: two\n\n## Targets\n\n"
        "| figure | value | target | verdict |\n|---|---|---|---|\n"
        "| ratio | 0.95 | >= 0.9 | PASS |\n| p99 \\| ms | 1.5 | - | info |\n"
    )


def test_summaries_are_medians_and_means_over_rounds() -> None:
    runs = [
        {"requests": 10, "rps": 100.0, "p50_ms": 1.0, "p99_ms": 9.0, "other_load_cores": 0.1},
        {"requests": 20, "rps": 300.0, "p50_ms": 3.0, "p99_ms": 5.0, "other_load_cores": 0.4},
        {"requests": 30, "rps": 200.0, "p50_ms": 2.0, "p99_ms": 7.0, "other_load_cores": 0.4},
    ]
    assert latency_summary(runs) == {
        "rounds": 3,
        "requests": 60,
        "rps": 200.0,
        "p50_ms": 2.0,
        "p99_ms": 7.0,
    }
    assert means(runs, {"other_load_cores": 2}) == {"other_load_cores": 0.3}


def test_an_isolated_platform_has_its_own_ports_var_prefix_and_vhost(tmp_path: Path) -> None:
    """infra/local/sandbox.py, what the system tests and the benchmarks start platforms with."""
    ports = sandbox.allocate_ports(REGISTRY.values())
    names = [f"{service.env_prefix}PORT" for service in REGISTRY.values()]
    assert list(ports) == [*names, "GATEWAY_PORT", "GATEWAY_STATUS_PORT", "SMTP_PORT"]
    assert len(set(ports.values())) == len(ports)
    env = sandbox.isolated_env(tmp_path, "t_ab12_", ports, {"GUNICORN_WORKERS": "1"})
    assert {name: env[name] for name in ports} == {n: str(p) for n, p in ports.items()}
    assert env["PLATFORM_VAR"] == str(tmp_path)
    assert env["PLATFORM_DB_PREFIX"] == "t_ab12_"
    assert env["PLATFORM_BROKER_VHOST"] == "t_ab12_vhost"
    assert env["GUNICORN_WORKERS"] == "1"
