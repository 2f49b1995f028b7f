"""The jwt plugin, rendered as Kong's handler and parser run it (see gateway.haproxy)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

from gateway.haproxy_words import deny, kong_message, route_acl
from gateway.kong import KONG_JWT_ALGORITHMS, Credential, Gateway, Route

# Kong 3.8+: WWW-Authenticate on every jwt 401 (no realm configured).
NO_TOKEN = " hdr WWW-Authenticate Bearer"  # noqa: S105 - a header, not a secret
REFUSED_TOKEN = " hdr WWW-Authenticate 'Bearer error=\"invalid_token\"'"  # noqa: S105


def refuse(body: str, condition: str) -> str:
    """A token was sent and refused: 401, Kong's body, ``Bearer error="invalid_token"``."""
    return deny(401, body, condition, REFUSED_TOKEN)


def _groups(gateway: Gateway) -> list[list[Route]]:
    """Routes sharing one jwt configuration."""
    groups: dict[str, list[Route]] = {}
    for route in gateway.routes:
        if route.jwt is not None:
            groups.setdefault(json.dumps(route.jwt, sort_keys=True), []).append(route)
    return list(groups.values())


def jwt(gateway: Gateway, keys_dir: Path) -> list[str]:
    lines: list[str] = []
    for index, routes in enumerate(_groups(gateway)):
        lines += jwt_group(f"jwt{index}", routes, gateway, keys_dir)
    return lines


def jwt_tables(gateway: Gateway) -> list[str]:
    """Per jwt configuration, the SHA-256 of tokens whose signature verified (a verification
    is an RSA operation; a client sends the same token for minutes). Only the signature check
    is skipped on a hit: every other step, the claims against the clock included, runs on
    every request. A reload (new keys) starts the tables empty."""
    lines: list[str] = []
    for index, _ in enumerate(_groups(gateway)):
        lines += [
            "",
            f"backend jwt{index}_verified",
            "    stick-table type binary len 32 size 50k expire 10m",
        ]
    return lines


def jwt_group(acl: str, routes: list[Route], gateway: Gateway, keys_dir: Path) -> list[str]:
    conf = routes[0].jwt or {}
    claim = conf["key_claim_name"]
    on = f"{acl}" + ("" if conf["run_on_preflight"] else " !is_options")
    credentials: list[Credential] = gateway.credentials
    kids = " ".join(c.key for c in credentials) or "-"
    consumer = gateway.consumer
    lines = [
        f"    # jwt on {', '.join(r.name for r in routes)}",
        route_acl(acl, routes),
        "    acl is_options method OPTIONS",
        "    http-request set-var(txn.jwt) req.fhdr(authorization,1),"
        f"regsub('^.*?[Bb]earer\\s+','') if {on} "
        "{ req.fhdr(authorization,1) -m reg '[Bb]earer\\s+.' }",
        deny(401, kong_message("Unauthorized"), f"{on} !{{ var(txn.jwt) -m found }}", NO_TOKEN),
        f"    http-request set-var(txn.jwt_h) var(txn.jwt),field(1,.),ub64dec if {on}",
        f"    http-request set-var(txn.jwt_p) var(txn.jwt),field(2,.),ub64dec if {on}",
        refuse(
            kong_message("Bad token; invalid JSON"),
            f"{on} !{{ var(txn.jwt) -m reg '^[^.]*\\.[^.]*\\.' }} "
            f"|| {on} !{{ var(txn.jwt_h) -m reg '(?s)^\\s*\\{{.*\\}}\\s*$' }} "
            f"|| {on} !{{ var(txn.jwt_p) -m reg '(?s)^\\s*\\{{.*\\}}\\s*$' }}",
        ),
        f"    http-request set-var(txn.jwt_alg) var(txn.jwt_h),json_query('$.alg') if {on}",
        refuse(
            kong_message("Bad token; invalid alg"),
            f"{on} !{{ var(txn.jwt_alg) -m str {' '.join(KONG_JWT_ALGORITHMS)} }}",
        ),
        # Kong's base64url decoder refuses other characters and a length of 4n+1.
        refuse(
            kong_message("Bad token; invalid signature"),
            f"{on} !{{ var(txn.jwt) -m reg "
            "'^[^.]*\\.[^.]*\\.([A-Za-z0-9_-]{4})*([A-Za-z0-9_-]{2,3})?$' }",
        ),
        f"    http-request set-var(txn.jwt_kid) var(txn.jwt_p),json_query('$.{claim}') if {on}",
        f"    http-request set-var(txn.jwt_kid) var(txn.jwt_h),json_query('$.{claim}') if {on} "
        "!{ var(txn.jwt_kid) -m found }",
        refuse(
            kong_message(f"No mandatory '{claim}' in claims"),
            f"{on} !{{ var(txn.jwt_kid) -m found }}",
        ),
        refuse(
            kong_message(f"Invalid '{claim}' in claims"),
            f"{on} {{ var(txn.jwt_kid) -m len 0 }}",
        ),
        refuse(
            kong_message(f"No credentials found for given '{claim}'"),
            f"{on} !{{ var(txn.jwt_kid) -m str {kids} }}",
        ),
    ]
    verified = f"{acl}_verified"
    lines += [
        f"    http-request set-var(txn.jwt_hash) var(txn.jwt),digest(sha256) if {on}",
        f"    http-request set-var(txn.jwt_sig) int(1) if {on} "
        f"{{ var(txn.jwt_hash),in_table({verified}) }}",
    ]
    for credential in credentials:  # the algorithm is the credential's literal, never the token's
        lines.append(
            refuse(
                kong_message("Invalid algorithm"),
                f"{on} {{ var(txn.jwt_kid) -m str {credential.key} }} "
                f"!{{ var(txn.jwt_alg) -m str {credential.algorithm} }}",
            )
        )
        key_file = keys_dir / f"{credential.key}.pem"
        lines.append(
            f"    http-request set-var(txn.jwt_sig) var(txn.jwt),jwt_verify("
            f'"{credential.algorithm}","{key_file}") if {on} '
            f"{{ var(txn.jwt_kid) -m str {credential.key} }} !{{ var(txn.jwt_sig) -m found }}"
        )
    lines += [
        refuse(kong_message("Invalid signature"), f"{on} !{{ var(txn.jwt_sig) -m int 1 }}"),
        f"    http-request track-sc1 var(txn.jwt_hash) table {verified} if {on}",
    ]
    lines += registered_claims(conf["claims_to_verify"], on)
    headers = [
        ("X-Consumer-ID", consumer.get("id")),
        ("X-Consumer-Custom-ID", consumer.get("custom_id")),
        ("X-Consumer-Username", consumer.get("username")),
        ("X-Credential-Identifier", "%[var(txn.jwt_kid)]"),
    ]
    for name, value in headers:
        lines.append(
            f"    http-request set-header {name} {value} if {on}"
            if value
            else f"    http-request del-header {name} if {on}"
        )
    lines.append(f"    http-request del-header X-Anonymous-Consumer if {on}")
    return _json_first(lines, on)


def _json_first(lines: list[str], on: str) -> list[str]:
    """Kong's parser decodes both segments (cjson) before any other check: a segment that is
    not JSON is "Bad token; invalid JSON" whatever else is wrong. HAProxy's json_query is
    lenient, so each later refusal is preceded by the same condition and a JSON validation
    (gateway/kong_errors.lua): the validator runs only for a request being refused anyway."""
    invalid = "Bad token; invalid JSON"
    shape = next(i for i, line in enumerate(lines) if invalid in line)
    out = lines[: shape + 1]
    for line in lines[shape + 1 :]:
        if "return status 401" in line:
            condition = line.split(" if ", 1)[1]
            out.append(
                refuse(
                    kong_message(invalid),
                    " || ".join(
                        f"{condition} {{ var(txn.jwt_{part}),lua.kong_json_invalid -m bool }}"
                        for part in ("h", "p")
                    ),
                )
            )
        out.append(line)
    return out


def registered_claims(claims: list[str], on: str) -> list[str]:
    """Kong's verify_registered_claims: each listed claim must be a number, then in range.

    Each claim gets a state (1: not a number, 2: out of range); every combination of failed
    states is answered with Kong's literal body, e.g. ``{"exp":"token expired"}``.
    """
    checks = {"exp": ("le 0", "token expired"), "nbf": ("gt 0", "token not valid yet")}
    listed = [c for c in ("exp", "nbf") if c in claims]
    lines = []
    for claim in listed:
        number = f"'\"{claim}\"\\s*:\\s*-?[0-9]'"
        state = f"txn.jwt_{claim}_state"
        lines += [
            f"    http-request set-var(txn.jwt_{claim}) var(txn.jwt_p),json_query('$.{claim}',"
            f"'int') if {on}",
            f"    http-request set-var({state}) int(1) if {on} "
            f"!{{ var(txn.jwt_{claim}) -m found }} || {on} !{{ var(txn.jwt_p) -m reg {number} }}",
            f"    http-request set-var(txn.jwt_{claim}_left) var(txn.jwt_{claim}),sub(txn.now) "
            f"if {on} !{{ var({state}) -m found }}",
            f"    http-request set-var({state}) int(2) if {on} !{{ var({state}) -m found }} "
            f"{{ var(txn.jwt_{claim}_left) -m int {checks[claim][0]} }}",
        ]
    messages = {1: "must be a number"}
    for combo in itertools.product((0, 1, 2), repeat=len(listed)):
        if not any(combo):
            continue
        body = {
            c: messages.get(st, checks[c][1]) for c, st in zip(listed, combo, strict=True) if st
        }
        terms = " ".join(
            f"{{ var(txn.jwt_{c}_state) -m int {st} }}"
            if st
            else f"!{{ var(txn.jwt_{c}_state) -m found }}"
            for c, st in zip(listed, combo, strict=True)
        )
        lines.append(refuse(json.dumps(body, separators=(",", ":")), f"{on} {terms}"))
    return lines
