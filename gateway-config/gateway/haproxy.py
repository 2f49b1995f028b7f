r"""Render the gateway model into a HAProxy 2.6 configuration that answers as Kong 3.x does.

Kong runs plugins by priority: correlation-id (100001), cors (2000), jwt (1450),
request-size-limiting (951), rate-limiting (910), prometheus (13). The rules below follow that
order, so, as in Kong, a request refused by jwt or by the size limit is never counted by the
rate limiter. Every refusal has Kong's exact status, body and headers: a plugin's own answer
(jwt's 401, cors's preflight) is an ``http-request return``; an error Kong makes with
kong.response.error or its error handler (router 404, 413/417, 429, nginx's 400s) is
``lua.kong_error`` (gateway/kong_errors.lua: Kong's template, format by Accept). Lua runs only
for refused requests.

JWT, step by step as Kong's jwt plugin and parser do it, with HAProxy's built-in converters:
token from the first Authorization header (Kong's regex ``\s*[Bb]earer\s+(.+)``), header and
payload decoded (``Bad token; invalid JSON``), ``alg`` known (``Bad token; invalid alg``),
the key claim read from the payload then the header, credential looked up, algorithm equal to
the credential's (compared as a literal: never taken from the token), signature checked by
one literal ``jwt_verify("RS256", "<bare public key PEM>")`` per credential, then the
registered claims (``exp``/``nbf``) against the clock, as Kong checks them. A token whose
signature verified is remembered by its SHA-256 (the RSA check is most of the rules' cost).
"""

from __future__ import annotations

from pathlib import Path

from gateway import haproxy_metrics
from gateway.haproxy_jwt import jwt, jwt_tables
from gateway.haproxy_plugins import (
    RATE_LIMIT_TABLE,
    cors,
    cors_origin,
    rate_limits,
    size_limit,
)
from gateway.haproxy_words import JSON_TYPE, deny, kong_error, kong_message, q, qq
from gateway.kong import KONG_VERSION, Gateway

LUA_ERRORS = Path(__file__).with_name("kong_errors.lua")
SERVER_TOKENS = f"kong/{KONG_VERSION}"
# Kong's error handler when the upstream fails (HAProxy's 503, no connection, is Kong's 502).
UPSTREAM_ERRORS = {
    502: "An invalid response was received from the upstream server",
    503: "An invalid response was received from the upstream server",
    504: "The upstream server is timing out",
}
# The platform's rule for a caller's correlation id, the services' one (chassis.correlation:
# CORRELATION_ID_MAX_LENGTH, the outbox's varchar(100)): at most 100 characters of
# [A-Za-z0-9._:-]; anything else is replaced by a fresh id. infra/tests holds the two equal.
CORRELATION_ID_MAX_LENGTH = 100
SAFE_CORRELATION_ID = f"^[A-Za-z0-9._:-]{{1,{CORRELATION_ID_MAX_LENGTH}}}$"
# W3C Trace Context, version 00: 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>.
TRACEPARENT = "^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"
# nginx's default large_client_header_buffers (4 x 8k): more header bytes is its 400.
MAX_HEADER_BYTES = 32768


def render(
    gateway: Gateway,
    *,
    listen: str,
    upstreams: dict[str, str],
    keys_dir: Path,
    lua_file: Path,
    status_listen: str | None = None,
) -> str:
    """The full haproxy.cfg text. ``upstreams`` maps a Kong service name to ``host:port``
    (several, comma-separated: balanced)."""
    missing = sorted(set(gateway.services) - set(upstreams))
    if missing:
        raise ValueError(f"no upstream address for service(s) {missing}")
    port = listen.rsplit(":", 1)[1]
    lines = [
        *_head(gateway, lua_file),
        "",
        "frontend kong_proxy",
        f"    bind {listen}",
        "    option forwardfor",
        "    http-request set-var(txn.now) date",
        # Kong's own request id (X-Kong-Request-Id, request_id of its error bodies): 32 hex.
        "    http-request set-var(txn.kong_rid) uuid,regsub(-,,g)",
    ]
    lines += _nginx_refusals()
    lines += _normalize()
    lines += _correlation(gateway)
    lines += _trace_context(gateway)
    lines += cors_origin(gateway)
    lines += _routing(gateway)
    lines += haproxy_metrics.request_capture(gateway)
    lines += cors(gateway)
    lines += jwt(gateway, keys_dir)
    lines += haproxy_metrics.consumer_capture(gateway)
    lines += size_limit(gateway)
    lines += rate_limits(gateway)
    for service in gateway.services:
        names = [r for r in gateway.routes if r.service == service]
        if names:
            lines.append(
                f"    use_backend svc_{service} if "
                f"{{ var(txn.route) -m str {' '.join(r.name for r in names)} }}"
            )
    lines += _kong_headers(gateway)
    lines += _backends(gateway, upstreams, port)
    lines += _tables(gateway)
    lines += jwt_tables(gateway)
    if status_listen and gateway.prometheus:
        lines += haproxy_metrics.status_frontend(
            gateway, status_listen, deny(404, kong_message("Not found"), "TRUE")
        )
    return "\n".join(lines) + "\n"


def _head(gateway: Gateway, lua_file: Path) -> list[str]:
    # Every client-controlled field goes through json(utf8s): quotes, backslashes and control
    # characters escaped, invalid UTF-8 dropped, so a request cannot break or forge the line.
    log_format = (
        '{"time":"%tr","level":"INFO","logger":"gateway",'
        '"method":"%[capture.req.method,json(utf8s)]",'
        '"path":"%[capture.req.uri,field(1,?),json(utf8s)]",'
        '"status":%ST,"bytes":%B,"duration_ms":%Ta,"route":"%[var(txn.route)]",'
        '"correlation_id":"%[var(txn.request_id),json(utf8s)]",'
        '"kong_request_id":"%[var(txn.kong_rid)]","remote":"%ci",'
        # The W3C trace the request went upstream in (empty without the opentelemetry plugin):
        # its trace id, and the parent span id the service's request span names.
        '"trace_id":"%[var(txn.traceparent),field(2,-)]",'
        '"span_id":"%[var(txn.traceparent),field(3,-)]"}'
    )
    lines = [
        "# Generated by gateway-config from kong.yml: do not edit, render again.",
        "global",
        "    maxconn 4000",
        "    nbthread 2",
        "    log stdout format raw local0 info",
        "    hard-stop-after 15s",
        "    # normalize-uri (below) is still flagged experimental in HAProxy 2.6",
        "    expose-experimental-directives",
        *haproxy_metrics.lua_load(gateway, lua_file),
    ]
    if gateway.size_limit_bytes is not None:
        # A body without Content-Length (chunked) is measured in the request buffer, as Kong
        # reads it: the buffer holds the limit + 1 byte beside the headers. Buffers are
        # allocated per request in use; pages a small request never touches stay unmapped.
        lines.append(f"    tune.bufsize {gateway.size_limit_bytes + MAX_HEADER_BYTES + 32768}")
    lines += [
        "",
        "defaults",
        "    mode http",
        "    log global",
        f"    log-format {q(log_format)}",
        "    option http-keep-alive",
        "    http-reuse always",
        "    timeout connect 5s",
        "    timeout client 60s",
        "    timeout server 60s",
        "    timeout http-request 10s",
        "    timeout http-keep-alive 60s",
    ]
    for status, message in UPSTREAM_ERRORS.items():
        # Kong's error handler's template with the request id, always JSON: an http-error
        # body cannot depend on the request (its samples are %-encoded, so a Lua-built body
        # loses its newlines), where Kong would follow Accept and default to text/plain.
        body = '{\n  "message":"' + message + '",\n  "request_id":"%[var(txn.kong_rid)]"\n}'
        lines.append(
            f"    http-error status {status} content-type {JSON_TYPE} lf-string {qq(body)} "
            "hdr X-Gateway-Error 1"  # HAProxy's own, not the upstream's (removed on the way)
        )
    return lines


def _nginx_refusals() -> list[str]:
    """What nginx refuses before Kong runs any plugin: an HTTP/1.1 request without Host, two
    Authorization header lines, more header bytes than its buffers hold."""
    return [
        "    # nginx's 400s, before routing and every plugin (Kong's error handler answers)",
        kong_error(
            400, "Bad request", "{ req.ver 1.1 } !{ req.fhdr(host) -m found }", mode="nginx"
        ),
        kong_error(400, "Bad request", "{ req.fhdr_cnt(authorization) gt 1 }", mode="nginx"),
        kong_error(
            400,
            "Request header or cookie too large",
            f"{{ req.hdrs,length gt {MAX_HEADER_BYTES} }}",
            mode="nginx",
        ),
    ]


def _normalize() -> list[str]:
    """Kong routes (and proxies) the normalized path: unreserved %-escapes decoded, other
    escapes upper-cased, dot segments removed, slashes merged; the query string is kept raw.
    Without this, /api/v1/users/schema/../me would match the public prefix and skip jwt."""
    return [
        "    # path normalization, as Kong's router does before matching (query kept raw)",
        "    http-request set-var(txn.raw_query) query",
        "    http-request normalize-uri percent-decode-unreserved",
        "    http-request normalize-uri percent-to-uppercase",
        # Kong merges "//" as it walks the path, so "/a//../b" is "/b": merge first.
        "    http-request normalize-uri path-merge-slashes",
        "    http-request normalize-uri path-strip-dot",
        "    http-request normalize-uri path-strip-dotdot full",
        "    http-request set-query %[var(txn.raw_query)] if { var(txn.raw_query) -m found }",
    ]


def _correlation(gateway: Gateway) -> list[str]:
    header = gateway.correlation_header
    if not header:
        return []
    return [
        "    # correlation-id: keep the caller's id when it is a safe one (the platform's rule),",
        "    # else a fresh one replaces every copy; echo it downstream",
        f"    http-request set-header {header} %[uuid] unless "
        f"{{ req.fhdr({header},1) -m reg {SAFE_CORRELATION_ID} }}",
        f"    http-request set-var(txn.request_id) req.fhdr({header},1)",
        f"    http-after-response set-header {header} %[var(txn.request_id)] "
        "if { var(txn.request_id) -m found }",
    ]


def _trace_context(gateway: Gateway) -> list[str]:
    """Kong's opentelemetry plugin with W3C propagation, as far as a gateway that exports no
    spans can: one valid ``traceparent`` (version 00, ids not all zeros) goes upstream as it
    came, with its ``tracestate``; none, several, or an invalid one is replaced by a new trace
    (a random trace id and span id, sampled) and any ``tracestate`` dropped (W3C: it belongs to
    the traceparent). Kong would send its own span's id as the parent; here the parent is the
    caller's span, or the id the gateway started the trace with (the access log's span_id)."""
    if not gateway.trace_context:
        return []
    valid = (
        "{ req.hdr_cnt(traceparent) eq 1 } "
        f"{{ req.fhdr(traceparent) -m reg {TRACEPARENT} }} "
        "!{ req.fhdr(traceparent) -m reg ^00-0{32}- } "
        "!{ req.fhdr(traceparent) -m reg -- -0{16}-[0-9a-f]{2}$ }"
    )
    # Random version 4 UUIDs: the trace id is one's 32 hex digits, the span id another's
    # last 16 (its variant digit first: never all zeros).
    trace_id = "%[uuid,regsub(-,,g)]"
    span_id = "%[var(txn.span_uuid),field(4,-)]%[var(txn.span_uuid),field(5,-)]"
    fresh = "unless { var(txn.traceparent) -m found }"
    return [
        "    # opentelemetry (W3C Trace Context): a valid traceparent goes upstream as it came,",
        "    # anything else starts a new sampled trace",
        f"    http-request set-var(txn.traceparent) req.fhdr(traceparent) if {valid}",
        f"    http-request del-header tracestate {fresh}",
        f"    http-request set-var(txn.span_uuid) uuid {fresh}",
        f"    http-request set-var-fmt(txn.traceparent) 00-{trace_id}-{span_id}-01 {fresh}",
        "    http-request set-header traceparent %[var(txn.traceparent)]",
    ]


def _routing(gateway: Gateway) -> list[str]:
    """Kong's router (traditional_compatible): a route with several paths is split into one
    candidate per path; candidates are ranked by match weight (a route with methods before
    every route without), then by path length; the first whose prefix and method both match
    wins. A request no candidate matches (an unlisted method included) gets the router's 404
    before any plugin runs, CORS preflights too."""
    candidates = sorted(
        ((route, path) for route in gateway.routes for path in route.paths),
        key=lambda item: (item[0].match_weight, len(item[1])),
        reverse=True,
    )
    lines = ["    # routes: methods first, then the longest path prefix, as in Kong's router"]
    for route, path in candidates:
        methods = f" {{ method -m str {' '.join(route.methods)} }}" if route.methods else ""
        lines.append(
            f"    http-request set-var(txn.route) str({route.name}) if "
            f"!{{ var(txn.route) -m found }} {{ path_beg {path} }}{methods}"
        )
    no_route = "!{ var(txn.route) -m found }"
    lines.append(kong_error(404, "no Route matched with those values", no_route))
    return lines


def _kong_headers(gateway: Gateway) -> list[str]:
    """Kong's default ``headers`` (server_tokens, latency_tokens, X-Kong-Request-Id). Once a
    request went to the upstream (txn.proxied, set in the backend; its 502/504 included):
    Via appended, the upstream and proxy latencies, Server when the upstream sent none. On an
    answer the gateway made itself: Server and X-Kong-Response-Latency. X-Kong-Request-Id on
    every response, over any upstream copy."""
    proxied, own = "{ var(txn.proxied) -m bool }", "!{ var(txn.proxied) -m bool }"
    return [
        "    # Kong's response headers",
        # Kong answers 502 when no upstream connection could be made (HAProxy's own 503).
        "    http-after-response set-status 502 if { status 503 } "
        "{ res.fhdr(x-gateway-error) -m found }",
        *haproxy_metrics.response_count(gateway),
        "    http-after-response del-header X-Gateway-Error",
        f"    http-after-response add-header Via '1.1 {SERVER_TOKENS}' if {proxied}",
        f"    http-after-response set-header X-Kong-Upstream-Latency %Tr if {proxied}",
        f"    http-after-response set-header X-Kong-Proxy-Latency %TR if {proxied}",
        f"    http-after-response set-header Server {SERVER_TOKENS} if {proxied} "
        "!{ res.fhdr(server) -m found }",
        f"    http-after-response set-header Server {SERVER_TOKENS} if {own}",
        f"    http-after-response set-header X-Kong-Response-Latency %Ta if {own}",
        "    http-after-response set-header X-Kong-Request-Id %[var(txn.kong_rid)]",
    ]


def _backends(gateway: Gateway, upstreams: dict[str, str], port: str) -> list[str]:
    lines: list[str] = []
    for name, service in gateway.services.items():
        lines += [
            "",
            f"backend svc_{name}",
            f"    timeout connect {int(service.get('connect_timeout', 60000))}",
            f"    timeout server {int(service.get('read_timeout', 60000))}",
            f"    retries {int(service.get('retries', 5))}",
            "    http-request set-header X-Forwarded-Proto http",
            "    http-request set-header X-Forwarded-Host %[req.hdr(host),field(1,:)]",
            f"    http-request set-header X-Forwarded-Port {port}",
            "    http-request set-header X-Real-IP %[src]",
            # Kong's headers_upstream default and its Via on the request it proxies.
            "    http-request set-var(txn.proxied) bool(true)",
            "    http-request set-header X-Kong-Request-Id %[var(txn.kong_rid)]",
            f"    http-request add-header Via '1.1 {SERVER_TOKENS}'",
        ]
        # Several addresses (the local runner's scaled-out web instances: `make up SCALE=...`)
        # are balanced round-robin, as a Kong upstream with several targets would be.
        addresses = upstreams[name].split(",")
        lines += [
            f"    server {name}{'' if i == 0 else f'-{i + 1}'} {address.strip()} maxconn 200"
            for i, address in enumerate(addresses)
        ]
    return lines


def _tables(gateway: Gateway) -> list[str]:
    seconds = [r.rate_limit.seconds for r in gateway.routes if r.rate_limit]
    if not seconds:
        return []
    return [
        "",
        f"backend {RATE_LIMIT_TABLE}",
        # Keys name their window: an entry is useless once its window has passed.
        f"    stick-table type string len 128 size 1m expire {2 * max(seconds)}s store gpc0",
    ]
