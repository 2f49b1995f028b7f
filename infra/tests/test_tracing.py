"""One trace per order, across the gateway, HTTP, the outbox, the broker and every consumer.

The local-services platform exports its spans to a receiver inside the tests (otlp.py,
``OTEL_EXPORTER_OTLP_ENDPOINT``). The README's order walk, through the gateway: the gateway
starts the trace (its access log names it beside the request ids), orders' POST span joins
it, the ``order.placed`` outbox row is written and published in it, catalog's reservation
handler continues it from the event's envelope, ``stock.reserved`` is written and published in
it, and orders' confirmation handler ends it. The same holds when the broker was down at POST
time and the outbox sweep sent the event later, from another trace (its publish span is then
linked to the sweep's run). The embedded platform runs with tracing off.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any

import otlp
import pytest
from test_saga import Shop, broker_permissions, login, rabbitmqctl, wait_for

from conftest import EVENTUALLY, REGISTRY, Platform, gateway_client

# (service, span name) of one order's walk, in the order they happen.
WALK = [
    ("orders", "order.placed create"),
    ("orders", "order.placed publish"),
    ("catalog", "order.placed process"),
    ("catalog", "stock.reserved create"),
    ("catalog", "stock.reserved publish"),
    ("orders", "stock.reserved process"),
]


@pytest.fixture
def shop(platform: Platform) -> Iterator[Shop]:
    """test_saga's view of the platform, on the traced platform only."""
    if platform.mode != "local-services":
        pytest.skip("the embedded platform runs with tracing off")
    staff = login(platform.users, "admin@example.com", platform.demo_password())
    with gateway_client(platform.gateway) as client:
        yield Shop(platform, client, staff)


def gateway_line(platform: Platform, kong_request_id: str) -> dict[str, Any]:
    """The gateway's access-log entry of one request (found by its Kong request id)."""
    log = platform.var / "log" / "gateway-access.log"
    found: list[dict[str, Any]] = []

    def logged() -> bool:
        found[:] = [
            json.loads(line)
            for line in log.read_text().splitlines()
            if f'"kong_request_id":"{kong_request_id}"' in line
        ]
        return bool(found)

    wait_for(logged, EVENTUALLY, f"no gateway log line for {kong_request_id}")
    [entry] = found
    return entry


def the_post(receiver: otlp.Receiver, correlation_id: str) -> otlp.Span:
    posts: list[otlp.Span] = []

    def exported() -> bool:
        posts[:] = [
            s
            for s in receiver.find(service="orders", correlation_id=correlation_id)
            if s.kind == "server"
        ]
        return bool(posts)

    wait_for(exported, EVENTUALLY, f"orders' POST span ({correlation_id}) never exported")
    [post] = posts
    return post


def walk_of(receiver: otlp.Receiver, trace_id: str, wanted: Iterable[tuple[str, str]]) -> dict:
    """The trace's spans by (service, name), once it holds every ``wanted`` one."""
    spans: dict[tuple[str, str], list[otlp.Span]] = {}

    def complete() -> bool:
        spans.clear()
        for span in receiver.trace(trace_id):
            spans.setdefault((span.service, span.name), []).append(span)
        return all(key in spans for key in wanted)

    wait_for(complete, EVENTUALLY, f"trace {trace_id} misses spans of the walk")
    return spans


def place_and_confirm(shop: Shop) -> tuple[Any, dict[str, Any]]:
    product = shop.product(stock=5, price="12.50")
    buyer = shop.buyer(through_gateway=True)
    placed = shop.place(buyer, [(product, 2)])
    assert placed.status_code == 201, placed.text
    order = shop.final(buyer, placed.json()["id"])
    assert order["status"] == "CONFIRMED", order
    return placed, order


def assert_one_trace(
    shop: Shop, receiver: otlp.Receiver, placed: Any, order: dict[str, Any]
) -> dict[tuple[str, str], list[otlp.Span]]:
    """The walk's spans all in the trace the gateway started for the POST; returns them."""
    post = the_post(receiver, placed.headers["X-Request-ID"])
    entry = gateway_line(shop.platform, placed.headers["X-Kong-Request-Id"])
    # The gateway started the trace: the POST's parent is the span id the gateway made up.
    assert (entry["trace_id"], entry["span_id"]) == (post.trace_id, post.parent_id)
    assert entry["correlation_id"] == placed.headers["X-Request-ID"]
    assert post.attributes["kong.request_id"] == placed.headers["X-Kong-Request-Id"]
    assert post.name.startswith("POST ")

    spans = walk_of(receiver, post.trace_id, WALK)
    placed_id = shop.outbox_id("orders", "order.placed", order["id"])
    reserved_id = shop.outbox_id("catalog", "stock.reserved", order["id"])
    [create] = spans[("orders", "order.placed create")]
    assert create.parent_id == post.span_id  # written in the POST
    [reserve] = spans[("catalog", "order.placed process")]
    [confirm] = spans[("orders", "stock.reserved process")]
    assert (reserve.kind, confirm.kind) == ("consumer", "consumer")
    assert reserve.attributes["messaging.message.id"] == placed_id
    assert confirm.attributes["messaging.message.id"] == reserved_id
    trace = receiver.trace(post.trace_id)
    # The handler's queries (psycopg) are in it, under its span.
    assert any(s.parent_id == reserve.span_id and s.kind == "client" for s in trace)
    [reserved_create] = spans[("catalog", "stock.reserved create")]
    assert reserved_create.parent_id == reserve.span_id  # written by the reservation handler
    # Their log lines carry the trace: catalog's handler, orders' confirmation.
    for event_id in (placed_id, reserved_id):
        lines = shop.log_lines(event_id, "events.handled")
        [line] = [json.loads(x.split("| ", 1)[1]) for x in lines]
        assert line["trace_id"] == post.trace_id
    return spans


def test_one_trace_follows_an_order_from_the_gateway_to_its_confirmation(
    shop: Shop, otlp_receiver: otlp.Receiver
) -> None:
    placed, order = place_and_confirm(shop)

    spans = assert_one_trace(shop, otlp_receiver, placed, order)

    [publish] = spans[("orders", "order.placed publish")]
    assert (publish.error, publish.links) == (False, ())  # sent after commit, in the POST


def test_the_trace_survives_the_broker_being_down_and_the_sweep_sending_later(
    shop: Shop, otlp_receiver: otlp.Receiver
) -> None:
    """The broker refuses the platform while the order is placed (as in test_saga); the
    outbox row keeps the trace context; the sweep sends it once the broker is back."""
    if not shop.vhost:
        pytest.skip("needs rabbitmqctl: the platform runs in the shared default vhost")
    product = shop.product(stock=5, price="12.50")
    buyer = shop.buyer(through_gateway=True)
    granted = broker_permissions(shop.vhost)
    assert sorted(granted) == sorted(f"{shop.vhost}.{s}" for s in REGISTRY)
    for user in granted:
        rabbitmqctl("clear_permissions", "-p", shop.vhost, user)
    try:
        rabbitmqctl("close_all_connections", "-p", shop.vhost, "system test: broker down")
        placed = shop.place(buyer, [(product, 2)])
        assert (placed.status_code, placed.json()["status"]) == (201, "PENDING"), placed.text
        pending = (
            "SELECT traceparent FROM chassis_events_outboxevent WHERE published_at IS NULL "
            f"AND payload->>'order_id' = '{placed.json()['id']}'"
        )
        [stored] = shop.orders_sql(pending).splitlines()  # kept, with its trace context
    finally:
        for user, (configure, write, read) in granted.items():
            rabbitmqctl("set_permissions", "-p", shop.vhost, user, configure, write, read)
    order = shop.final(buyer, placed.json()["id"])
    assert order["status"] == "CONFIRMED", order

    spans = assert_one_trace(shop, otlp_receiver, placed, order)

    [create] = spans[("orders", "order.placed create")]
    assert stored.split("-")[1:3] == [create.trace_id, create.span_id]
    sent = [s for s in spans[("orders", "order.placed publish")] if not s.error]
    [by_the_sweep] = sent
    assert by_the_sweep.parent_id == create.span_id
    [(sweep_trace, _)] = by_the_sweep.links  # the sweep's run, in a trace of its own
    assert sweep_trace != create.trace_id
