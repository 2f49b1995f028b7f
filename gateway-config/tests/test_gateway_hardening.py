"""What the local gateway does beyond Kong: its JSON access log and the platform's
correlation-id rule (security issue items 7 and 8). Kong has neither (its correlation-id plugin
keeps any value), so these run against HAProxy only.

- Access log: one JSON object per request; every client-controlled field (method, path,
  correlation id) is escaped, so quotes, backslashes, control characters or invalid UTF-8 in a
  request can neither break the line nor add keys to it.
- Correlation id: an incoming X-Request-ID is kept only when it is at most 100 characters of
  ``[A-Za-z0-9._:-]`` (the services apply the same rule); anything else is replaced by a fresh
  id, upstream and in the echo.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import Gateway, haproxy_only
from tests.wire import EchoUpstream, Response

pytestmark = haproxy_only

PUBLIC = "/docs/users/"
LOG_KEYS = {
    "time",
    "level",
    "logger",
    "method",
    "path",
    "status",
    "bytes",
    "duration_ms",
    "route",
    "correlation_id",
    "kong_request_id",
    "remote",
    "trace_id",
    "span_id",
}


def logged(gateway: Gateway, request: Callable[[], Response]) -> tuple[Response, dict[str, Any]]:
    """Send ``request``; return its response and its access-log entry (the line carrying its
    X-Kong-Request-Id). Every line written meanwhile must be a JSON object with exactly the
    log's keys: a hostile request can neither break a line nor add a key."""
    log = gateway.out / "haproxy.log"
    offset = log.stat().st_size
    response = request()
    rid = response.header("X-Kong-Request-Id") or "-"
    deadline = time.monotonic() + 10
    while True:
        written = log.read_bytes()[offset:]
        lines = [line for line in written.splitlines(keepends=True) if line.endswith(b"\n")]
        if any(rid.encode() in line for line in lines) or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    entries = [json.loads(line) for line in lines]
    for entry in entries:
        assert isinstance(entry, dict)
        assert set(entry) == LOG_KEYS
    mine = [entry for entry in entries if entry["kong_request_id"] == rid]
    assert len(mine) == 1, lines
    return response, mine[0]


# --- access log (item 8) ----------------------------------------------------------------


FORGED_PATH = PUBLIC + 'a"b\\c]d\\u0022","status":999,"x":"'


def test_quotes_and_backslashes_in_the_path_cannot_forge_the_log(
    gateway: Gateway, upstream: EchoUpstream
) -> None:
    response, entry = logged(gateway, lambda: gateway.get(FORGED_PATH))
    assert response.status == 200
    assert (entry["path"], entry["status"], entry["method"]) == (FORGED_PATH, 200, "GET")


@pytest.mark.parametrize(
    "value",
    [
        'x","status":999,"forged":"1',
        "back\\slash\\",
        "ctl\x01\x1f\x7f\xffend",
        "tab\there",
        'quote"brace}',
    ],
    ids=["quote-forge", "backslash", "control", "tab", "brace"],
)
def test_a_hostile_correlation_header_cannot_break_the_log(
    gateway: Gateway, upstream: EchoUpstream, value: str
) -> None:
    response, entry = logged(gateway, lambda: gateway.get(PUBLIC, [("X-Request-ID", value)]))
    assert response.status == 200
    fresh = response.header("X-Request-ID")
    assert fresh != value
    assert entry["correlation_id"] == fresh == upstream.only()["headers"]["x-request-id"]
    assert entry["status"] == 200


def test_percent_escapes_are_logged_as_sent(gateway: Gateway, upstream: EchoUpstream) -> None:
    _, entry = logged(gateway, lambda: gateway.get(PUBLIC + "%ff%c3%a9%22"))
    assert entry["path"] == PUBLIC + "%ff%c3%a9%22"


# --- correlation id (item 7) --------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["a" * 100, "Zz09._:-", "0f8fad5b-d9cb-469f-a165-70867728950e"],
    ids=["100-chars", "every-kind", "uuid"],
)
def test_a_safe_correlation_id_is_kept(
    gateway: Gateway, upstream: EchoUpstream, value: str
) -> None:
    response, entry = logged(gateway, lambda: gateway.get(PUBLIC, [("X-Request-ID", value)]))
    assert response.header_all("X-Request-ID") == [value]
    assert upstream.only()["headers"]["x-request-id"] == value
    assert entry["correlation_id"] == value


@pytest.mark.parametrize(
    "value",
    ["a" * 101, "a" * 200, "has space", "a,b", "a/b", "caf\u00e9", "semi;colon", "<script>"],
    ids=["101-chars", "200-chars", "space", "comma", "slash", "non-ascii", "semicolon", "markup"],
)
def test_an_unsafe_correlation_id_is_replaced_everywhere(
    gateway: Gateway, upstream: EchoUpstream, value: str
) -> None:
    headers = [("X-Request-ID", value.encode().decode("latin-1")), ("X-Request-ID", "b")]
    response, entry = logged(gateway, lambda: gateway.request("GET", PUBLIC, headers))
    fresh = response.header("X-Request-ID")
    assert fresh
    assert fresh != value
    assert len(fresh) <= 100
    assert upstream.only()["headers"]["x-request-id"] == fresh  # every copy replaced
    assert entry["correlation_id"] == fresh
