"""chassis.events against the real PostgreSQL and RabbitMQ, with a real Celery worker."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django_guid import set_guid
from kombu import Connection

from chassis.events import outbox
from chassis.events.consumer import handle, redrive
from chassis.events.envelope import Envelope, InvalidEvent
from chassis.events.models import InboxEvent, OutboxEvent, ParkedEvent
from chassis.events.outbox import publish, publish_many, relay_pending
from chassis.events.reachability import broker_state
from chassis.events.tasks import outbox_sweep, retry_delay
from tests import handlers
from tests.celery_app import app
from tests.utils import dead_broker, wait_for

QUEUE = "chassis.events"


@pytest.fixture
def broker() -> Iterator[Connection]:
    """The events topology declared, this project's events queue empty, the relay's
    broker-down cooldown reset."""
    app.set_current()
    call_command("events_setup", verbosity=0)
    broker_state.reset()
    with app.connection_for_write() as conn:
        conn.default_channel.queue_purge(QUEUE)
        yield conn


def drain(conn: Connection) -> list[dict[str, Any]]:
    """The envelopes waiting in the events queue (consumed)."""
    channel = conn.default_channel
    envelopes = []
    while (message := channel.basic_get(QUEUE, no_ack=True)) is not None:
        args, _kwargs, _embed = json.loads(message.body)
        assert message.headers["task"] == "chassis.events.consume"
        envelopes.append(args[0])
    return envelopes


# --- envelope ------------------------------------------------------------------------------


def test_an_envelope_survives_a_round_trip():
    envelope = Envelope(type="test.happened", payload={"n": 1}, producer="chassis")

    again = Envelope.from_dict(envelope.to_dict())

    assert again == envelope
    assert envelope.to_dict()["occurred_at"].endswith("Z")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"id": "not-a-uuid"}, "id is not a UUID"),
        ({"version": "1"}, "malformed envelope field(s): version"),
        ({"version": 0}, "malformed envelope field(s): version"),
        ({"occurred_at": "yesterday"}, "malformed envelope field(s): occurred_at"),
        ({"occurred_at": "2026-11-22T10:00:00"}, "malformed envelope field(s): occurred_at"),
        ({"payload": [1]}, "malformed envelope field(s): payload"),
        ({"type": ""}, "malformed envelope field(s): type"),
        ({"extra": 1}, "envelope keys must be exactly"),
    ],
)
def test_malformed_envelopes_are_refused(change, message):
    data = {**Envelope(type="t.x", payload={}, producer="p").to_dict(), **change}

    with pytest.raises(InvalidEvent, match=message.replace("(", r"\(").replace(")", r"\)")):
        Envelope.from_dict(data)


# --- producing -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_publish_validates_the_payload_against_the_schema():
    with pytest.raises(InvalidEvent, match=r"n: -1 is less than the minimum of 0"):
        publish("test.happened", {"n": -1})
    with pytest.raises(InvalidEvent, match=r"\(root\): 'n' is a required property"):
        publish("test.happened", {})
    with pytest.raises(InvalidEvent, match=r"no schema for test\.unknown v1"):
        publish("test.unknown", {"n": 1})
    assert OutboxEvent.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_published_after_commit_with_confirms_and_the_correlation_id(broker):
    set_guid("corr-123")
    with transaction.atomic():
        row = publish("test.happened", {"n": 7})
        assert drain(broker) == []  # nothing leaves before commit
    set_guid("")

    row.refresh_from_db()
    assert row.published_at is not None
    assert row.attempts == 1
    [envelope] = drain(broker)
    assert envelope == {
        "id": str(row.id),
        "type": "test.happened",
        "version": 1,
        "occurred_at": envelope["occurred_at"],
        "producer": "chassis",
        "correlation_id": "corr-123",
        "payload": {"n": 7},
    }


@pytest.mark.django_db(transaction=True)
def test_relaying_given_rows_sends_only_those_still_pending_in_three_statements(broker):
    first, second, other = (
        OutboxEvent.objects.create(type="test.happened", producer="chassis", payload={"n": n})
        for n in (1, 2, 3)
    )
    OutboxEvent.objects.filter(pk=second.pk).update(published_at=timezone.now(), attempts=1)

    with CaptureQueriesContext(connection) as queries:  # ids as the relay thread has them
        assert relay_pending(ids=[str(first.id), second.id]) == 1

    # one transaction: synchronous_commit, the claim, the mark; no statement per row
    assert [q["sql"].split(" ", 1)[0] for q in queries] == [
        "BEGIN",
        "SET",
        "SELECT",
        "UPDATE",
        "COMMIT",
    ]
    assert [e["payload"]["n"] for e in drain(broker)] == [1]
    rows = OutboxEvent.objects.order_by("payload__n")
    assert [(r.attempts, r.published_at is not None) for r in rows] == [
        (1, True),
        (1, True),
        (0, False),
    ]
    assert relay_pending(ids=[]) == 0
    assert relay_pending(ids=[other.id]) == 1
    assert [e["payload"]["n"] for e in drain(broker)] == [3]


@pytest.mark.django_db
def test_publish_many_validates_every_payload_before_writing_any():
    with pytest.raises(InvalidEvent, match=r"n: -1 is less than the minimum of 0"):
        publish_many("test.happened", [{"n": 1}, {"n": -1}])
    assert OutboxEvent.objects.count() == 0


@pytest.mark.django_db(transaction=True)
def test_publish_many_writes_rows_like_publish_and_the_sweep_sends_them(broker):
    set_guid("corr-bulk")
    with transaction.atomic():
        rows = publish_many("test.happened", ({"n": n} for n in range(3)))
    set_guid("")

    stored = list(OutboxEvent.objects.order_by("payload__n"))
    assert [row.id for row in stored] == [row.id for row in rows]
    assert [
        (r.type, r.version, r.producer, r.correlation_id, r.payload, r.published_at, r.attempts)
        for r in stored
    ] == [("test.happened", 1, "chassis", "corr-bulk", {"n": n}, None, 0) for n in range(3)]
    assert drain(broker) == []  # no relay after commit: the sweep sends them

    assert outbox_sweep() == 3
    assert sorted(e["payload"]["n"] for e in drain(broker)) == [0, 1, 2]


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_transaction_sends_nothing(broker):
    def change_that_fails() -> None:
        with transaction.atomic():
            publish("test.happened", {"n": 1})
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError, match="the change failed"):
        change_that_fails()

    assert OutboxEvent.objects.count() == 0
    assert drain(broker) == []


@pytest.mark.django_db(transaction=True)
def test_broker_down_keeps_the_event_and_the_sweep_sends_it_later(broker, monkeypatch):
    with dead_broker(monkeypatch):
        started = time.monotonic()
        with transaction.atomic():
            row = publish("test.happened", {"n": 1})
        with transaction.atomic():
            second = publish("test.happened", {"n": 2})  # within the cooldown: not tried
        elapsed = time.monotonic() - started

    row.refresh_from_db()
    second.refresh_from_db()
    assert (row.published_at, row.attempts) == (None, 1)
    assert "OperationalError" in row.last_error or "Error" in row.last_error
    assert (second.published_at, second.attempts) == (None, 0)
    assert elapsed < 10  # one bounded connection attempt, not one per event
    failed = broker_state.last
    assert (failed.reachable, failed.source) == (False, "publish")
    assert failed.error == row.last_error[:200]

    assert outbox_sweep() == 2
    assert sorted(e["payload"]["n"] for e in drain(broker)) == [1, 2]
    assert OutboxEvent.objects.filter(published_at__isnull=True).count() == 0
    sent = broker_state.last
    assert (sent.reachable, sent.source, sent.error) == (True, "publish", "")


@pytest.mark.django_db(transaction=True)
def test_a_failed_broker_check_starts_the_cooldown_and_a_successful_one_ends_it(broker):
    broker_state.record(reachable=False, source="check", error="OSError: refused")
    with transaction.atomic():
        skipped = publish("test.happened", {"n": 1})  # the broker is known down: not tried

    broker_state.record(reachable=True, source="check")
    with transaction.atomic():
        sent = publish("test.happened", {"n": 2})

    skipped.refresh_from_db()
    sent.refresh_from_db()
    assert (skipped.published_at, skipped.attempts) == (None, 0)
    assert sent.published_at is not None
    assert sent.attempts == 1
    assert [e["payload"]["n"] for e in drain(broker)] == [2]


@pytest.mark.django_db(transaction=True)
def test_concurrent_relays_never_send_a_row_twice(broker):
    rows = [
        OutboxEvent.objects.create(type="test.happened", producer="chassis", payload={"n": n})
        for n in range(30)
    ]
    barrier = threading.Barrier(3)
    counts: list[int] = []

    def relay() -> None:
        barrier.wait()
        try:
            counts.append(relay_pending(limit=10))
        finally:
            connection.close()

    threads = [threading.Thread(target=relay) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    ids = [e["id"] for e in drain(broker)]
    assert sum(counts) == len(ids) == len(set(ids))
    assert set(ids) <= {str(r.id) for r in rows}
    assert outbox_sweep() == 30 - len(ids)
    assert sorted(ids + [e["id"] for e in drain(broker)]) == sorted(str(r.id) for r in rows)


# --- consuming -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_redelivered_event_changes_nothing():
    event = Envelope(type="test.happened", payload={"n": 3}, producer="p", correlation_id="c-9")

    assert handle(event) is True
    assert handle(event) is False

    assert handlers.seen() == [[str(event.id), 3, "c-9"]]  # the correlation id was in context
    assert list(InboxEvent.objects.values_list("event_id", flat=True)) == [event.id]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("first_commits", [True, False], ids=["commits", "rolls-back"])
def test_a_delivery_racing_an_uncommitted_one_waits_for_its_outcome(first_commits):
    """Two deliveries of one event at once (a redelivery while the first is still handled):
    the second waits on the first's inbox row, then skips it (committed) or applies it
    (rolled back); never both, never neither."""
    event = Envelope(type="test.happened", payload={"n": 7}, producer="p", correlation_id="c-7")
    results: list[bool] = []

    def second() -> None:
        try:
            results.append(handle(event))
        finally:
            connection.close()

    thread = threading.Thread(target=second)
    with transaction.atomic():
        InboxEvent.objects.create(event_id=event.id, type=event.type, producer="p")
        thread.start()
        with connection.cursor() as cursor:  # pg_locks is live, unlike pg_stat_activity

            def second_is_waiting() -> bool:
                cursor.execute("SELECT count(*) FROM pg_locks WHERE NOT granted")
                return cursor.fetchone()[0] > 0

            wait_for(second_is_waiting, timeout=60)
        assert results == []  # still waiting for this transaction's outcome
        transaction.set_rollback(not first_commits)
    thread.join(timeout=60)

    assert results == [not first_commits]
    assert handlers.seen() == ([] if first_commits else [[str(event.id), 7, "c-7"]])
    assert list(InboxEvent.objects.values_list("event_id", flat=True)) == [event.id]


@pytest.mark.django_db
def test_a_failing_handler_leaves_no_inbox_row():
    (handlers.state() / "broken").touch()
    event = Envelope(type="test.failed", payload={"n": 1}, producer="p")

    with pytest.raises(RuntimeError):
        handle(event)
    assert InboxEvent.objects.count() == 0

    (handlers.state() / "broken").unlink()
    assert handle(event) is True  # the retry applies it
    assert InboxEvent.objects.count() == 1


def test_retry_delays_grow_exponentially_up_to_the_cap():
    conf = {"RETRY_BACKOFF_SECONDS": 1, "RETRY_BACKOFF_MAX_SECONDS": 60}
    assert [retry_delay(n, conf) for n in range(8)] == [1, 2, 4, 8, 16, 32, 60, 60]


@pytest.mark.django_db(transaction=True)
def test_a_worker_applies_each_published_event_once(worker):
    set_guid("corr-worker")
    with transaction.atomic():
        first = publish("test.happened", {"n": 1})
    with transaction.atomic():
        second = publish("test.happened", {"n": 2})
    set_guid("")
    outbox.send(outbox.envelope_of(first))  # a duplicate delivery of the first

    wait_for(lambda: InboxEvent.objects.count() == 2)
    wait_for(lambda: worker.output().count('"events.duplicate"') == 1)  # the copy was consumed
    assert sorted(handlers.seen()) == sorted(
        [[str(first.id), 1, "corr-worker"], [str(second.id), 2, "corr-worker"]]
    )
    handled = [
        json.loads(line) for line in worker.output().splitlines() if "events.handled" in line
    ]
    assert {(h["event_id"], h["correlation_id"]) for h in handled} == {
        (str(first.id), "corr-worker"),
        (str(second.id), "corr-worker"),
    }  # the request's correlation id is in the consumer's logs


@pytest.mark.django_db(transaction=True)
def test_a_poison_event_is_parked_after_its_retries_and_can_be_redriven(worker):
    (handlers.state() / "broken").touch()
    with transaction.atomic():
        row = publish("test.failed", {"n": 5})

    parked = wait_for(lambda: ParkedEvent.objects.filter(event_id=row.id).first())
    assert parked.attempts == 5  # the first try and MAX_RETRIES=4 retries
    assert parked.error == "RuntimeError: handler is broken"
    assert parked.envelope["payload"] == {"n": 5}
    assert InboxEvent.objects.count() == 0

    (handlers.state() / "broken").unlink()  # the cause is fixed
    redrive(parked)

    wait_for(lambda: InboxEvent.objects.filter(event_id=row.id).exists())
    assert [(s[0], s[1]) for s in handlers.seen()] == [(str(row.id), 5)]
    parked.refresh_from_db()
    assert parked.redriven_at is not None


@pytest.mark.django_db(transaction=True)
def test_a_malformed_envelope_is_parked_at_once(worker):
    bad = {"id": str(uuid.uuid4()), "type": "test.happened"}
    app.send_task("chassis.events.consume", args=[bad], exchange="", routing_key=QUEUE)

    parked = wait_for(lambda: ParkedEvent.objects.first())
    assert (parked.attempts, parked.envelope) == (1, bad)
    assert parked.error.startswith("InvalidEvent: envelope keys must be exactly")
