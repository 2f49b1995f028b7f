"""chassis.events.retention and its task against the real PostgreSQL: what goes, what stays."""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chassis.events.models import InboxEvent, OutboxEvent, ParkedEvent
from chassis.events.retention import events_purge
from chassis.events.tasks import purge
from chassis.settings import chassis_settings
from chassis.testing import chassis_with

DAY = 86_400
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def sent(age: float, name: str = "") -> OutboxEvent:
    """An outbox row published ``age`` seconds before NOW (occurred a minute earlier)."""
    return OutboxEvent.objects.create(
        type="test.happened",
        producer="chassis",
        payload={"name": name},
        occurred_at=ago(age + 60),
        published_at=ago(age),
        attempts=1,
    )


def pending(age: float, name: str = "") -> OutboxEvent:
    """An outbox row still to be sent, that occurred ``age`` seconds before NOW."""
    return OutboxEvent.objects.create(
        type="test.happened",
        producer="chassis",
        payload={"name": name},
        occurred_at=ago(age),
        attempts=40,
        last_error="OperationalError: [Errno 111] Connection refused",
    )


def handled(age: float) -> InboxEvent:
    return InboxEvent.objects.create(
        event_id=uuid.uuid4(), type="test.happened", producer="p", handled_at=ago(age)
    )


def parked(age: float, *, redriven: float | None = None) -> ParkedEvent:
    return ParkedEvent.objects.create(
        event_id=uuid.uuid4(),
        type="test.failed",
        envelope={},
        error="RuntimeError: handler is broken",
        attempts=5,
        parked_at=ago(age),
        redriven_at=None if redriven is None else ago(redriven),
    )


def ids(model: type[OutboxEvent] | type[InboxEvent] | type[ParkedEvent]) -> set[uuid.UUID | int]:
    return set(model.objects.values_list("pk", flat=True))


@pytest.fixture
def retention(settings):
    """Override CHASSIS["EVENTS"] keys for one test."""

    def override(**keys: int) -> None:
        settings.CHASSIS = chassis_with(EVENTS=keys)

    return override


def test_the_defaults_outlast_redelivery_and_keep_the_inbox_longer_than_the_outbox():
    conf = chassis_settings.EVENTS

    assert (
        conf["OUTBOX_RETENTION_SECONDS"],
        conf["INBOX_RETENTION_SECONDS"],
        conf["PARKED_RETENTION_SECONDS"],
        conf["PURGE_BATCH"],
    ) == (7 * DAY, 14 * DAY, 30 * DAY, 1000)
    # A handled event is remembered longer than its producer keeps it (and could resend it),
    # and far longer than the longest retry schedule.
    assert conf["INBOX_RETENTION_SECONDS"] > conf["OUTBOX_RETENTION_SECONDS"]
    assert conf["INBOX_RETENTION_SECONDS"] > 1000 * (
        conf["MAX_RETRIES"] * conf["RETRY_BACKOFF_MAX_SECONDS"]
    )


@pytest.mark.django_db
def test_rows_past_their_retention_go_and_newer_ones_stay():
    old_sent, boundary_sent, new_sent = sent(7 * DAY + 1), sent(7 * DAY), sent(60)
    old_handled, new_handled = handled(14 * DAY + 1), handled(14 * DAY - 60)
    waiting = parked(365 * DAY)  # never redriven: staff have not acted on it yet
    redriven_long_ago, redriven_lately = (
        parked(60 * DAY, redriven=30 * DAY + 1),
        parked(60 * DAY, redriven=29 * DAY),
    )

    assert events_purge(now=NOW) == {"outbox": 1, "inbox": 1, "parked": 1}

    assert ids(OutboxEvent) == {boundary_sent.pk, new_sent.pk}
    assert ids(InboxEvent) == {new_handled.pk}
    assert ids(ParkedEvent) == {waiting.pk, redriven_lately.pk}
    assert not OutboxEvent.objects.filter(pk=old_sent.pk).exists()
    assert not InboxEvent.objects.filter(pk=old_handled.pk).exists()
    assert not ParkedEvent.objects.filter(pk=redriven_long_ago.pk).exists()
    assert events_purge(now=NOW) == {"outbox": 0, "inbox": 0, "parked": 0}  # safe twice


@pytest.mark.django_db
def test_pending_outbox_rows_stay_whatever_their_age(retention):
    retention(OUTBOX_RETENTION_SECONDS=0)
    stuck = [pending(10 * 365 * DAY, "ten years"), pending(8 * DAY, "a week"), pending(0, "now")]
    gone = sent(1)

    assert events_purge(now=NOW) == {"outbox": 1, "inbox": 0, "parked": 0}

    assert ids(OutboxEvent) == {row.pk for row in stuck}
    assert not OutboxEvent.objects.filter(pk=gone.pk).exists()


@pytest.mark.django_db
def test_settings_override_the_retention(retention):
    retention(
        OUTBOX_RETENTION_SECONDS=60, INBOX_RETENTION_SECONDS=120, PARKED_RETENTION_SECONDS=180
    )
    kept = [sent(59), handled(119), parked(DAY, redriven=179)]
    sent(61)
    handled(121)
    parked(DAY, redriven=181)

    assert events_purge(now=NOW) == {"outbox": 1, "inbox": 1, "parked": 1}

    assert (ids(OutboxEvent), ids(InboxEvent), ids(ParkedEvent)) == tuple({r.pk} for r in kept)


@pytest.mark.django_db
def test_a_backlog_goes_in_batches_of_purge_batch(retention):
    retention(PURGE_BATCH=3)
    for n in range(6):
        sent(8 * DAY + n)
    for n in range(10):
        handled(15 * DAY + n)
    kept = sent(DAY), handled(DAY)

    with CaptureQueriesContext(connection) as queries:
        assert events_purge(now=NOW) == {"outbox": 6, "inbox": 10, "parked": 0}

    deletes = [q["sql"].split()[2].strip('"') for q in queries if q["sql"].startswith("DELETE")]
    assert deletes == [
        *["chassis_events_outboxevent"] * 3,  # 3 + 3 + 0: the last one finds none
        *["chassis_events_inboxevent"] * 4,  # 3 + 3 + 3 + 1
        "chassis_events_parkedevent",
    ]
    assert all(" LIMIT 3" in q["sql"] for q in queries if q["sql"].startswith("DELETE"))
    assert (ids(OutboxEvent), ids(InboxEvent)) == ({kept[0].pk}, {kept[1].pk})


@pytest.mark.django_db
def test_the_purge_reads_an_index_not_the_whole_table():
    sent(8 * DAY)
    handled(15 * DAY)
    parked(40 * DAY, redriven=31 * DAY)
    with CaptureQueriesContext(connection) as queries:
        events_purge(now=NOW)
    deletes = [q["sql"] for q in queries if q["sql"].startswith("DELETE")]

    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")  # a sequential scan only if no index fits
        plans = []
        for sql in deletes:
            cursor.execute(f"EXPLAIN {sql}")
            plans.append("\n".join(row[0] for row in cursor.fetchall()))

    assert len(plans) == 3
    for plan in plans:
        assert "Seq Scan" not in plan, plan
    assert "outbox_sent" in plans[0]
    assert "inbox_handled_at" in plans[1]
    assert "parked_redriven" in plans[2]


@pytest.mark.django_db
def test_the_purge_task_logs_how_many_rows_went(caplog, monkeypatch):
    monkeypatch.setattr(timezone, "now", lambda: NOW)
    sent(8 * DAY)
    sent(8 * DAY)
    handled(15 * DAY)
    pending(30 * DAY)
    caplog.set_level(logging.INFO, logger="chassis.events.tasks")

    assert purge() == {"outbox": 2, "inbox": 1, "parked": 0}

    [record] = [r for r in caplog.records if r.getMessage() == "events.purged"]
    assert (record.outbox_deleted, record.inbox_deleted, record.parked_deleted) == (2, 1, 0)


def test_beat_purges_hourly_beside_the_outbox_sweep():
    assert django_settings.CELERY_BEAT_SCHEDULE == {
        "events-outbox-sweep": {"task": "chassis.events.outbox_sweep", "schedule": 5.0},
        "events-purge": {"task": "chassis.events.purge", "schedule": 3600.0},
        "events-gauges": {"task": "chassis.events.gauges_refresh", "schedule": 15.0},
    }
