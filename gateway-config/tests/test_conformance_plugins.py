"""Routing and the other plugins of kong.yml, from the running gateway, as Kong 3.x answers.

router (prefix paths, longest wins, no stripping, the request path normalized first),
correlation-id, request-size-limiting, rate-limiting (fixed windows, counted after jwt),
cors and prometheus. Tests that do not test a limit use the public route (300/minute) so the
shared gateway's auth route (30/minute) keeps its allowance.
"""

from __future__ import annotations

import re
import socket
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import (
    KIDS,
    Gateway,
    GatewayFactory,
    haproxy_only,
    kong_document,
    kong_variant,
    route_of,
    sleep_to_next_second,
)
from tests.tokens import access_claims, sign
from tests.wire import EchoUpstream, assert_kong_error, send

PUBLIC = "/docs/users/"
ME = "/api/v1/users/me"
LOGIN = "/api/v1/auth/login/"
MiB = 1024 * 1024
UUID4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
NOT_FOUND = "no Route matched with those values"
TOO_LARGE = "Request size limit exceeded"
RATE_LIMITED = "API rate limit exceeded"
ORIGIN = "http://localhost:3000"


@pytest.fixture(scope="module")
def token(signing_keys: dict[str, rsa.RSAPrivateKey]) -> str:
    return sign(access_claims(ttl=3600), signing_keys[KIDS[0]], kid=KIDS[0])


def auth(token: str) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {token}")]


# --- router -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    ["/", "/api/v1/users", "/api/v2/users/me", "/docs/", "/API/v1/users/me", "/.well-known/"],
)
def test_no_route_is_kong_404(gateway: Gateway, upstream: EchoUpstream, target: str) -> None:
    response = gateway.get(target)
    assert_kong_error(response, 404, NOT_FOUND)
    assert upstream.requests == []


ROUTE_PATHS = [
    (route["name"], method, path, any(p["name"] == "jwt" for p in route.get("plugins") or []))
    for service in kong_document()["services"]
    for route in service["routes"]
    for path in route["paths"]
    for method in route.get("methods") or ["POST"]
]


@pytest.mark.parametrize(
    ("route", "method", "prefix", "needs_token"),
    ROUTE_PATHS,
    ids=[f"{m} {p}" for _, m, p, _ in ROUTE_PATHS],
)
def test_every_route_prefix_reaches_the_service_unchanged(
    gateway: Gateway,
    upstream: EchoUpstream,
    token: str,
    route: str,
    method: str,
    prefix: str,
    needs_token: bool,
) -> None:
    """No strip_path: the upstream sees the path and the raw query as sent (the query is not
    normalized, even its lower-case escapes); every method a route lists reaches it."""
    path = prefix if prefix.endswith(".json") else f"{prefix}probe/a%2Fb"
    query = "q=a%2fb&empty=&dots=../x&sp=%20"
    headers = auth(token) if needs_token else []
    response = gateway.request(method, f"{path}?{query}", headers, b'{"k":1}')
    assert response.status == 200, response.body
    received = upstream.only()
    assert (received["method"], received["path"], received["query"]) == (method, path, query)
    assert received["body_length"] == 7
    assert received["headers"]["host"] == f"127.0.0.1:{gateway.port}"  # preserve_host


def test_the_longest_prefix_wins(gateway: Gateway, upstream: EchoUpstream) -> None:
    """/api/v1/users/schema/ (public) is inside /api/v1/users/ (jwt)."""
    assert gateway.get("/api/v1/users/schema/").status == 200
    assert upstream.only()["path"] == "/api/v1/users/schema/"
    upstream.clear()
    assert gateway.get("/api/v1/users/schemas").status == 401
    assert gateway.get("/api/v1/users/x").status == 401
    assert upstream.requests == []


@pytest.mark.parametrize(
    "target",
    [
        "/api/v1/users/schema/../me",
        "/api/v1/users/schema/%2e%2e/me",
        "/api/v1/users/schema/.%2E/me",
        "/static/users/../../api/v1/users/me",
        "//api//v1/users/me",
        "/api/v1/users/./me",
        "/api/v1/%75sers/me",
        "/api/v1/users/schema//../me",
    ],
)
def test_the_path_is_normalized_before_routing(
    gateway: Gateway, upstream: EchoUpstream, target: str
) -> None:
    """Kong's router matches the normalized path (kong/tools/uri.lua: unreserved escapes
    decoded, dot segments removed, slashes merged): no public prefix smuggles a jwt path."""
    response = gateway.get(target)
    assert (response.status, response.body) == (401, b'{"message":"Unauthorized"}')
    assert upstream.requests == []


def test_the_upstream_gets_the_normalized_path(
    gateway: Gateway, upstream: EchoUpstream, token: str
) -> None:
    response = gateway.get("/api/v1/users/schema/../%6De/./x//y/..//../z?a=%2e%2e", auth(token))
    assert response.status == 200
    received = upstream.only()
    assert (received["path"], received["query"]) == ("/api/v1/users/me/z", "a=%2e%2e")


def test_public_routes_pass_client_consumer_headers_through(
    gateway: Gateway, upstream: EchoUpstream
) -> None:
    """Only an auth plugin sets or clears X-Consumer-*: services must not trust them on
    routes without jwt."""
    assert gateway.get(PUBLIC, [("X-Consumer-ID", "spoofed")]).status == 200
    assert upstream.only()["headers"]["x-consumer-id"] == "spoofed"


# --- correlation-id -----------------------------------------------------------------------


def test_an_incoming_request_id_is_kept_and_echoed(
    gateway: Gateway, upstream: EchoUpstream
) -> None:
    response = gateway.get(PUBLIC, [("X-Request-ID", "caller-id-1")])
    assert response.header_all("X-Request-ID") == ["caller-id-1"]
    assert upstream.only()["headers"]["x-request-id"] == "caller-id-1"


def test_an_absent_request_id_is_generated_sent_and_echoed(
    gateway: Gateway, upstream: EchoUpstream
) -> None:
    first = gateway.get(PUBLIC).header("X-Request-ID")
    second = gateway.get(PUBLIC).header("X-Request-ID")
    assert UUID4.match(first or "")
    assert UUID4.match(second or "")
    assert first != second
    assert [r["headers"]["x-request-id"] for r in upstream.requests] == [first, second]


def test_an_empty_request_id_is_replaced(gateway: Gateway, upstream: EchoUpstream) -> None:
    generated = gateway.get(PUBLIC, [("X-Request-ID", "")]).header("X-Request-ID")
    assert UUID4.match(generated or "")
    assert upstream.only()["headers"]["x-request-id"] == generated


def test_the_request_id_is_kong_first_header(gateway: Gateway, upstream: EchoUpstream) -> None:
    """Kong reads the first X-Request-ID header and leaves the request's headers as they are
    (a first value the platform's rule refuses is replaced: tests/test_gateway_hardening.py)."""
    response = gateway.get(PUBLIC, [("X-Request-ID", "a"), ("X-Request-ID", "c")])
    assert response.header_all("X-Request-ID") == ["a"]
    assert upstream.only()["headers"]["x-request-id"] == "a, c"


def test_the_echo_overrides_the_upstream_request_id(
    gateway: Gateway, upstream: EchoUpstream
) -> None:
    response = gateway.get(
        PUBLIC, [("X-Request-ID", "mine"), ("X-Echo-Set-Header", "X-Request-ID=upstream's")]
    )
    assert response.header_all("X-Request-ID") == ["mine"]


REFUSED = {
    "401": ("GET", ME, [], None),
    "404": ("GET", "/nowhere", [], None),
    "413": ("POST", PUBLIC, [("Content-Length", str(MiB + 1))], None),
}


@pytest.mark.parametrize("kind", REFUSED)
@pytest.mark.parametrize("incoming", [None, "refused-7"], ids=["generated", "incoming"])
def test_refusals_echo_the_request_id(
    gateway: Gateway, upstream: EchoUpstream, kind: str, incoming: str | None
) -> None:
    method, target, headers, body = REFUSED[kind]
    headers = headers + ([("X-Request-ID", incoming)] if incoming else [])
    response = gateway.request(method, target, headers, body)
    assert response.status == int(kind)
    echoed = response.header("X-Request-ID")
    assert echoed == incoming if incoming else UUID4.match(echoed or "")
    assert upstream.requests == []


# --- request-size-limiting ----------------------------------------------------------------


def test_a_body_over_one_mebibyte_is_refused_unread(
    gateway: Gateway, upstream: EchoUpstream
) -> None:
    response = gateway.request("POST", PUBLIC, [("Content-Length", str(MiB + 1))])
    assert_kong_error(response, 413, TOO_LARGE)
    assert upstream.requests == []


def test_a_body_of_exactly_one_mebibyte_passes(gateway: Gateway, upstream: EchoUpstream) -> None:
    response = gateway.request("POST", PUBLIC, body=b"x" * MiB)
    assert response.status == 200
    assert upstream.only()["body_length"] == MiB


def test_a_client_awaiting_100_continue_gets_417(gateway: Gateway, upstream: EchoUpstream) -> None:
    """Kong answers 417 instead of 413 when the request carries Expect: 100-continue."""
    response = gateway.request(
        "PUT", PUBLIC, [("Content-Length", str(2 * MiB)), ("Expect", "100-Continue")]
    )
    assert_kong_error(response, 417, TOO_LARGE)
    assert upstream.requests == []


def test_jwt_refuses_before_the_size_limit(gateway: Gateway, upstream: EchoUpstream) -> None:
    """Plugin order: jwt (1450) before request-size-limiting (951)."""
    response = gateway.request("POST", ME, [("Content-Length", str(2 * MiB))])
    assert (response.status, response.body) == (401, b'{"message":"Unauthorized"}')


CHUNKED_TARGETS = [
    (route, method, path, needs_token)
    for route, method, path, needs_token in ROUTE_PATHS
    if method not in ("GET", "HEAD", "OPTIONS")
]


def _chunks(size: int) -> list[bytes]:
    return [b"x" * 65536] * (size // 65536) + ([b"x" * (size % 65536)] if size % 65536 else [])


@pytest.mark.parametrize(
    ("route", "method", "prefix", "needs_token"),
    CHUNKED_TARGETS,
    ids=[f"{m} {p}" for _, m, p, _ in CHUNKED_TARGETS],
)
def test_a_chunked_body_over_one_mebibyte_is_refused_on_every_route(
    gateway: Gateway,
    upstream: EchoUpstream,
    token: str,
    route: str,
    method: str,
    prefix: str,
    needs_token: bool,
) -> None:
    """spec/03-plugins/12-request-size-limiting/01-access_spec.lua, "without Content-Length":
    "blocks if size is greater than limit" — Kong reads a body without Content-Length and
    measures it. 1 MiB + 1 byte, chunked, never reaches the service."""
    headers = auth(token) if needs_token else []
    response = gateway.request(method, prefix, headers, iter(_chunks(MiB + 1)), chunked=True)
    assert_kong_error(response, 413, TOO_LARGE)
    assert upstream.requests == []


def test_a_chunked_body_of_exactly_one_mebibyte_passes(
    gateway: Gateway, upstream: EchoUpstream
) -> None:
    """12-request-size-limiting/01-access_spec.lua, "without Content-Length": "works if size
    is lower than limit" (and equal to it)."""
    response = gateway.request("POST", PUBLIC, body=iter(_chunks(MiB)), chunked=True)
    assert response.status == 200
    assert upstream.only()["body_length"] == MiB


def test_a_chunked_body_in_one_byte_chunks_is_measured(
    gateway: Gateway, upstream: EchoUpstream
) -> None:
    """The limit counts body bytes, not chunk framing: 70 000 one-byte chunks pass whole."""
    response = gateway.request("POST", PUBLIC, body=iter([b"y"] * 70000), chunked=True)
    assert response.status == 200
    assert upstream.only()["body_length"] == 70000


def test_a_chunked_body_over_the_limit_awaiting_100_continue_gets_417(
    gateway: Gateway, upstream: EchoUpstream
) -> None:
    """12-request-size-limiting/01-access_spec.lua, "without Content-Length": "blocks if size
    is greater than limit and Expect header" (417)."""
    response = gateway.request(
        "POST", PUBLIC, [("Expect", "100-continue")], iter(_chunks(MiB + 1)), chunked=True
    )
    assert_kong_error(response, 417, TOO_LARGE)
    assert upstream.requests == []


@haproxy_only
def test_a_chunked_body_that_stalls_is_not_streamed_to_the_service(
    gateway: Gateway, upstream: EchoUpstream
) -> None:
    """Half a body, then silence: the gateway never forwards the part it holds (which would
    let the rest through unmeasured); the wait for the body ends after 10 s with 408."""
    with socket.create_connection((gateway.host, gateway.port), timeout=30) as client:
        client.sendall(
            f"POST {PUBLIC} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".encode()
            + b"10000\r\n"
            + b"z" * 65536
            + b"\r\n"
        )
        answer = client.recv(65536)
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    assert upstream.requests == []


# --- rate-limiting ------------------------------------------------------------------------


def _three_per_second(document: dict[str, Any]) -> None:
    for name in ("users-auth", "users-api"):
        limits = next(
            p for p in route_of(document, name)["plugins"] if p["name"] == "rate-limiting"
        )
        limits["config"] = {"second": 3, "policy": "local", "limit_by": "ip"}


@pytest.fixture(scope="module")
def limited(gateway_factory: GatewayFactory) -> Gateway:
    """kong.yml with 3 requests per second on the auth and the jwt routes."""
    return gateway_factory(kong_variant(_three_per_second))


def _assert_quota(response: Any, limit: int, remaining: int, period: str) -> int:
    assert response.header(f"X-RateLimit-Limit-{period}") == str(limit)
    assert response.header(f"X-RateLimit-Remaining-{period}") == str(remaining)
    assert response.header("RateLimit-Limit") == str(limit)
    assert response.header("RateLimit-Remaining") == str(remaining)
    reset = int(response.header("RateLimit-Reset"))
    assert 1 <= reset <= {"Second": 1, "Minute": 60}[period]
    return reset


def test_the_limit_trips_at_the_configured_count_and_resets(
    limited: Gateway, upstream: EchoUpstream
) -> None:
    sleep_to_next_second()
    passed = [limited.request("POST", LOGIN) for _ in range(3)]
    refused = limited.request("POST", LOGIN, [("X-Request-ID", "over-quota")])
    for remaining, response in zip((2, 1, 0), passed, strict=True):
        assert response.status == 200
        assert _assert_quota(response, 3, remaining, "Second") == 1
    assert_kong_error(refused, 429, RATE_LIMITED)
    assert refused.header("Retry-After") == "1"
    _assert_quota(refused, 3, 0, "Second")
    assert refused.header("X-Request-ID") == "over-quota"
    assert len(upstream.requests) == 3
    # Each route has its own counter.
    assert limited.get(PUBLIC).status == 200
    sleep_to_next_second()
    again = limited.request("POST", LOGIN)
    assert again.status == 200
    _assert_quota(again, 3, 2, "Second")


def test_requests_refused_by_jwt_are_not_counted(
    limited: Gateway, upstream: EchoUpstream, token: str
) -> None:
    sleep_to_next_second()
    refused = [limited.get(ME, [("Authorization", "Bearer garbage")]) for _ in range(5)]
    admitted = [limited.get(ME, auth(token)) for _ in range(3)]
    over = limited.get(ME, auth(token))
    assert [r.status for r in refused] == [401] * 5
    assert [r.status for r in admitted] == [200] * 3
    assert [r.header("X-RateLimit-Remaining-Second") for r in admitted] == ["2", "1", "0"]
    assert_kong_error(over, 429, RATE_LIMITED)
    assert len(upstream.requests) == 3


def test_kong_yml_auth_limit_trips_at_the_31st_request(
    gateway_factory: GatewayFactory, upstream: EchoUpstream
) -> None:
    """The real kong.yml: 30 per minute on the auth routes, per client address."""
    fresh = gateway_factory(fresh="auth-minute")
    if time.time() % 60 > 55:  # keep the 31 requests inside one minute window
        time.sleep(60 - time.time() % 60 + 0.05)
    responses = [fresh.request("POST", LOGIN) for _ in range(31)]
    assert [r.status for r in responses] == [200] * 30 + [429]
    for remaining, response in zip(range(29, -1, -1), responses[:30], strict=True):
        _assert_quota(response, 30, remaining, "Minute")
    last = responses[30]
    assert_kong_error(last, 429, RATE_LIMITED)
    reset = _assert_quota(last, 30, 0, "Minute")
    assert last.header("Retry-After") == str(reset)
    assert len(upstream.requests) == 30


# --- cors ---------------------------------------------------------------------------------

PREFLIGHT = [
    ("Access-Control-Request-Method", "POST"),
    ("Access-Control-Request-Headers", "authorization,content-type"),
]


def test_a_preflight_from_an_allowed_origin_is_answered_by_the_gateway(
    gateway: Gateway, upstream: EchoUpstream
) -> None:
    response = gateway.request("OPTIONS", LOGIN, [("Origin", ORIGIN), *PREFLIGHT])
    assert (response.status, response.body) == (200, b"")
    assert response.header("Access-Control-Allow-Origin") == ORIGIN
    assert response.header("Access-Control-Allow-Methods") == (
        "GET,HEAD,POST,PUT,PATCH,DELETE,OPTIONS"
    )
    assert response.header("Access-Control-Allow-Headers") == (
        "Authorization,Content-Type,Idempotency-Key,X-Request-ID"
    )
    assert response.header("Access-Control-Max-Age") == "3600"
    assert response.header("Vary") == "Origin"
    assert response.header("Access-Control-Allow-Credentials") is None
    assert response.header("Access-Control-Expose-Headers") is None
    assert upstream.requests == []


def test_a_preflight_from_another_origin_gets_no_allow_origin(
    gateway: Gateway, upstream: EchoUpstream
) -> None:
    response = gateway.request("OPTIONS", LOGIN, [("Origin", "https://evil.example"), *PREFLIGHT])
    assert response.status == 200
    assert response.header("Access-Control-Allow-Origin") is None
    assert upstream.requests == []


def test_an_allowed_origin_is_told_so_on_every_response(
    gateway: Gateway, token: str, upstream: EchoUpstream
) -> None:
    """cors is global: its headers are on proxied answers and on the gateway's refusals."""
    for target, headers, status in [
        (PUBLIC, [], 200),
        (ME, auth(token), 200),
        (ME, [], 401),
        ("/nowhere", [], 404),
    ]:
        response = gateway.get(target, [("Origin", "http://127.0.0.1:3000"), *headers])
        assert response.status == status
        assert response.header("Access-Control-Allow-Origin") == "http://127.0.0.1:3000"
        assert response.header("Access-Control-Expose-Headers") == "X-Request-ID,Retry-After"
        assert response.header("Vary") == "Origin"


def test_another_origin_gets_no_allow_origin_even_from_the_upstream(
    gateway: Gateway, upstream: EchoUpstream
) -> None:
    response = gateway.get(
        PUBLIC,
        [
            ("Origin", "https://evil.example"),
            ("X-Echo-Set-Header", "Access-Control-Allow-Origin=*"),
        ],
    )
    assert response.status == 200
    assert response.header("Access-Control-Allow-Origin") is None
    assert response.header("Access-Control-Expose-Headers") == "X-Request-ID,Retry-After"
    assert response.header("Vary") == "Origin"


# --- prometheus ---------------------------------------------------------------------------


@haproxy_only
def test_haproxy_metrics_are_served_on_the_status_listener(gateway: Gateway) -> None:
    """HAProxy's own exporter, beside Kong's names (tests/test_kong_metrics.py)."""
    gateway.get(PUBLIC)
    response = send(gateway.status_port, "GET", "/haproxy/metrics")
    assert response.status == 200
    assert (response.header("Content-Type") or "").startswith("text/plain")
    text = response.body.decode()
    assert re.search(
        r"^haproxy_frontend_http_requests_total\{proxy=\"kong_proxy\"\} [1-9]", text, re.MULTILINE
    )
    assert send(gateway.status_port, "GET", "/").status == 404
