"""What this machine's backing services can do at most, for the pieces an order needs.

- PostgreSQL: ``pgbench`` with a small write transaction (one UPDATE, one INSERT, COMMIT with
  the server's own durability settings), 8 clients on 2 threads, in a database of its own
  (``<prefix>pgbench``, dropped after): commits per second.
- RabbitMQ: a publisher with confirms (one message, wait for its confirm: what the outbox
  relay does) and a consumer acking each message, at the same time, in a vhost of its own
  (dropped after): messages published, confirmed, delivered and acked per second.

The order saga's bound is then min(commits/s / commits per order, messages/s / messages per
order), with the per-order counts measured on the platform itself (order_saga.py).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import amqp

PGBENCH_SCRIPT = """\\set aid random(1, 100000)
BEGIN;
UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid = :aid;
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, :aid, 1, now());
END;
"""
PG = ["-h", "127.0.0.1", "-U", "postgres"]


def pgbench_commits(prefix: str, seconds: int = 10, clients: int = 8) -> dict:
    """Commits per second of the small write transaction (pgbench's tps, excluding
    connection set-up), or an ``error`` when pgbench is missing or failed."""
    if shutil.which("pgbench") is None:
        return {"error": "pgbench not found (Debian: postgresql-client)"}
    database = f"{prefix}pgbench"
    subprocess.run(["createdb", *PG, database], check=True, capture_output=True)
    try:
        subprocess.run(
            ["pgbench", *PG, "-i", "-q", "-s", "1", database], check=True, capture_output=True
        )
        with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
            script.write(PGBENCH_SCRIPT)
        done = subprocess.run(
            ["pgbench", *PG, "-n", "-f", script.name, "-c", str(clients), "-j", "2",
             "-T", str(seconds), database],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        Path(script.name).unlink()
        found = re.search(r"tps = ([\d.]+) \(without initial connection time\)", done.stdout)
        if done.returncode != 0 or not found:
            return {"error": f"pgbench failed: {done.stdout[-300:]}{done.stderr[-300:]}"}
        return {"commits_per_s": round(float(found[1]), 1), "clients": clients}
    finally:
        subprocess.run(["dropdb", *PG, "--if-exists", "--force", database], capture_output=True)


def rabbitmq_messages(prefix: str, count: int = 3000) -> dict:
    """Messages per second through RabbitMQ with a confirm per publish and an ack per
    delivery (a publisher and a consumer running together), in a vhost of its own."""
    if shutil.which("rabbitmqctl") is None:
        return {"error": "rabbitmqctl not found: cannot make a vhost of its own"}
    vhost = f"{prefix}ceiling"
    ctl = ["rabbitmqctl", "-q"]
    subprocess.run([*ctl, "add_vhost", vhost], check=True, capture_output=True)
    subprocess.run([*ctl, "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
                   check=True, capture_output=True)  # fmt: skip
    try:
        return _rabbitmq_run(vhost, count)
    finally:
        subprocess.run([*ctl, "delete_vhost", vhost], capture_output=True)


def _connection(vhost: str) -> amqp.Connection:
    connection = amqp.Connection("127.0.0.1:5672", "guest", "guest", virtual_host=vhost)
    connection.connect()
    return connection


def _rabbitmq_run(vhost: str, count: int) -> dict:
    body = b'{"id": "00000000-0000-0000-0000-000000000000", "payload": {"n": 1}}' * 4
    received = 0
    all_in = threading.Event()
    with _connection(vhost) as consumer_connection, _connection(vhost) as publisher_connection:
        consumer = consumer_connection.channel()
        consumer.queue_declare("ceiling", durable=True, auto_delete=False)
        consumer.basic_qos(0, 100, False)

        def on_message(message: amqp.Message) -> None:
            nonlocal received
            message.channel.basic_ack(message.delivery_tag)
            received += 1
            if received == count:
                all_in.set()

        consumer.basic_consume("ceiling", callback=on_message)
        publisher = publisher_connection.channel()
        publisher.confirm_select()

        def consume() -> None:
            while not all_in.is_set():
                try:
                    consumer_connection.drain_events(timeout=1)
                except TimeoutError:
                    continue

        reader = threading.Thread(target=consume, daemon=True)
        started = time.perf_counter()
        reader.start()
        for _ in range(count):
            message = amqp.Message(body, delivery_mode=2, content_type="application/json")
            publisher.basic_publish_confirm(message, exchange="", routing_key="ceiling")
        published = time.perf_counter() - started
        if not all_in.wait(timeout=120):
            return {"error": f"only {received} of {count} messages came back in 120 s"}
        elapsed = time.perf_counter() - started
        reader.join(timeout=5)
    return {
        "messages_per_s": round(count / elapsed, 1),
        "confirmed_publishes_per_s": round(count / published, 1),
        "messages": count,
    }
