"""The vocabulary of the rendered configuration: quoting, Kong-shaped refusals, route ACLs."""

from __future__ import annotations

import json
from collections.abc import Iterable

from gateway.kong import Route

JSON_TYPE = '"application/json; charset=utf-8"'

PERIOD_HEADER = {"second": "Second", "minute": "Minute", "hour": "Hour"}


def q(text: str) -> str:
    """One HAProxy word: single-quoted (taken literally), or double-quoted with escapes when
    the text itself holds a single quote (Kong's "No mandatory 'kid' in claims")."""
    if "'" not in text:
        return f"'{text}'"
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$")
    return f'"{escaped}"'


def qq(text: str) -> str:
    """One double-quoted HAProxy word, its escapes interpreted (a newline written as such)."""
    escaped = (
        text.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("\n", "\\n")
    )
    return f'"{escaped}"'


def kong_message(message: str) -> str:
    return json.dumps({"message": message}, separators=(",", ":"))


def deny(status: int, body: str, condition: str, extra: str = "") -> str:
    return (
        f"    http-request return status {status} content-type {JSON_TYPE} "
        f"string {q(body)}{extra} if {condition}"
    )


def kong_error(status: int, message: str, condition: str, mode: str = "plugin") -> str:
    """An error Kong makes itself (kong.response.error, or nginx's error handler with
    ``mode="nginx"``): Kong's template in the format Accept asks for, with Kong's request id
    (gateway/kong_errors.lua). The condition is HAProxy's; Lua runs only when it holds."""
    return f"    http-request lua.kong_error {status} {q(message)} {mode} if {condition}"


def route_acl(name: str, routes: Iterable[Route]) -> str:
    return f"    acl {name} var(txn.route) -m str {' '.join(r.name for r in routes)}"
