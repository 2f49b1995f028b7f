"""Kong's opentelemetry plugin with W3C propagation (kong.yml), as the local gateway
reproduces it: a valid ``traceparent`` is continued upstream, anything else starts a trace;
the access log relates the trace to the request ids."""

from __future__ import annotations

import json
import re
import time

import pytest

from gateway import kong
from tests.conftest import Gateway, haproxy_only, kong_variant, plugin_of
from tests.wire import EchoUpstream

PUBLIC = "/docs/users/"
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-01$")
CALLER = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
CALLER_STATE = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"


def sent_upstream(upstream: EchoUpstream) -> tuple[str, str | None]:
    headers = upstream.only()["headers"]
    return headers["traceparent"], headers.get("tracestate")


def test_a_request_without_a_traceparent_starts_a_sampled_trace(
    gateway: Gateway, upstream: EchoUpstream
) -> None:
    gateway.get(PUBLIC)
    first, state = sent_upstream(upstream)
    upstream.clear()
    gateway.get(PUBLIC)
    second, _ = sent_upstream(upstream)

    assert TRACEPARENT.match(first), first
    assert TRACEPARENT.match(second), second
    assert first.split("-")[1] != second.split("-")[1]  # a new trace each time
    assert first.split("-")[2] != second.split("-")[2]
    assert state is None


def test_a_valid_traceparent_is_continued_with_its_tracestate(
    gateway: Gateway, upstream: EchoUpstream
) -> None:
    gateway.get(PUBLIC, [("traceparent", CALLER), ("tracestate", CALLER_STATE)])
    sent, state = sent_upstream(upstream)

    assert sent.split("-")[1] == CALLER.split("-")[1]  # Kong: its own span id as parent
    assert state == CALLER_STATE


@haproxy_only
def test_a_valid_traceparent_goes_upstream_as_it_came(
    gateway: Gateway, upstream: EchoUpstream
) -> None:
    gateway.get(PUBLIC, [("traceparent", CALLER)])

    assert sent_upstream(upstream) == (CALLER, None)


@pytest.mark.parametrize(
    "headers",
    [
        [("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331")],
        [("traceparent", CALLER.upper())],
        [("traceparent", "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")],
        [("traceparent", "00-00000000000000000000000000000000-b7ad6b7169203331-01")],
        [("traceparent", "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01")],
        [("traceparent", f"{CALLER}-00")],
        [("traceparent", CALLER), ("traceparent", CALLER)],
        [("traceparent", "x"), ("tracestate", CALLER_STATE)],
    ],
    ids=[
        "short",
        "upper-case",
        "version-01",
        "zero-trace",
        "zero-span",
        "extra-field",
        "twice",
        "junk",
    ],
)
def test_an_invalid_traceparent_is_replaced_by_a_new_trace(
    gateway: Gateway, upstream: EchoUpstream, headers: list[tuple[str, str]]
) -> None:
    gateway.get(PUBLIC, headers)
    sent, state = sent_upstream(upstream)

    assert TRACEPARENT.match(sent), sent
    assert sent.split("-")[1] != CALLER.split("-")[1]
    assert state is None


@haproxy_only
def test_the_access_log_relates_the_trace_to_the_request_ids(
    gateway: Gateway, upstream: EchoUpstream
) -> None:
    response = gateway.get(PUBLIC, [("X-Request-ID", "walk-42")])
    sent, _ = sent_upstream(upstream)
    rid = response.header("X-Kong-Request-Id")
    deadline = time.monotonic() + 30
    while not (entries := _entries(gateway, rid)) and time.monotonic() < deadline:
        time.sleep(0.05)

    [entry] = entries
    _, trace_id, span_id, _ = sent.split("-")
    assert (entry["correlation_id"], entry["trace_id"], entry["span_id"]) == (
        "walk-42",
        trace_id,
        span_id,
    )


@haproxy_only
def test_an_answer_the_gateway_makes_itself_is_logged_with_the_callers_trace(
    gateway: Gateway, upstream: EchoUpstream
) -> None:
    response = gateway.get("/nowhere", [("traceparent", CALLER)])
    rid = response.header("X-Kong-Request-Id")
    deadline = time.monotonic() + 30
    while not (entries := _entries(gateway, rid)) and time.monotonic() < deadline:
        time.sleep(0.05)

    assert response.status == 404
    assert [(e["trace_id"], e["span_id"]) for e in entries] == [tuple(CALLER.split("-")[1:3])]


def _entries(gateway: Gateway, rid: str | None) -> list[dict[str, str]]:
    lines = gateway.access_log.read_text().splitlines()
    return [json.loads(line) for line in lines if rid and rid in line]


def test_propagation_other_than_w3c_is_refused() -> None:
    def b3(document: dict) -> None:
        plugin_of(document, "opentelemetry")["config"]["propagation"]["inject"] = ["b3"]

    with pytest.raises(kong.ConfigError, match=r"propagation \{extract: \[w3c\]"):
        kong.parse(kong_variant(b3))


def test_without_the_plugin_no_traceparent_is_made() -> None:
    def without(document: dict) -> None:
        document["plugins"] = [p for p in document["plugins"] if p["name"] != "opentelemetry"]

    assert kong.parse(kong_variant(without)).trace_context is False
    assert kong.parse(kong_variant(lambda d: None)).trace_context is True
