"""The embedded broker's candidates, side by side: kombu's filesystem transport (what ran
before), the chassis's (chassis.transport, with and without fsync) and kombu's SQLAlchemy
transport on a SQLite file (``sqla+sqlite:///``).

What it measures, per candidate, on a fresh folder / database under a temporary directory:

- publish: one process publishes ``--messages`` messages to a queue nobody consumes (msg/s);
- drain: one process then consumes and acknowledges that backlog (msg/s);
- concurrent: 2 publisher processes (``--messages`` in all) and 2 consumer processes at once:
  wall time until every message arrived, msg/s, and whether each message arrived exactly
  once and every process survived (kombu's own transport usually loses a consumer here);
- latency: one publisher sends ``--samples`` messages at 20/s to one waiting consumer
  process; publish -> consume p50/p99 (the system-wide monotonic clock), with the platform's
  polling interval of 0.1 s (what bounds it: every candidate is a polling transport);
- viability: an event published to a topic exchange by a process that did not declare the
  consumer's queue (a web process's outbox relay) reaches the queue bound by another process.

kombu's SQLAlchemy transport passes every transport option to SQLAlchemy's create_engine, so
``polling_interval`` cannot be set there (TypeError): the candidate here is a subclass with
the class attribute set to 0.1 s, as the platform would need. SQLAlchemy is not a dependency
of the platform: the run installs it into a temporary folder (``uv pip install --target``)
unless it is importable already.

Run it (``make bench-broker`` runs the bootstrap first; keep it small on a shared machine):

    chassis/.venv/bin/python infra/bench/embedded_broker.py                    # 1000 messages
    chassis/.venv/bin/python infra/bench/embedded_broker.py --messages 200 --samples 40

Results: a table on stdout, and infra/bench/results/embedded_broker-<UTC time>.json / .md plus
embedded_broker-latest.md. This is a benchmark: nothing asserts a target.
"""

from __future__ import annotations

import argparse
import json
import os
import platform as host
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "infra" / "bench" / "results"
UV = ROOT / "var" / "tools" / "bin" / "uv"
POLLING = 0.1  # chassis.conf's polling_interval for the embedded broker
DEADLINE = 180.0
CANDIDATES = ["kombu-filesystem", "chassis-filesystem", "chassis-filesystem-fsync", "sqla-sqlite"]

sys.path.insert(0, str(ROOT / "chassis" / "src"))


def connect(candidate: str, folder: Path) -> Any:
    from chassis.conf import broker_transport_options
    from kombu import Connection

    if candidate == "sqla-sqlite":
        return Connection(f"sqla+sqlite:///{folder}/broker.sqlite3", transport=sqlite_transport())
    options = {**broker_transport_options("filesystem://", folder), "polling_interval": POLLING}
    if candidate == "kombu-filesystem":
        return Connection("filesystem://", transport="filesystem", transport_options=options)
    from chassis.transport import TRANSPORT

    options["fsync"] = candidate.endswith("-fsync")
    return Connection("filesystem://", transport=TRANSPORT, transport_options=options)


def sqlite_transport() -> type:
    from kombu.transport import sqlalchemy

    class SQLiteTransport(sqlalchemy.Transport):
        polling_interval = POLLING

    return SQLiteTransport


# --- the processes ------------------------------------------------------------------------


def publish(candidate: str, folder: Path, first: int, count: int, interval: float) -> None:
    with connect(candidate, folder) as connection:
        simple = connection.SimpleQueue("bench")
        start = time.monotonic()
        for n in range(count):
            if interval:  # open loop: each message at its scheduled time
                time.sleep(max(0.0, start + n * interval - time.monotonic()))
            simple.put({"id": first + n, "sent": time.monotonic()})
        simple.close()


def consume(candidate: str, folder: Path, out: Path) -> None:
    stopping: list[bool] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    with connect(candidate, folder) as connection, out.open("a") as log:
        simple = connection.SimpleQueue("bench")
        while not stopping:
            try:
                message = simple.get(timeout=0.2)
            except simple.Empty:
                continue
            log.write(f"{message.payload['id']} {message.payload['sent']} {time.monotonic()}\n")
            log.flush()
            message.ack()
        simple.close()


def publish_topic(candidate: str, folder: Path) -> None:
    from kombu import Exchange, Producer

    with connect(candidate, folder) as connection:
        exchange = Exchange("platform.events", type="topic")
        Producer(connection.default_channel).publish(
            {"id": 1}, exchange=exchange, routing_key="order.placed", declare=[exchange]
        )


def start(role: str, *args: Any, log: Path) -> subprocess.Popen:
    with log.open("ab") as out:
        return subprocess.Popen(  # this script, fixed arguments
            [sys.executable, __file__, "--role", role, *map(str, args)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )


# --- the measurements ---------------------------------------------------------------------


def received(*logs: Path) -> list[tuple[int, float, float]]:
    """``(id, sent, received)`` of every message the consumers logged (monotonic seconds)."""
    rows = [line.split() for log in logs if log.exists() for line in log.read_text().splitlines()]
    return [(int(n), float(sent), float(got)) for n, sent, got in rows]


def run_processes(
    candidate: str, folder: Path, publishers: list[tuple[int, int, float]], consumers: int
) -> dict[str, Any]:
    """Consumers first, then publishers of ``(first id, count, interval)``; until every
    message arrived (or every consumer died)."""
    folder.mkdir()
    expected = sum(count for _, count, _ in publishers)
    outs = [folder / f"consumer-{i}.out" for i in range(consumers)]
    readers = [start("consume", candidate, folder, out, log=folder / "procs.log") for out in outs]
    time.sleep(1.0)  # let the consumers connect before the clock starts
    deadline = time.monotonic() + DEADLINE
    log = folder / "procs.log"
    writers = [start("publish", candidate, folder, *a, log=log) for a in publishers]
    while time.monotonic() < deadline and len(received(*outs)) < expected:
        if all(r.poll() is not None for r in readers):
            break
        time.sleep(0.01)
    died = sum(r.poll() is not None for r in readers)
    for process in readers:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in writers + readers:
        process.wait(timeout=60)
    rows = received(*outs)
    counts = Counter(n for n, _, _ in rows)
    window = max(got for _, _, got in rows) - min(sent for _, sent, _ in rows) if rows else 0
    return {  # the rate counts from the first publish to the last receipt
        "seconds": round(window, 3),
        "rate": round(len(counts) / window, 1) if window else 0.0,
        "latencies": sorted((got - sent) * 1000 for _, sent, got in rows),
        "missing": expected - len(counts),
        "duplicates": sum(c - 1 for c in counts.values()),
        "consumers_died": died,
        "publishers_failed": sum(w.returncode != 0 for w in writers),
    }


def measure(candidate: str, messages: int, samples: int) -> dict[str, Any]:
    result: dict[str, Any] = {"candidate": candidate}
    with tempfile.TemporaryDirectory(prefix=f"bench-{candidate}-") as tmp:
        folder = Path(tmp)
        with connect(candidate, folder) as connection:
            simple = connection.SimpleQueue("bench")
            began = time.monotonic()
            for n in range(messages):
                simple.put({"id": n, "sent": time.monotonic()})
            result["publish_rate"] = round(messages / (time.monotonic() - began), 1)
            began = time.monotonic()
            for _ in range(messages):
                simple.get(timeout=DEADLINE).ack()
            result["drain_rate"] = round(messages / (time.monotonic() - began), 1)
            simple.close()
        half = messages // 2
        two = [(0, half, 0.0), (half, messages - half, 0.0)]
        result["concurrent"] = run_processes(candidate, folder / "c", two, consumers=2)
        latency = run_processes(candidate, folder / "l", [(0, samples, 0.05)], consumers=1)
        result["latency_p50_ms"] = percentile(latency["latencies"], 50)
        result["latency_p99_ms"] = percentile(latency["latencies"], 99)
        result["latency_missing"] = latency["missing"]
        result["topic_across_processes"] = topic_across_processes(candidate, folder / "t")
        if candidate == "sqla-sqlite":
            result["rows_left"] = rows_left(folder)
        del result["concurrent"]["latencies"]
    return result


def topic_across_processes(candidate: str, folder: Path) -> bool:
    from kombu import Exchange, Queue

    folder.mkdir()
    queue = Queue("catalog.events", Exchange("platform.events", type="topic"), "order.*")
    with connect(candidate, folder) as connection:
        queue(connection.default_channel).declare()
        start("publish_topic", candidate, folder, log=folder / "procs.log").wait(timeout=60)
        message = queue(connection.default_channel).get()
        return message is not None and message.payload == {"id": 1}


def rows_left(folder: Path) -> int:
    """Rows kombu's SQLAlchemy transport keeps once every message was acknowledged."""
    with sqlite3.connect(folder / "c" / "broker.sqlite3") as db:
        return int(db.execute("SELECT count(*) FROM kombu_message").fetchone()[0])


def percentile(values: list[float], p: int) -> float | None:
    if not values:
        return None
    return round(statistics.quantiles(values, n=100, method="inclusive")[p - 1], 1)


# --- report -------------------------------------------------------------------------------

TOPIC = {True: "delivered", False: "lost"}
COLUMNS = [
    ("publish msg/s", lambda r: r["publish_rate"]),
    ("drain msg/s", lambda r: r["drain_rate"]),
    ("concurrent msg/s", lambda r: r["concurrent"]["rate"]),
    ("missing / duplicates", lambda r: "{missing} / {duplicates}".format(**r["concurrent"])),
    ("consumers died", lambda r: r["concurrent"]["consumers_died"]),
    ("latency p50 / p99 ms", lambda r: f"{r['latency_p50_ms']} / {r['latency_p99_ms']}"),
    ("topic event across processes", lambda r: TOPIC[r["topic_across_processes"]]),
    ("rows left after acks", lambda r: r.get("rows_left", "-")),
]


def render(report: dict[str, Any]) -> str:
    out = ["# Embedded broker: kombu filesystem vs chassis filesystem vs SQLAlchemy/SQLite", ""]
    out += [f"- {key}: {value}" for key, value in report["meta"].items()]
    out += ["", "| figure | " + " | ".join(r["candidate"] for r in report["results"]) + " |"]
    out += ["|---" * (len(report["results"]) + 1) + "|"]
    for title, cell in COLUMNS:
        out += [f"| {title} | " + " | ".join(str(cell(r)) for r in report["results"]) + " |"]
    return "\n".join(out) + "\n"


def ensure_sqlalchemy() -> None:
    try:
        import sqlalchemy  # noqa: F401
    except ImportError:
        target = Path(tempfile.gettempdir()) / "embedded-broker-bench-sqlalchemy"
        if not (target / "sqlalchemy").exists():
            print(f"installing SQLAlchemy into {target} (not a platform dependency)", flush=True)
            install = [str(UV), "pip", "install", "--quiet", "--target", str(target)]
            subprocess.run([*install, "--python", sys.executable, "sqlalchemy"], check=True)
        sys.path.insert(0, str(target))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=1000, help="per throughput series")
    parser.add_argument("--samples", type=int, default=100, help="latency samples (20/s)")
    parser.add_argument("--only", choices=CANDIDATES, action="append", help="candidate(s)")
    parser.add_argument("--role", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.role:
        ensure_sqlalchemy()
        candidate, folder, *more = rest
        if args.role == "publish":
            publish(candidate, Path(folder), int(more[0]), int(more[1]), float(more[2]))
        elif args.role == "consume":
            consume(candidate, Path(folder), Path(more[0]))
        else:
            publish_topic(candidate, Path(folder))
        return
    ensure_sqlalchemy()
    load = " ".join(f"{n:.2f}" for n in os.getloadavg())
    results = []
    for candidate in args.only or CANDIDATES:
        print(f"== {candidate}", flush=True)
        results.append(measure(candidate, args.messages, args.samples))
        print(json.dumps(results[-1]), flush=True)
    import kombu
    import sqlalchemy

    report = {
        "meta": {
            "finished_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "machine": f"{os.cpu_count()} cores, {host.machine()}, load average before {load}",
            "versions": f"kombu {kombu.__version__}, SQLAlchemy {sqlalchemy.__version__}, "
            f"Python {host.python_version()}",
            "messages": f"{args.messages} per throughput series; {args.samples} latency samples",
            "polling interval": f"{POLLING} s (chassis.conf's)",
            "folder": tempfile.gettempdir(),
        },
        "results": results,
    }
    markdown = render(report)
    print(markdown)
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (RESULTS / f"embedded_broker-{stamp}.json").write_text(json.dumps(report, indent=2) + "\n")
    (RESULTS / f"embedded_broker-{stamp}.md").write_text(markdown)
    (RESULTS / "embedded_broker-latest.md").write_text(markdown)


if __name__ == "__main__":
    main()
