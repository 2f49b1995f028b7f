"""chassis.transport, the embedded broker, on real files with real processes.

The same tests on kombu's own filesystem transport, one at a time (``CHASSIS_TEST_TRANSPORT=
filesystem .venv/bin/pytest tests/test_transport.py -k NAME``; in one run its per-process
bindings also lose the messages of later tests): the planted-file, not-a-message,
killed-consumer, requeue, channel-close and Celery-worker tests fail every time (the worker
dies with "Unrecoverable error: JSONDecodeError"), the many-processes one in most runs (a
consumer dies of the same error) and the first-bindings one now and then.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from celery import Celery
from kombu import Exchange, Producer, Queue

from chassis.conf import broker_transport_options
from chassis.testing import WorkerProcess
from chassis.transport import corrupt_messages_total, files
from tests import handlers
from tests.broker_clients import connect, transport_under_test

CHASSIS_DIR = Path(__file__).resolve().parents[1]
QUEUE = "orders.events"
DEADLINE = 60.0  # generous: the machine may be busy


def wait_for(condition: Callable[[], Any], *, alive: list[subprocess.Popen] = ()) -> Any:
    """Poll ``condition`` until it holds; fail at once if a process in ``alive`` exits."""
    deadline = time.monotonic() + DEADLINE
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        for process in alive:
            assert process.poll() is None, f"{process.args} exited {process.returncode}"
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


@pytest.fixture
def broker(tmp_path: Path) -> dict[str, Any]:
    """The transport options chassis.conf gives a service, under a fresh VAR_DIR."""
    return {**broker_transport_options("filesystem://", tmp_path), "polling_interval": 0.02}


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen]]:
    """Start ``python -m tests.broker_clients ARGS``; every process is killed at the end."""
    started: list[subprocess.Popen] = []

    def start(*args: Any) -> subprocess.Popen:
        import json

        argv = [json.dumps(a) if isinstance(a, dict) else str(a) for a in args]
        log = open(tmp_path / f"client-{len(started)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(  # noqa: S603 - a fixed command line
            [sys.executable, "-m", "tests.broker_clients", *argv],
            cwd=CHASSIS_DIR,
            env={**os.environ, "PYTHONPATH": ".:src"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def ids_in(*files: Path) -> list[int]:
    return [int(line) for f in files if f.exists() for line in f.read_text().split()]


def entries(folder: str) -> list[str]:
    return sorted(os.listdir(folder))


# --- names --------------------------------------------------------------------------------


def test_only_final_names_are_visible_to_a_reader_of_their_queue():
    name = files.message_name(QUEUE)

    assert files.is_message_of(name, QUEUE) is True
    assert files.is_message_of(name, "orders") is False
    assert files.is_message_of(files.temp_name(name), QUEUE) is False
    assert files.is_message_of(files.claim_name(name, 4242), QUEUE) is False
    assert files.parse_claim(files.claim_name(name, 4242)) == (name, 4242)
    assert files.parse_claim(name) is None
    assert files.parse_claim(files.temp_name(name)) is None


def test_message_names_sort_in_publish_order():
    first = second = files.message_name(QUEUE)
    while second.partition("_")[0] == first.partition("_")[0]:  # within a ms: random order
        second = files.message_name(QUEUE)

    assert sorted([second, first]) == [first, second]
    assert len(first.partition("_")[0]) == 14


# --- many processes -----------------------------------------------------------------------


def test_concurrent_publishers_and_consumers_deliver_each_message_exactly_once(
    broker, processes, tmp_path
):
    outs = [tmp_path / f"consumer-{i}.ids" for i in range(3)]
    consumers = [processes("consume", broker, QUEUE, out) for out in outs]
    publishers = [processes("publish", broker, QUEUE, i * 250, 250) for i in range(4)]

    wait_for(lambda: all(p.poll() is not None for p in publishers), alive=consumers)
    wait_for(lambda: len(ids_in(*outs)) >= 1000, alive=consumers)
    for consumer in consumers:
        consumer.send_signal(signal.SIGTERM)
        consumer.wait(timeout=DEADLINE)

    assert [p.returncode for p in publishers] == [0, 0, 0, 0]
    assert [c.returncode for c in consumers] == [0, 0, 0]
    assert Counter(ids_in(*outs)) == Counter(range(1000))
    assert entries(broker["data_folder_in"]) == []  # nothing left, claimed or not
    assert entries(broker["corrupt_folder"]) == []


def test_a_message_held_by_a_killed_consumer_is_delivered_again(broker, processes, tmp_path):
    out = tmp_path / "holder.ids"
    with connect(broker) as connection:
        simple = connection.SimpleQueue(QUEUE)
        simple.put({"id": 7})
        holder = processes("consume", broker, QUEUE, out, "--no-ack-hold")
        wait_for(lambda: ids_in(out) == [7], alive=[holder])

        holder.kill()
        holder.wait(timeout=DEADLINE)
        message = simple.get(timeout=DEADLINE)
        message.ack()

        assert message.payload == {"id": 7}
        assert entries(broker["data_folder_in"]) == []


def test_concurrent_first_bindings_of_an_exchange_are_all_kept(broker):
    exchange = Exchange("platform.events", type="topic")
    queues = [Queue(f"service{i}.events", exchange, routing_key=f"t{i}.#") for i in range(8)]
    barrier = threading.Barrier(len(queues))
    errors: list[BaseException] = []

    def declare(queue: Queue) -> None:
        try:
            with connect(broker) as connection:
                barrier.wait(timeout=DEADLINE)
                queue(connection.default_channel).declare()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=declare, args=(q,)) for q in queues]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=DEADLINE)

    assert errors == []
    with connect(broker) as connection:
        table = connection.default_channel.get_table("platform.events")
    assert sorted(entry.queue for entry in table) == [f"service{i}.events" for i in range(8)]


# --- one consumer -------------------------------------------------------------------------


def plant(folder: str, content: bytes) -> str:
    name = files.message_name(QUEUE)
    Path(folder, name).write_bytes(content)
    return name


def test_undecodable_files_are_set_aside_and_consuming_goes_on(broker, caplog):
    folder = broker["data_folder_in"]
    before = corrupt_messages_total()
    with connect(broker) as connection:
        scratch = connection.SimpleQueue("scratch")
        scratch.put({"id": 0, "padding": "x" * 100})
        whole = Path(folder, entries(folder)[0]).read_bytes()
        scratch.clear()
        simple = connection.SimpleQueue(QUEUE)

        simple.put({"id": 1})
        empty = plant(folder, b"")
        simple.put({"id": 2})
        truncated = plant(folder, whole[: len(whole) // 2])
        simple.put({"id": 3})
        received = []
        for _ in range(3):
            message = simple.get(timeout=DEADLINE)
            received.append(message.payload["id"])
            message.ack()
        with pytest.raises(simple.Empty):
            simple.get(timeout=0.5)

    assert sorted(received) == [1, 2, 3]
    assert entries(broker["corrupt_folder"]) == sorted([empty, truncated])
    assert Path(broker["corrupt_folder"], truncated).read_bytes() == whole[: len(whole) // 2]
    assert entries(folder) == []
    assert corrupt_messages_total() - before == 2
    warnings = sorted(
        (r.file, r.reason.partition(":")[0], r.levelname)
        for r in caplog.records
        if r.name == "chassis.transport"
    )
    assert warnings == sorted(
        [(empty, "empty file", "WARNING"), (truncated, "JSONDecodeError", "WARNING")]
    )
    assert f"broker.corrupt_message {empty}: empty file; moved to " in caplog.text


def test_json_that_is_not_a_message_is_set_aside_too(broker):
    before = corrupt_messages_total()
    with connect(broker) as connection:
        simple = connection.SimpleQueue(QUEUE)
        not_a_message = plant(broker["data_folder_in"], b'{"id": 1}')
        simple.put({"id": 2})

        message = simple.get(timeout=DEADLINE)
        message.ack()
        with pytest.raises(simple.Empty):  # past every file, whatever their order
            simple.get(timeout=0.5)

    assert message.payload == {"id": 2}
    assert entries(broker["corrupt_folder"]) == [not_a_message]
    assert corrupt_messages_total() - before == 1


def test_a_requeued_message_goes_back_to_its_own_queue_only(broker):
    exchange = Exchange("platform.events", type="topic")
    catalog = Queue("catalog.events", exchange, routing_key="order.*")
    audit = Queue("audit.events", exchange, routing_key="order.#")
    with connect(broker) as connection:
        channel = connection.default_channel
        catalog(channel).declare()
        audit(channel).declare()
        Producer(channel).publish({"id": 1}, exchange=exchange, routing_key="order.placed")

        catalog(channel).get().requeue()
        again = catalog(channel).get()
        again.ack()
        copies = [audit(channel).get(), audit(channel).get()]

    assert again.payload == {"id": 1}
    assert [m.payload if m else None for m in copies] == [{"id": 1}, None]


def test_an_unacknowledged_message_is_back_in_its_queue_when_the_channel_closes(broker):
    with connect(broker) as connection:
        connection.SimpleQueue(QUEUE).put({"id": 5})
        with connect(broker) as other:
            held = other.SimpleQueue(QUEUE).get(timeout=DEADLINE)
            assert held.payload == {"id": 5}
            assert [e.endswith(".unacked") for e in entries(broker["data_folder_in"])] == [True]

        message = connection.SimpleQueue(QUEUE).get(timeout=DEADLINE)
        message.ack()

    assert message.payload == {"id": 5}
    assert entries(broker["data_folder_in"]) == []


def test_a_message_taken_without_ack_leaves_no_claim(broker):
    queue = Queue(QUEUE, Exchange(QUEUE), routing_key=QUEUE)
    with connect(broker) as connection:
        bound = queue(connection.default_channel)
        bound.declare()
        Producer(connection.default_channel).publish({"id": 9}, exchange=QUEUE, routing_key=QUEUE)

        message = bound.get(no_ack=True)

    assert message.payload == {"id": 9}
    assert entries(broker["data_folder_in"]) == []


# --- a Celery worker ----------------------------------------------------------------------

# The start of a Celery message cut short, as a crash of the machine mid-write leaves it.
TRUNCATED_TASK = b'{"body": "W1s0Ml0sIHt9LCB7ImNhbGxiYWNrcyI6IG51bGx9XQ==", "content-enco'


@pytest.fixture
def embedded_worker(tmp_path: Path) -> Iterator[WorkerProcess]:
    """``celery -A tests.celery_app worker`` with ``CELERY_BROKER_URL=filesystem://``: the
    settings (chassis.conf) choose the transport, as in every service."""
    worker = WorkerProcess(
        "tests.celery_app",
        queues=["chassis"],
        env={"CELERY_BROKER_URL": "filesystem://", "VAR_DIR": str(tmp_path / "var")},
        cwd=str(CHASSIS_DIR),
        log_path=str(tmp_path / "worker.log"),
        celery=str(Path(sys.executable).with_name("celery")),
    ).start(timeout=DEADLINE)
    yield worker
    worker.stop()


def test_a_celery_worker_runs_every_task_around_corrupt_files(
    embedded_worker, tmp_path, monkeypatch
):
    var = tmp_path / "var"
    monkeypatch.setenv("CELERY_BROKER_URL", "filesystem://")  # Celery prefers it to its conf
    sender = Celery("sender")
    sender.conf.update(
        broker_url="filesystem://",
        broker_transport=transport_under_test(),
        broker_transport_options=broker_transport_options("filesystem://", var),
        task_default_queue="chassis",
    )
    queue_folder = str(var / "broker" / "queue")
    numbers = handlers.state() / "numbers"

    for number in (1, 2, 3):
        sender.send_task("tests.record_number", args=[number])
    empty = files.message_name("chassis")
    Path(queue_folder, empty).write_bytes(b"")
    truncated = files.message_name("chassis")
    Path(queue_folder, truncated).write_bytes(TRUNCATED_TASK)
    for number in (4, 5, 6):
        sender.send_task("tests.record_number", args=[number])

    alive = [embedded_worker.process]
    wait_for(lambda: numbers.exists() and len(numbers.read_text().split()) == 6, alive=alive)
    wait_for(lambda: len(entries(str(var / "broker" / "corrupt"))) == 2, alive=alive)
    output = embedded_worker.output()
    embedded_worker.stop()

    assert sorted(int(n) for n in numbers.read_text().split()) == [1, 2, 3, 4, 5, 6]
    assert entries(str(var / "broker" / "corrupt")) == sorted([empty, truncated])
    assert f"broker.corrupt_message {empty}: empty file" in output
    assert f"broker.corrupt_message {truncated}: JSONDecodeError" in output
    assert "Unrecoverable error" not in output
    assert embedded_worker.process.returncode == 0
    assert [e for e in entries(queue_folder) if e.endswith(".chassis.msg")] == []
