"""Kong 3.9.1's spec cases the first pass had not ported (router, cors, jwt and its parser,
rate-limiting), as they apply to kong.yml's configuration.

CONFORMANCE.md lists every case of the specs and where it is ported (or why it does not
apply); each test here names its spec file and case. Where kong.yml turns an option off
(``uri_param_names: []``, ``cookie_names: []``, ``maximum_expiration: 0``, no
``trusted_ips``), the port checks the spec's case the other way round: what that setting means
for a client.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import (
    KIDS,
    KONG_PROXY_URL,
    Gateway,
    GatewayFactory,
    kong_document,
    kong_variant,
    plugin_of,
    route_of,
    sleep_to_next_second,
)
from tests.tokens import access_claims, sign, signed_raw
from tests.wire import EchoUpstream, Response, assert_kong_error

PUBLIC = "/docs/users/"
ME = "/api/v1/users/me"
ORIGIN = "http://localhost:3000"
EXPOSED = "X-Request-ID,Retry-After"


def _admitted(response: Response, upstream: EchoUpstream) -> None:
    """200 from the service, reached as kong.yml's consumer."""
    assert response.status == 200, response.body
    consumer = kong_document()["consumers"][0]
    assert upstream.only()["headers"]["x-consumer-username"] == consumer["username"]


def _unauthorized(response: Response, upstream: EchoUpstream) -> None:
    """jwt's answer when it finds no token: 401 Unauthorized, ``WWW-Authenticate: Bearer``."""
    assert (response.status, response.body) == (401, b'{"message":"Unauthorized"}')
    assert response.header("WWW-Authenticate") == "Bearer"
    assert upstream.requests == []


# --- 02-integration/05-proxy/02-router_spec.lua -------------------------------------------


def test_router_spec_special_characters_reach_the_upstream_encoded(
    gateway: Gateway, upstream: EchoUpstream
) -> None:
    """02-router_spec.lua, URI normalization: "re-encode special characters in request uri
    when proxying to the upstream"."""
    assert gateway.get(PUBLIC + "cat%20and%20dog").status == 200
    assert upstream.only()["path"] == PUBLIC + "cat%20and%20dog"


def test_router_spec_the_debug_header_reveals_nothing(
    gateway: Gateway, upstream: EchoUpstream
) -> None:
    """02-router_spec.lua: "disable allow_debug_header config" (Kong's default): a client's
    ``Kong-Debug: 1`` gets no Kong-Route-* or Kong-Service-* header back."""
    response = gateway.get(PUBLIC, [("Kong-Debug", "1")])
    assert response.status == 200
    names = [name.lower() for name in response.headers]
    assert [name for name in names if name.startswith(("kong-route", "kong-service"))] == []


# --- 02-integration/05-proxy/12-error_default_type_spec.lua -------------------------------


@pytest.fixture(scope="module")
def no_users(gateway_factory: GatewayFactory) -> Gateway:
    return gateway_factory(dead=("users-service",))


@pytest.mark.xfail(
    not KONG_PROXY_URL,
    strict=True,
    reason="HAProxy 2.6: an upstream failure's body (http-error) cannot depend on the request; "
    "the local gateway answers Kong's JSON template whatever Accept asks (CONFORMANCE.md)",
)
@pytest.mark.parametrize(
    ("accept", "content_type"),
    [
        (None, "text/plain; charset=utf-8"),
        ("text/plain", "text/plain; charset=utf-8"),
        ("text/html", "text/html; charset=utf-8"),
        ("application/xml", "application/xml; charset=utf-8"),
    ],
    ids=["no-accept", "text-plain", "text-html", "application-xml"],
)
def test_error_default_type_spec_upstream_failure_in_the_format_asked(
    no_users: Gateway, accept: str | None, content_type: str
) -> None:
    """12-error_default_type_spec.lua: "default error_default_type = text/plain", "Accept
    header modified Content-Type" text/html and application/xml (Kong's error handler, on an
    upstream failure; here the service is unreachable, 502)."""
    response = no_users.get(PUBLIC, [("Accept", accept)] if accept else [])
    assert response.status == 502
    assert response.header("Content-Type") == content_type
    assert (response.header("X-Kong-Request-Id") or "-") in response.body.decode()


# --- 03-plugins/13-cors/01-access_spec.lua ------------------------------------------------


@pytest.mark.parametrize(
    "origin",
    [
        "http://localhost:3000.bad-guys.test",
        "http://bad-guys.test",
        "http://127X0X0X1:3000",
        "http://localhost:30000",
    ],
)
def test_cors_spec_flat_strings_match_whole(
    gateway: Gateway, upstream: EchoUpstream, origin: str
) -> None:
    """13-cors/01-access_spec.lua, OPTIONS: "properly validates flat strings": an origin of
    kong.yml is no pattern (its dots are dots) and matches the whole Origin, on a preflight
    and on a proxied request."""
    preflight = [("Origin", origin), ("Access-Control-Request-Method", "POST")]
    answered = gateway.request("OPTIONS", PUBLIC, preflight)
    proxied = gateway.get(PUBLIC, [("Origin", origin)])
    assert (answered.status, proxied.status) == (200, 200)
    assert answered.header("Access-Control-Allow-Origin") is None
    assert proxied.header("Access-Control-Allow-Origin") is None


def test_cors_spec_a_non_preflight_options_is_proxied(
    gateway: Gateway, upstream: EchoUpstream
) -> None:
    """13-cors/01-access_spec.lua, others: "proxies a non-preflight OPTIONS request" (no
    Origin): the service answers; none of a preflight's headers are added (kong.yml has
    origins, so, as Kong's header_filter does, Vary and the exposed headers are)."""
    response = gateway.request("OPTIONS", PUBLIC)
    assert response.status == 200
    assert upstream.only()["method"] == "OPTIONS"
    assert response.header("Vary") == "Origin"
    assert response.header("Access-Control-Expose-Headers") == EXPOSED
    for name in (
        "Access-Control-Allow-Origin",
        "Access-Control-Allow-Methods",
        "Access-Control-Allow-Headers",
        "Access-Control-Allow-Credentials",
        "Access-Control-Max-Age",
    ):
        assert response.header(name) is None, name


def test_cors_spec_config_options_on_a_proxied_response(
    gateway: Gateway, upstream: EchoUpstream
) -> None:
    """13-cors/01-access_spec.lua, others: "accepts config options": kong.yml's exposed
    headers, no credentials, none of a preflight's headers."""
    response = gateway.get(PUBLIC, [("Origin", ORIGIN)])
    assert response.status == 200
    assert response.header("Access-Control-Allow-Origin") == ORIGIN
    assert response.header("Access-Control-Expose-Headers") == EXPOSED
    assert response.header("Vary") == "Origin"
    for name in (
        "Access-Control-Allow-Credentials",
        "Access-Control-Allow-Methods",
        "Access-Control-Allow-Headers",
        "Access-Control-Max-Age",
    ):
        assert response.header(name) is None, name


def test_cors_spec_headers_when_the_upstream_fails(no_users: Gateway) -> None:
    """13-cors/01-access_spec.lua, others: "works even when upstream timeouts" (here: the
    service is unreachable, 502)."""
    response = no_users.get(PUBLIC, [("Origin", ORIGIN)])
    assert response.status == 502
    assert response.header("Access-Control-Allow-Origin") == ORIGIN
    assert response.header("Access-Control-Expose-Headers") == EXPOSED


# --- 03-plugins/16-jwt/03-access_spec.lua and 01-jwt_parser_spec.lua ----------------------


@pytest.fixture(scope="module")
def key(signing_keys: dict[str, rsa.RSAPrivateKey]) -> rsa.RSAPrivateKey:
    return signing_keys[KIDS[0]]


def test_jwt_spec_a_token_in_the_url_is_not_looked_for(
    gateway: Gateway, upstream: EchoUpstream, key: rsa.RSAPrivateKey
) -> None:
    """16-jwt/03-access_spec.lua, HS256: "finds the JWT if given in URL parameters" and "...
    in a custom URL parameter": kong.yml's ``uri_param_names: []`` turns that off."""
    token = sign(access_claims(), key, kid=KIDS[0])
    _unauthorized(gateway.get(f"{ME}?jwt={token}"), upstream)


def test_jwt_spec_a_token_in_a_cookie_is_not_looked_for(
    gateway: Gateway, upstream: EchoUpstream, key: rsa.RSAPrivateKey
) -> None:
    """16-jwt/03-access_spec.lua, HS256: "returns 200 the JWT is found in the cookie crumble",
    "... cookie silly", "returns 401 if no JWT tokens are found in cookies or Authorization
    header": kong.yml's ``cookie_names: []`` looks in no cookie."""
    token = sign(access_claims(), key, kid=KIDS[0])
    _unauthorized(gateway.get(ME, [("Cookie", f"crumble={token}; silly={token}")]), upstream)


def test_jwt_spec_no_maximum_expiration(
    gateway: Gateway, upstream: EchoUpstream, key: rsa.RSAPrivateKey
) -> None:
    """16-jwt/03-access_spec.lua: "accepts a JWT token within the maximum allowed expiration
    limit": kong.yml's ``maximum_expiration: 0`` sets no limit (a ten-year token passes)."""
    token = sign(access_claims(ttl=10 * 365 * 86400), key, kid=KIDS[0])
    _admitted(gateway.get(ME, [("Authorization", f"Bearer {token}")]), upstream)


@pytest.mark.parametrize(
    "header",
    [{"alg": "RS256", "typ": "jwt"}, {"alg": "RS256"}],
    ids=["lowercase-typ", "missing-typ"],
)
def test_jwt_parser_spec_typ_is_not_checked(
    gateway: Gateway, upstream: EchoUpstream, key: rsa.RSAPrivateKey, header: dict[str, Any]
) -> None:
    """16-jwt/01-jwt_parser_spec.lua, Decoding: "accepts a valid encoding request with
    lowercase TYP", "accepts a valid encoding request with missing TYP"."""
    header_json = json.dumps({**header, "kid": KIDS[0]})
    token = signed_raw(header_json, json.dumps(access_claims()), key)
    _admitted(gateway.get(ME, [("Authorization", f"Bearer {token}")]), upstream)


# --- 03-plugins/23-rate-limiting/04-access_spec.lua ---------------------------------------


def _three_per_second_public(document: dict[str, Any]) -> None:
    plugin_of(route_of(document, "users-public"), "rate-limiting")["config"] = {
        "second": 3,
        "policy": "local",
        "limit_by": "ip",
    }


@pytest.fixture(scope="module")
def three(gateway_factory: GatewayFactory) -> Gateway:
    return gateway_factory(kong_variant(_three_per_second_public), fresh="client-addresses")


def test_rate_limiting_spec_client_sent_addresses_share_the_counter(
    three: Gateway, upstream: EchoUpstream
) -> None:
    """23-rate-limiting/04-access_spec.lua: "blocks if exceeding limit (multiple ip)" counts
    each X-Real-IP apart because the spec trusts every proxy (``trusted_ips = 0.0.0.0/0``);
    the platform's Kong trusts none (Kong's default), so addresses a client writes in
    X-Real-IP or X-Forwarded-For do not buy it a fresh counter."""
    sleep_to_next_second()
    spoofed = [
        [("X-Real-IP", "203.0.113.1")],
        [("X-Forwarded-For", "203.0.113.2")],
        [("X-Real-IP", "203.0.113.3"), ("X-Forwarded-For", "203.0.113.3")],
        [("X-Forwarded-For", "203.0.113.4, 198.51.100.4")],
    ]
    responses = [three.get(PUBLIC, headers) for headers in spoofed]
    assert [r.status for r in responses] == [200, 200, 200, 429]
    assert [r.header("X-RateLimit-Remaining-Second") for r in responses] == ["2", "1", "0", "0"]
    assert_kong_error(responses[-1], 429, "API rate limit exceeded")
    assert len(upstream.requests) == 3
