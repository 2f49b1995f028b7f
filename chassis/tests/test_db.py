"""chassis.db.insert_or_skip: one row unless its key is taken, in one statement, on the real
PostgreSQL and on SQLite (the local stand-in)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest
from django.db import connection
from django.db.utils import ConnectionHandler
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from chassis import db
from chassis.db import insert_or_skip
from chassis.events.models import InboxEvent, ParkedEvent


@pytest.mark.django_db
def test_a_new_key_is_written_with_its_defaults_and_a_taken_one_is_skipped():
    event_id = uuid.uuid4()
    before = timezone.now()

    with CaptureQueriesContext(connection) as queries:
        first = insert_or_skip(InboxEvent, ["event_id"], event_id=event_id, type="a", producer="p")
    again = insert_or_skip(InboxEvent, ["event_id"], event_id=event_id, type="b", producer="q")

    assert (first, again) == (event_id, None)
    assert len(queries) == 1  # no read, no savepoint
    row = InboxEvent.objects.get()
    assert (row.event_id, row.type, row.producer) == (event_id, "a", "p")  # the first one kept
    assert before <= row.handled_at <= timezone.now()  # the field's default


@pytest.mark.django_db
def test_an_automatic_primary_key_is_returned():
    first = insert_or_skip(
        ParkedEvent, ["id"], event_id=uuid.uuid4(), type="t", envelope={}, error="e", attempts=1
    )
    second = insert_or_skip(
        ParkedEvent, ["id"], event_id=uuid.uuid4(), type="t", envelope={}, error="e", attempts=2
    )

    assert isinstance(first, int)
    assert second == first + 1
    assert dict(ParkedEvent.objects.values_list("pk", "attempts")) == {first: 1, second: 2}


@pytest.fixture
def sqlite(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, django_db_blocker: Any
) -> Iterator[ConnectionHandler]:
    """chassis.db on a SQLite database (a file of this test's) holding the inbox's table."""
    handler = ConnectionHandler(
        {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": tmp_path / "x.sqlite3"}}
    )
    monkeypatch.setattr(db, "connections", handler)
    with django_db_blocker.unblock():
        with handler["default"].schema_editor() as editor:
            editor.create_model(InboxEvent)
        yield handler
        handler.close_all()


def test_sqlite_writes_and_skips_alike(sqlite: ConnectionHandler):
    event_id = uuid.uuid4()
    at = timezone.now() - timedelta(days=1)

    first = insert_or_skip(
        InboxEvent, ["event_id"], event_id=event_id, type="a", producer="p", handled_at=at
    )
    again = insert_or_skip(InboxEvent, ["event_id"], event_id=event_id, type="b", producer="q")

    assert (first, again) == (event_id, None)
    with sqlite["default"].cursor() as cursor:  # stored as Django stores them on SQLite
        cursor.execute("SELECT event_id, type, producer, handled_at FROM chassis_events_inboxevent")
        rows = cursor.fetchall()
    assert rows == [(event_id.hex, "a", "p", at.astimezone(UTC).replace(tzinfo=None))]
