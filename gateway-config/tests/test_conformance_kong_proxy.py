"""Kong 3.9's proxy behaviour, case by case from its own suite (spec/02-integration/05-proxy/
in Kong's repository, tag 3.9.1), where it applies to kong.yml's configuration.

Each test names the spec file and the test it ports. Kong's defaults apply: ``headers =
server_tokens, latency_tokens, X-Kong-Request-Id``, ``headers_upstream = X-Kong-Request-Id``,
``error_default_type = text/plain``.
"""

from __future__ import annotations

import re

import httpx
import pytest

from gateway.kong import KONG_VERSION
from tests.conftest import KONG_ADMIN_URL, KONG_PROXY_URL, Gateway, GatewayFactory, kong_reachable
from tests.wire import (
    JSON_TYPE,
    KONG_RID,
    SERVER_TOKENS,
    EchoUpstream,
    Response,
    assert_kong_error,
    send,
)

PUBLIC = "/docs/users/"
ME = "/api/v1/users/me"
NOT_FOUND = "no Route matched with those values"
VIA = f"1.1 {SERVER_TOKENS}"
HTML = (
    '<!doctype html>\n<html>\n  <head>\n    <meta charset="utf-8">\n    <title>Error</title>\n'
    "  </head>\n  <body>\n    <h1>Error</h1>\n    <p>{}.</p>\n    <p>request_id: {}</p>\n"
    "  </body>\n</html>\n"
)
XML = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<error>\n  <message>{}</message>\n'
    "  <requestid>{}</requestid>\n</error>\n"
)
PLAIN = "{}\nrequest_id: {}\n"
PREFLIGHT = [("Origin", "http://localhost:3000"), ("Access-Control-Request-Method", "GET")]
PLAIN_TYPE = "text/plain; charset=utf-8"
INTEGER = re.compile(r"^-?[0-9]+$")


def joined(response: Response, name: str) -> str:
    """A header as one value, its lines joined (how HTTP reads repeated lines)."""
    return ", ".join(response.header_all(name))


# --- 33-request-id-header_spec.lua ----------------------------------------------------------


def test_the_request_id_is_on_a_proxied_response(gateway: Gateway, upstream: EchoUpstream) -> None:
    """33-request-id-header_spec.lua, X-Kong-Request-Id header (downstream) with default
    configuration: "contains the expected value"."""
    response = gateway.get(PUBLIC)
    assert response.status == 200
    assert KONG_RID.match(response.header("X-Kong-Request-Id") or "")


def test_the_request_id_is_on_a_404(gateway: Gateway, upstream: EchoUpstream) -> None:
    """33-request-id-header_spec.lua (downstream), default configuration: "should be
    populated when no API matched"."""
    assert_kong_error(gateway.get("/nowhere"), 404, NOT_FOUND)


def test_the_request_id_overwrites_the_upstreams(gateway: Gateway, upstream: EchoUpstream) -> None:
    """33-request-id-header_spec.lua (downstream), default configuration: "overwrites value
    set by plugin" (here the upstream sets it)."""
    response = gateway.get(PUBLIC, [("X-Echo-Set-Header", "X-Kong-Request-Id=overwritten")])
    assert response.header_all("X-Kong-Request-Id") != ["overwritten"]
    assert KONG_RID.match(joined(response, "X-Kong-Request-Id"))


def test_the_upstream_gets_the_request_id(gateway: Gateway, upstream: EchoUpstream) -> None:
    """33-request-id-header_spec.lua (upstream), default configuration: "contains the
    expected value" (the same id the client gets)."""
    response = gateway.get(PUBLIC)
    sent = upstream.only()["headers"]["x-kong-request-id"]
    assert KONG_RID.match(sent)
    assert sent == response.header("X-Kong-Request-Id")


def test_a_client_request_id_is_overwritten_upstream(
    gateway: Gateway, upstream: EchoUpstream
) -> None:
    """33-request-id-header_spec.lua (upstream), default configuration: "overwrites client
    value if any"."""
    gateway.get(PUBLIC, [("X-Kong-Request-Id", "client_value")])
    sent = upstream.only()["headers"]["x-kong-request-id"]
    assert sent != "client_value"
    assert KONG_RID.match(sent)


# --- 35-via_spec.lua --------------------------------------------------------------------------


def test_via_is_appended_both_ways(gateway: Gateway, upstream: EchoUpstream) -> None:
    """35-via_spec.lua: "HTTP/1.1 in both the inbound and outbound directions"."""
    response = gateway.get(
        PUBLIC,
        [
            ("Via", "1.1 dev"),
            ("X-Echo-Set-Header", "Via=2 nginx, HTTP/1.1 http_mock"),
            ("X-Echo-Set-Header", "Server=http-mock"),
        ],
    )
    assert response.status == 200
    assert upstream.only()["headers"]["via"] == f"1.1 dev, {VIA}"
    assert joined(response, "Via") == f"2 nginx, HTTP/1.1 http_mock, {VIA}"
    assert response.header("Server") == "http-mock"


# --- 14-server_tokens_spec.lua ----------------------------------------------------------------


def test_a_proxied_response_has_via_and_keeps_the_upstream_server(
    gateway: Gateway, upstream: EchoUpstream
) -> None:
    """14-server_tokens_spec.lua, Server/Via (with default configuration values): "should
    return Kong 'Via' header but not change the 'Server' header when request was proxied"."""
    response = gateway.get(PUBLIC)
    assert response.status == 200
    assert response.header("Server") != SERVER_TOKENS
    assert response.header("Server")  # the echo upstream's own
    assert response.header("Via") == VIA


def test_a_proxied_response_without_server_gets_kongs(
    gateway: Gateway, upstream: EchoUpstream
) -> None:
    """14-server_tokens_spec.lua: Kong replaces the 'openresty' default when the upstream sent
    no Server (kong/runloop/handler.lua header_filter, proxied branch)."""
    response = gateway.get(PUBLIC, [("X-Echo-Set-Header", "Server=")])
    assert response.header_all("Server") == [SERVER_TOKENS]


def test_an_unmatched_request_has_kongs_server_and_no_via(
    gateway: Gateway, upstream: EchoUpstream
) -> None:
    """14-server_tokens_spec.lua, Server/Via (with default configuration values): "should
    return Kong 'Server' header but not the Kong 'Via' header when no API matched"."""
    response = gateway.get("/nowhere")
    assert response.status == 404
    assert response.header("Server") == SERVER_TOKENS
    assert response.header("Via") is None


def test_latencies_of_a_proxied_response(gateway: Gateway, upstream: EchoUpstream) -> None:
    """14-server_tokens_spec.lua, X-Kong-Proxy-Latency/X-Kong-Upstream-Latency (with default
    configuration values): "should be returned when request was proxied"."""
    response = gateway.get(PUBLIC)
    assert INTEGER.match(response.header("X-Kong-Upstream-Latency") or "")
    assert INTEGER.match(response.header("X-Kong-Proxy-Latency") or "")
    assert response.header("X-Kong-Response-Latency") is None


def test_latencies_of_an_unmatched_request(gateway: Gateway, upstream: EchoUpstream) -> None:
    """14-server_tokens_spec.lua, latency headers (default configuration): "should not be
    returned when no API matched (no proxy)"."""
    response = gateway.get("/nowhere")
    assert response.header("X-Kong-Upstream-Latency") is None
    assert response.header("X-Kong-Proxy-Latency") is None
    assert INTEGER.match(response.header("X-Kong-Response-Latency") or "")


@pytest.mark.parametrize(
    ("method", "target", "headers", "status"),
    [
        ("GET", ME, [], 401),
        (
            "OPTIONS",
            ME,
            [("Origin", "http://localhost:3000"), ("Access-Control-Request-Method", "GET")],
            200,
        ),
    ],
    ids=["jwt-401", "cors-preflight"],
)
def test_latencies_of_a_short_circuited_request(
    gateway: Gateway,
    upstream: EchoUpstream,
    method: str,
    target: str,
    headers: list[tuple[str, str]],
    status: int,
) -> None:
    """14-server_tokens_spec.lua, latency headers (default configuration): "should not be
    returned when request is short-circuited" (a plugin answered: jwt, cors)."""
    response = gateway.request(method, target, headers)
    assert response.status == status
    assert response.header("X-Kong-Upstream-Latency") is None
    assert response.header("X-Kong-Proxy-Latency") is None
    assert INTEGER.match(response.header("X-Kong-Response-Latency") or "")
    assert response.header("Server") == SERVER_TOKENS
    assert upstream.requests == []


@pytest.mark.parametrize("status", [400, 404, 408, 411, 412, 413, 414, 417, 500, 502, 503, 504])
def test_an_upstream_error_status_is_proxied_as_is(
    gateway: Gateway, upstream: EchoUpstream, status: int
) -> None:
    """14-server_tokens_spec.lua, latency headers (default configuration): "should be
    returned when response status code is included in error_page directive (error_page not
    executing)": the upstream's own error answer passes unchanged, with the proxy headers."""
    response = gateway.get(PUBLIC, [("X-Echo-Status", str(status))])
    assert response.status == status
    assert response.header("Content-Type") == "application/json"  # the upstream's body
    assert INTEGER.match(response.header("X-Kong-Upstream-Latency") or "")
    assert INTEGER.match(response.header("X-Kong-Proxy-Latency") or "")
    assert response.header("X-Kong-Response-Latency") is None
    assert response.header("Via") == VIA


@pytest.fixture(scope="module")
def no_upstream(gateway_factory: GatewayFactory) -> Gateway:
    """kong.yml with nothing listening behind users-service."""
    return gateway_factory(dead=("users-service",))


def test_an_unreachable_upstream_is_502_with_the_proxy_headers(
    no_upstream: Gateway, upstream: EchoUpstream
) -> None:
    """14-server_tokens_spec.lua, latency headers (default configuration): "should be
    returned with 502 errors (error_page executing)"."""
    response = no_upstream.get(PUBLIC)
    assert response.status == 502
    assert response.header("X-Kong-Upstream-Latency") is not None
    assert response.header("X-Kong-Proxy-Latency") is not None
    assert response.header("X-Kong-Response-Latency") is None
    assert response.header("Via") == VIA
    assert response.header("Server") == SERVER_TOKENS
    assert response.header("X-Gateway-Error") is None


UPSTREAM_FAILED = "An invalid response was received from the upstream server"


@pytest.mark.parametrize(
    "headers",
    [[("Accept", "application/json")], [("Content-Type", "application/json")]],
    ids=["accept-json", "content-type-json"],
)
def test_an_upstream_failure_is_kongs_error_handler_body(
    no_upstream: Gateway, upstream: EchoUpstream, headers: list[tuple[str, str]]
) -> None:
    """12-error_default_type_spec.lua, "Accept header modified Content-Type":
    "application/json" (Kong's error handler: Accept, else Content-Type). The local gateway
    answers JSON whatever the request asks for (README: where it differs): only the JSON
    cases of the spec hold for both."""
    response = no_upstream.get(PUBLIC, headers)
    rid = response.header("X-Kong-Request-Id") or ""
    assert KONG_RID.match(rid)
    assert response.status == 502
    assert response.header("Content-Type") == JSON_TYPE
    assert response.json() == {"message": UPSTREAM_FAILED, "request_id": rid}


# --- 12-error_default_type_spec.lua (as kong.response.error chooses the format) --------------


@pytest.mark.parametrize(
    ("accept", "content_type", "template"),
    [
        (None, JSON_TYPE, None),
        ("text/html", "text/html; charset=utf-8", HTML),
        ("application/json", JSON_TYPE, None),
        ("application/xml", "application/xml; charset=utf-8", XML),
        ("text/plain", "text/plain; charset=utf-8", PLAIN),
        ("application/json;q=0.9,text/html,text/plain;q=0.9", "text/html; charset=utf-8", HTML),
        ("text/plain;q=0.7,application/json;q=0.8,text/html;q=0.5", JSON_TYPE, None),
        ("*/*", JSON_TYPE, None),
        ("text/*", "text/plain; charset=utf-8", PLAIN),
        ("image/png", JSON_TYPE, None),
    ],
    ids=[
        "none",
        "html",
        "json",
        "xml",
        "plain",
        "q-default-1",
        "q-highest-json",
        "any",
        "text-any",
        "unknown",
    ],
)
def test_kongs_own_errors_take_the_format_accept_asks_for(
    gateway: Gateway,
    upstream: EchoUpstream,
    accept: str | None,
    content_type: str,
    template: str | None,
) -> None:
    """12-error_default_type_spec.lua, "Accept header modified Content-Type": text/html,
    application/json, application/xml, text/plain; "with q-values": "defaults to 1 when
    q-value is not specified", "picks highest q-value (json)". Errors Kong makes itself with
    kong.response.error (here the router's 404) default to JSON without Accept."""
    response = gateway.get("/nowhere", [("Accept", accept)] if accept else [])
    rid = response.header("X-Kong-Request-Id") or ""
    if template is None:
        assert_kong_error(response, 404, NOT_FOUND)
    else:
        assert_kong_error(response, 404, NOT_FOUND, content_type)
        assert response.body.decode() == template.format(NOT_FOUND, rid)


def test_head_gets_no_error_body(gateway: Gateway, upstream: EchoUpstream) -> None:
    """12-error_default_type_spec.lua: "HEAD request does not return a body"."""
    response = gateway.request("HEAD", "/nowhere")
    assert response.status == 404
    assert response.body == b""


# --- 02-router_spec.lua ------------------------------------------------------------------------


def test_http_1_1_without_host_is_400(gateway: Gateway, upstream: EchoUpstream) -> None:
    """02-router_spec.lua, "HTTP/1.1 is rejected by NGINX" (a request without Host): nginx's
    400 through Kong's error handler (text/plain by default)."""
    response = gateway.request("GET", PUBLIC, with_host=False)
    assert_kong_error(response, 400, "Bad request", "text/plain; charset=utf-8")
    assert upstream.requests == []


def test_http_1_0_without_host_routes_normally(gateway: Gateway, upstream: EchoUpstream) -> None:
    """02-router_spec.lua, "HTTP/1.0 routes normally"."""
    import socket

    with socket.create_connection((gateway.host, gateway.port), timeout=10) as client:
        client.sendall(f"GET {PUBLIC} HTTP/1.0\r\n\r\n".encode())
        answer = b""
        while chunk := client.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200") or answer.startswith(b"HTTP/1.0 200"), answer
    assert upstream.only()["path"] == PUBLIC


def test_no_route_is_404(gateway: Gateway, upstream: EchoUpstream) -> None:
    """02-router_spec.lua, "responds 404 if no route matches"."""
    assert_kong_error(gateway.get("/"), 404, NOT_FOUND)
    assert upstream.requests == []


@pytest.mark.parametrize(
    "query",
    ["hello=world&foo=bar", "", "hello=world&foo="],
    ids=["arguments", "empty", "empty-value"],
)
def test_the_query_string_is_proxied_as_sent(
    gateway: Gateway, upstream: EchoUpstream, query: str
) -> None:
    """02-router_spec.lua, "preserves URI arguments", "does proxy an empty querystring if URI
    does not contain arguments", "does proxy a querystring with an empty value"."""
    target = PUBLIC + (f"?{query}" if query else "")
    assert gateway.get(target).status == 200
    assert upstream.only()["query"] == query


@pytest.mark.parametrize(
    ("sent", "proxied"),
    [
        ("/docs/users/x/../y", "/docs/users/y"),
        ("/docs//users/y", "/docs/users/y"),
        ("/docs/users/./y", "/docs/users/y"),
        ("/docs/%75sers/y", "/docs/users/y"),
    ],
    ids=["dotdot", "double-slash", "dot", "percent-encoded"],
)
def test_routing_uses_the_normalized_uri(
    gateway: Gateway, upstream: EchoUpstream, sent: str, proxied: str
) -> None:
    """02-router_spec.lua, 'matches against normalized URI with ".."', 'with "//"',
    'with "/./"', "with percent-encoded characters", and "proxies normalized URI to upstream
    with strip_path = false"."""
    assert gateway.get(sent).status == 200
    assert upstream.only()["path"] == proxied


def test_the_request_host_is_forwarded(gateway: Gateway, upstream: EchoUpstream) -> None:
    """02-router_spec.lua, preserve_host = true: "forwards request Host" and "forwards
    request Host:Port if port isn't default"."""
    assert gateway.get(PUBLIC, [("Host", "shop.example:8443")]).status == 200
    assert upstream.only()["headers"]["host"] == "shop.example:8443"


def test_incomplete_prefixes_do_not_match(gateway: Gateway, upstream: EchoUpstream) -> None:
    """02-router_spec.lua, "do not match incomplete URIs" (a prefix path is matched as a
    prefix of the path, not of a segment's name: /docs/users/ needs its trailing slash)."""
    assert_kong_error(gateway.get("/docs/user"), 404, NOT_FOUND)


def test_the_status_listener_stays_separate(gateway: Gateway) -> None:
    """Kong's proxy never serves /metrics: it is the status listener's (prometheus plugin)."""
    assert send(gateway.port, "GET", "/metrics", host=gateway.host).status == 404


def test_headers_over_nginxs_buffers_are_400(gateway: Gateway, upstream: EchoUpstream) -> None:
    """nginx's 494 (large_client_header_buffers, 4 x 8k), which Kong's error handler answers
    as 400 "Request header or cookie too large" (kong/error_handlers.lua)."""
    cookies = [("Cookie", f"c{i}={'v' * 7000}") for i in range(5)]
    response = gateway.get(PUBLIC, cookies)
    assert_kong_error(response, 400, "Request header or cookie too large", PLAIN_TYPE)
    assert upstream.requests == []


@pytest.mark.skipif(
    not (KONG_PROXY_URL and kong_reachable()),
    reason="no Kong reachable: set KONG_PROXY_URL and KONG_ADMIN_URL to a DB-less Kong",
)
def test_the_kong_target_runs_the_pinned_version(gateway: Gateway) -> None:
    """The Kong the suite is held against is the release the platform pins."""
    assert httpx.get(KONG_ADMIN_URL, timeout=10).json()["version"] == KONG_VERSION
    assert gateway.get("/nowhere").header("Server") == SERVER_TOKENS
