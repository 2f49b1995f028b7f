"""chassis.correlation: an X-Request-ID is kept only when it is an id that fits its column."""

from __future__ import annotations

import re

import pytest

from chassis.correlation import CORRELATION_ID_MAX_LENGTH, safe
from chassis.events.consumer import handle
from chassis.events.envelope import Envelope
from chassis.events.models import InboxEvent, OutboxEvent
from tests import handlers


def test_the_bound_is_the_outbox_column():
    field = OutboxEvent._meta.get_field("correlation_id")

    assert field.max_length == CORRELATION_ID_MAX_LENGTH


@pytest.mark.parametrize(
    "value",
    ["gw-7f3a-0001", "4c2a9e1b-1f0e-4e3b-9a4c-2b7d0e9f1a2c", "trace:a.b_c", "x" * 100],
)
def test_an_id_is_kept(api_client, value):
    response = api_client.get("/api/v1/no-such-thing/", HTTP_X_REQUEST_ID=value)

    assert response["X-Request-ID"] == value
    assert response.json()["correlation_id"] == value


@pytest.mark.parametrize(
    "value",
    ["x" * 101, "y" * 5000, "with space", "<script>", "caf\u00e9", "a\x00b", "a\tb", ""],
    ids=["101", "5000", "space", "markup", "non-ascii", "nul", "tab", "empty"],
)
def test_anything_else_is_replaced_by_a_fresh_id(api_client, value):
    response = api_client.get("/api/v1/no-such-thing/", HTTP_X_REQUEST_ID=value)

    assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])
    assert response.json()["correlation_id"] == response["X-Request-ID"]


def test_safe():
    assert safe("gw-1") == "gw-1"
    assert safe("x" * 101) is None
    assert safe(None) is None


@pytest.mark.django_db
def test_an_event_whose_correlation_id_is_not_one_is_handled_under_its_own_id():
    event = Envelope(type="test.happened", payload={"n": 1}, producer="p", correlation_id="z" * 500)

    assert handle(event) is True

    assert handlers.seen() == [[str(event.id), 1, str(event.id)]]
    assert list(InboxEvent.objects.values_list("event_id", flat=True)) == [event.id]
