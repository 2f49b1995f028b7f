"""The cors, request-size-limiting and rate-limiting plugins, rendered as Kong runs them."""

from __future__ import annotations

import re

from gateway.haproxy_words import PERIOD_HEADER, kong_error, q
from gateway.kong import Gateway

# Kong's cors plugin compares origins normalized (LuaSocket's url.parse): scheme://host[:port],
# userinfo, path, query and fragment dropped, the scheme's default port dropped.
# (One word, single-quoted, with the regexes double-quoted inside: HAProxy's two quote levels.)
NORMALIZE_ORIGIN = (
    """'regsub("^([A-Za-z0-9][A-Za-z0-9+.-]*://)([^/@]*@)?([^/]*).*$","\\1\\3"),"""
    """regsub("^(http://[^/]*):80$","\\1"),regsub("^(https://[^/]*):443$","\\1")'"""
)
PLAIN_ORIGIN = re.compile(r"[A-Za-z0-9.:/-]+")


def normalize_origin(origin: str) -> str:
    """What Kong compares for a configured origin (its normalize_origin)."""
    parts = re.match(r"^([A-Za-z0-9][A-Za-z0-9+.-]*)://([^/@]*@)?([^/]*)", origin)
    if not parts:
        return origin
    scheme, host = parts.group(1), parts.group(3)
    for name, port in (("http", ":80"), ("https", ":443")):
        if scheme == name and host.endswith(port):
            host = host[: -len(port)]
    return f"{scheme}://{host}"


def cors_origin(gateway: Gateway) -> list[str]:
    """The allowed origin, decided before routing: Kong's cors header_filter runs as a global
    plugin on every response, the router's 404 included."""
    conf = gateway.cors
    if conf is None:
        return []
    origins = conf.get("origins") or ["*"]
    if "*" in origins:
        return ["    http-request set-var(txn.cors_origin) str(*)"]
    if not all(PLAIN_ORIGIN.fullmatch(o) for o in origins):
        raise ValueError(f"cors: regex origins are not reproduced locally: {origins}")
    if len(origins) == 1:  # Kong sends the one configured origin, whatever the request's
        return [f"    http-request set-var(txn.cors_origin) str({origins[0]})"]
    allowed = " ".join(sorted({normalize_origin(o) for o in origins}))
    return [
        "    # cors: the request's Origin (first header, whole) normalized as Kong does, when it",
        "    # is an allowed one",
        f"    http-request set-var(txn.origin) req.fhdr(origin,1),{NORMALIZE_ORIGIN} "
        "if { req.fhdr(origin,1) -m found }",
        f"    http-request set-var(txn.cors_origin) var(txn.origin) if {{ var(txn.origin) -m str "
        f"{allowed} }}",
    ]


def cors(gateway: Gateway) -> list[str]:
    conf = gateway.cors
    if conf is None:
        return []
    origins = conf.get("origins") or ["*"]
    methods = ",".join(
        conf.get("methods")
        or ["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT"]
    )
    lines = [
        "    # cors: preflights answered here (preflight_continue: false)",
        "    acl cors_preflight method OPTIONS",
        "    acl cors_preflight_hdrs req.hdr(origin) -m found",
        "    acl cors_preflight_acrm req.hdr(access-control-request-method) -m found",
        "    http-request set-var(txn.preflight) bool(true) if cors_preflight "
        "cors_preflight_hdrs cors_preflight_acrm",
    ]
    preflight = ["hdr Access-Control-Allow-Methods " + q(methods)]
    if conf.get("headers"):
        preflight.append("hdr Access-Control-Allow-Headers " + q(",".join(conf["headers"])))
    if conf.get("max_age") is not None:
        preflight.append(f"hdr Access-Control-Max-Age {int(conf['max_age'])}")
    if conf.get("credentials"):
        preflight.append("hdr Access-Control-Allow-Credentials true")
    extra = " ".join(preflight)
    not_preflight = "!{ var(txn.preflight) -m bool }"
    lines += [
        "    http-request return status 200 hdr Access-Control-Allow-Origin "
        f"%[var(txn.cors_origin)] {extra} if {{ var(txn.preflight) -m bool }} "
        "{ var(txn.cors_origin) -m found }",
        f"    http-request return status 200 {extra} if {{ var(txn.preflight) -m bool }}",
        "    http-after-response set-header Access-Control-Allow-Origin %[var(txn.cors_origin)]"
        f" if {{ var(txn.cors_origin) -m found }} {not_preflight}",
        # Kong clears an upstream's own Allow-Origin when the Origin is not an allowed one.
        "    http-after-response del-header Access-Control-Allow-Origin"
        " if !{ var(txn.cors_origin) -m found }",
    ]
    if origins != ["*"]:
        lines.append("    http-after-response add-header Vary Origin")
    if conf.get("exposed_headers"):
        # Kong sets it on every non-preflight response, whatever the Origin.
        lines.append(
            "    http-after-response set-header Access-Control-Expose-Headers "
            f"{q(','.join(conf['exposed_headers']))} if {not_preflight}"
        )
    if conf.get("credentials"):
        lines.append(
            "    http-after-response set-header Access-Control-Allow-Credentials true"
            f" if {{ var(txn.cors_origin) -m found }} {not_preflight}"
        )
    return lines


def size_limit(gateway: Gateway) -> list[str]:
    """Kong compares Content-Length, or, without one (chunked), reads the body and measures
    it. A chunked body is waited for here until it ends or passes the limit by one byte
    (``tune.bufsize`` holds that much); req.body_size is Content-Length, else what arrived.
    A body that has not arrived within 10 s (as ``timeout http-request``) is answered 408:
    nothing of it was forwarded."""
    limit = gateway.size_limit_bytes
    if limit is None:
        return []
    too_big = f"{{ req.body_size gt {limit} }}"
    return [
        "    # request-size-limiting (417 instead of 413 when the client awaits 100-continue;",
        "    # waiting for a body answers that Expect and drops it: it is read first)",
        "    http-request set-var(txn.expect) req.fhdr(expect),lower "
        "if { req.fhdr(expect) -m found }",
        f"    http-request wait-for-body time 10s at-least {limit + 1} "
        "if { req.fhdr(transfer-encoding) -m found }",
        kong_error(
            417,
            "Request size limit exceeded",
            f"{too_big} {{ var(txn.expect) -m str 100-continue }}",
        ),
        kong_error(413, "Request size limit exceeded", too_big),
    ]


RATE_LIMIT_TABLE = "rl_routes"


def rate_limits(gateway: Gateway) -> list[str]:
    """Per route, per client address, fixed windows. One rule per route names its limit
    (``limit:seconds:Period``); the counting is shared: one table keyed by route, address and
    window number, so a request evaluates a handful of rules whatever the number of routes."""
    lines: list[str] = []
    for route in gateway.routes:
        limit = route.rate_limit
        if limit is not None:
            lines.append(
                f"    http-request set-var(txn.rl) "
                f"str({limit.limit}:{limit.seconds}:{PERIOD_HEADER[limit.period]}) "
                f"if {{ var(txn.route) -m str {route.name} }}"
            )
    if lines:
        on = "if { var(txn.rl) -m found }"
        lines = [
            "    # rate-limiting: limit per route, per IP, fixed windows",
            *lines,
            f"    http-request set-var(txn.rl_limit) var(txn.rl),field(1,:) {on}",
            f"    http-request set-var(txn.rl_seconds) var(txn.rl),field(2,:) {on}",
            f"    http-request set-var(txn.rl_period) var(txn.rl),field(3,:) {on}",
            '    http-request set-var-fmt(txn.rl_key) "%[var(txn.route)]:%[src]:'
            f'%[var(txn.now),div(txn.rl_seconds)]" {on}',
            f"    http-request track-sc0 var(txn.rl_key) table {RATE_LIMIT_TABLE} {on}",
            f"    http-request set-var(txn.rl_count) sc_inc_gpc0(0) {on}",
            "    http-request set-var(txn.rl_reset) var(txn.now),mod(txn.rl_seconds),neg,"
            f"add(txn.rl_seconds) {on}",
        ]
    if not lines:
        return []
    lines += [
        "    http-request set-var(txn.rl_remaining) var(txn.rl_limit),sub(txn.rl_count) "
        "if { var(txn.rl_limit) -m found }",
        "    http-request set-var(txn.rl_remaining) int(0) if "
        "{ var(txn.rl_remaining) -m int lt 0 }",
        "    http-request set-var(txn.rl_refused) bool(true) if { var(txn.rl_limit) -m found } "
        "{ var(txn.rl_count),sub(txn.rl_limit) -m int gt 0 }",
        kong_error(429, "API rate limit exceeded", "{ var(txn.rl_refused) -m bool }"),
        "    http-after-response set-header Retry-After %[var(txn.rl_reset)] "
        "if { var(txn.rl_refused) -m bool }",
    ]
    for period in sorted({r.rate_limit.period for r in gateway.routes if r.rate_limit}):
        name = PERIOD_HEADER[period]
        when = f"if {{ var(txn.rl_period) -m str {name} }}"
        lines += [
            f"    http-after-response set-header X-RateLimit-Limit-{name} "
            f"%[var(txn.rl_limit)] {when}",
            f"    http-after-response set-header X-RateLimit-Remaining-{name} "
            f"%[var(txn.rl_remaining)] {when}",
        ]
    when = "if { var(txn.rl_limit) -m found }"
    lines += [
        f"    http-after-response set-header RateLimit-Limit %[var(txn.rl_limit)] {when}",
        f"    http-after-response set-header RateLimit-Remaining %[var(txn.rl_remaining)] {when}",
        f"    http-after-response set-header RateLimit-Reset %[var(txn.rl_reset)] {when}",
    ]
    return lines
