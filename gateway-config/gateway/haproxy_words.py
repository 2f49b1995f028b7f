"""The vocabulary of the rendered configuration: quoting, Kong-shaped refusals, route ACLs."""

from __future__ import annotations

import json
from collections.abc import Iterable

from gateway.kong import Route

JSON_TYPE = '"application/json; charset=utf-8"'
PERIOD_HEADER = {"second": "Second", "minute": "Minute", "hour": "Hour"}
# Kong's bodies when the upstream cannot answer (HAProxy's own status -> Kong's response).
UPSTREAM_ERRORS = {
    502: (502, "Bad Gateway", "An invalid response was received from the upstream server"),
    503: (502, "Bad Gateway", "An invalid response was received from the upstream server"),
    504: (504, "Gateway Timeout", "The upstream server is timed out"),
}

PERIOD_HEADER = {"second": "Second", "minute": "Minute", "hour": "Hour"}
# Kong's bodies when the upstream cannot answer (HAProxy's own status -> Kong's response).
UPSTREAM_ERRORS = {
    502: (502, "Bad Gateway", "An invalid response was received from the upstream server"),
    503: (502, "Bad Gateway", "An invalid response was received from the upstream server"),
    504: (504, "Gateway Timeout", "The upstream server is timed out"),
}


def q(text: str) -> str:
    """One HAProxy word: single-quoted (taken literally), or double-quoted with escapes when
    the text itself holds a single quote (Kong's "No mandatory 'kid' in claims")."""
    if "'" not in text:
        return f"'{text}'"
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


def kong_message(message: str) -> str:
    return json.dumps({"message": message}, separators=(",", ":"))


def deny(status: int, body: str, condition: str, extra: str = "") -> str:
    return (
        f"    http-request return status {status} content-type {JSON_TYPE} "
        f"string {q(body)}{extra} if {condition}"
    )


def route_acl(name: str, routes: Iterable[Route]) -> str:
    return f"    acl {name} var(txn.route) -m str {' '.join(r.name for r in routes)}"
