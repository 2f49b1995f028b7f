"""Kong's prometheus plugin on the rendered HAProxy: the series of Kong 3.9's plugin with the
options kong.yml enables (gateway/kong_metrics.lua keeps and serves them).

Per request, three things are captured: the route's service (once routed), the consumer (once
jwt let the request through, with ``per_consumer``) and the request's sizes; after the
response, one Lua converter call counts it (HAProxy 2.6 runs no Lua action in
``http-after-response``, the only rules that also see the gateway's own answers; the answers
made by gateway/kong_errors.lua count themselves). The status
listener serves Kong's names at ``/metrics``, as Kong's status API does, and HAProxy's own
exporter at ``/haproxy/metrics``.
"""

from __future__ import annotations

from pathlib import Path

from gateway.kong import Gateway

LUA_METRICS = Path(__file__).with_name("kong_metrics.lua")
LUA_COUNTED = "!{ var(txn.kong_lua_counted) -m found }"  # counted by gateway/kong_errors.lua
HAPROXY_METRICS_PATH = "/haproxy/metrics"


def _on(gateway: Gateway, option: str) -> bool:
    return bool(gateway.prometheus and gateway.prometheus_config.get(option, False))


def lua_load(gateway: Gateway, errors_file: Path) -> list[str]:
    """Without prometheus, the error answers' Lua has a state per thread (no lock). With it,
    one state shared by the threads (they count into the same tables) holds both files: the
    error action counts its own answers (a converter cannot run inside its ``txn:done``)."""
    if not gateway.prometheus:
        return [f"    lua-load-per-thread {errors_file}"]
    return [
        f"    lua-load {errors_file.with_name(LUA_METRICS.name)}",
        f"    lua-load {errors_file}",
    ]


def request_capture(gateway: Gateway) -> list[str]:
    """After routing: the route's service and the request's sizes."""
    if not gateway.prometheus:
        return []
    lines = ["    # prometheus: the route's service, the request's sizes"]
    for service in gateway.services:
        names = " ".join(r.name for r in gateway.routes if r.service == service)
        if names:
            lines.append(
                f"    http-request set-var(txn.kong_service) str({service}) "
                f"if {{ var(txn.route) -m str {names} }}"
            )
    if _on(gateway, "bandwidth_metrics"):
        lines += [
            "    http-request set-var(txn.kong_in_head) req.hdrs,length",
            "    http-request set-var(txn.kong_in_body) req.hdr(content-length,-1)",
        ]
    if _on(gateway, "latency_metrics"):  # the start of an answer made by Lua
        lines.append("    http-request set-var(txn.kong_t0) date(0,ms)")
    if not _on(gateway, "status_code_metrics"):  # tells kong_errors.lua (nothing when on)
        lines.append("    http-request set-var(txn.kong_no_codes) bool(true)")
    return lines


def consumer_capture(gateway: Gateway) -> list[str]:
    """After jwt: a request that carried a token and was not refused is the consumer's."""
    if not _on(gateway, "per_consumer"):
        return []
    username = gateway.consumer.get("username") or gateway.consumer.get("id", "")
    return [
        f"    http-request set-var(txn.kong_consumer) str({username}) "
        "if { var(txn.jwt) -m found }"
    ]


def response_count(gateway: Gateway) -> list[str]:
    """After the final status is set and before X-Gateway-Error is removed (the source is
    "service" only for the upstream's own answer): one line, one Lua call."""
    if not gateway.prometheus:
        return []
    status = "%ST" if _on(gateway, "status_code_metrics") else ""
    # Request latency from txn.kong_t0 (set when the request's headers are in), as the Lua
    # answers measure it: HAProxy's %Ta is not final in http-after-response and came out -1
    # for a gateway-made 401 on a loaded machine (the request then went unobserved).
    latency = "%[date(0,ms),sub(txn.kong_t0)]|%Tr" if _on(gateway, "latency_metrics") else "|"
    size = (
        "%[var(txn.kong_in_head)]|%[var(txn.kong_in_body)]|%[res.hdrs,length]|"
        "%[res.hdr(content-length,-1)]"
        if _on(gateway, "bandwidth_metrics")
        else "|||"
    )
    log = (
        "%[var(txn.kong_service)]|%[var(txn.route)]|%[var(txn.kong_consumer)]|"
        f"{status}|%[var(txn.proxied)]|%[res.fhdr(x-gateway-error)]|{latency}|{size}"
    )
    routed = "{ var(txn.route) -m found } " + LUA_COUNTED
    return [
        "    # prometheus (Kong's log phase): counted once the response is final",
        f'    http-after-response set-var-fmt(txn.kong_log) "{log}" if {routed}',
        "    http-after-response set-var(txn.kong_counted) var(txn.kong_log),lua.kong_observe "
        f"if {routed}",
    ]


def status_frontend(gateway: Gateway, status_listen: str, not_found: str) -> list[str]:
    return [
        "",
        "frontend kong_status",
        f"    bind {status_listen}",
        "    http-request use-service lua.kong_metrics if { path /metrics } { method GET HEAD }",
        f"    http-request use-service prometheus-exporter if {{ path {HAPROXY_METRICS_PATH} }}",
        not_found,
    ]
