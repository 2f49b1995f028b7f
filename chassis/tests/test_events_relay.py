"""The background outbox relay of serving processes (chassis.events.relay), on the real
broker and database: what a request hands over after commit is sent by the thread, in
batches, with what the inline relay guarantees."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest
from django.db import connection, transaction
from django_guid import set_guid

from chassis.events import relay
from chassis.events.models import OutboxEvent
from chassis.events.outbox import _commit_without_waiting_for_disk, publish
from chassis.events.reachability import broker_state
from chassis.events.tasks import outbox_sweep
from tests.test_events import broker, drain  # noqa: F401 - the fixture, used by name

FLUSH = 60.0  # generous: the machine may be busy


@pytest.fixture
def background() -> Iterator[None]:
    """The test process relays from the background thread, as a gunicorn or Celery worker."""
    relay.enable()
    try:
        yield
    finally:
        assert relay.flush(FLUSH)
        relay._enabled_in = None


def relay_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "outbox-relay"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("background")
def test_the_thread_sends_what_the_request_committed(broker):  # noqa: F811
    set_guid("corr-bg")
    with transaction.atomic():
        row = publish("test.happened", {"n": 1})
    set_guid("")
    assert relay.active()
    assert relay.flush(FLUSH)

    row.refresh_from_db()
    assert (row.attempts, row.published_at is not None) == (1, True)
    [envelope] = drain(broker)
    assert (envelope["id"], envelope["correlation_id"], envelope["payload"]) == (
        str(row.id),
        "corr-bg",
        {"n": 1},
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("background")
def test_many_commits_are_sent_once_each_by_one_thread(broker):  # noqa: F811
    rows = []
    for n in range(25):
        with transaction.atomic():
            rows.append(publish("test.happened", {"n": n}))
    assert relay.flush(FLUSH)

    assert len(relay_threads()) == 1
    assert sorted(e["payload"]["n"] for e in drain(broker)) == list(range(25))
    assert OutboxEvent.objects.filter(published_at__isnull=True).count() == 0
    assert set(OutboxEvent.objects.values_list("attempts", flat=True)) == {1}


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("background")
def test_while_the_broker_is_known_down_the_sweep_sends_the_rows(broker):  # noqa: F811
    broker_state.record(reachable=False, source="check", error="OSError: refused")
    with transaction.atomic():
        row = publish("test.happened", {"n": 1})
    assert relay.flush(FLUSH)
    row.refresh_from_db()
    assert (row.published_at, row.attempts) == (None, 0)  # not tried: the cooldown
    assert drain(broker) == []

    broker_state.reset()
    assert outbox_sweep() == 1
    assert [e["payload"]["n"] for e in drain(broker)] == [1]


@pytest.mark.django_db(transaction=True)
def test_switched_off_the_relay_is_inline_even_in_a_serving_process(broker, settings):  # noqa: F811
    settings.CHASSIS = {**settings.CHASSIS, "EVENTS": {**settings.CHASSIS.get("EVENTS", {})}}
    settings.CHASSIS["EVENTS"]["RELAY_IN_BACKGROUND"] = False
    relay.enable()
    try:
        assert not relay.active()
        with transaction.atomic():
            row = publish("test.happened", {"n": 2})
        row.refresh_from_db()  # sent before on_commit returned: no flush
        assert row.published_at is not None
        assert [e["payload"]["n"] for e in drain(broker)] == [2]
    finally:
        relay._enabled_in = None


def test_a_forked_copy_of_a_serving_process_relays_inline_until_enabled_in_it():
    relay._enabled_in = os.getpid() + 1  # enabled in another process (the parent)
    try:
        assert not relay.active()
        relay.enable()
        assert relay.active()
    finally:
        relay._enabled_in = None


@pytest.mark.django_db(transaction=True)
def test_the_relay_transaction_alone_commits_without_waiting_for_the_disk():
    def setting() -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            return str(cursor.fetchone()[0])

    with transaction.atomic():
        _commit_without_waiting_for_disk()
        assert setting() == "off"
    assert setting() == "on"  # SET LOCAL: the session keeps the server's setting
