"""Routes with `methods`, from the running gateway, as Kong 3.x's router answers.

Kong (router_flavor traditional_compatible, kong/router/compat.lua) splits a route into one
candidate per path and ranks candidates by match weight first (one per kind of criterion:
methods + paths outranks paths alone), then by path length. A request matches a candidate
when its normalized path starts with the prefix and its method is one the route lists,
compared exactly (HEAD is not GET). When no candidate matches, the router answers 404
``no Route matched with those values`` before any plugin's access phase: a CORS preflight
whose OPTIONS no route lists is that 404 too.

The catalog routes of kong.yml: catalog-read (GET, HEAD, OPTIONS; anonymous, 1200/minute) and
catalog-write (POST, PUT, PATCH, DELETE; jwt, 600/minute) share /api/v1/catalog/; the rate
limit headers tell which route answered.
"""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import KIDS, Gateway, GatewayFactory, kong_variant, route_of
from tests.tokens import access_claims, sign
from tests.wire import JSON_TYPE, EchoUpstream, assert_kong_error

PRODUCTS = "/api/v1/catalog/products/"
NOT_FOUND = "no Route matched with those values"
UNAUTHORIZED = b'{"message":"Unauthorized"}'
ORIGIN = "http://localhost:3000"
READ_LIMIT, WRITE_LIMIT, PUBLIC_LIMIT = "1200", "600", "300"


@pytest.fixture(scope="module")
def token(signing_keys: dict[str, rsa.RSAPrivateKey]) -> str:
    return sign(access_claims(ttl=3600), signing_keys[KIDS[0]], kid=KIDS[0])


def auth(token: str) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {token}")]


def limit_of(response: Any) -> str | None:
    return response.header("X-RateLimit-Limit-Minute")


@pytest.mark.parametrize("method", ["GET", "HEAD", "OPTIONS"])
def test_reads_need_no_token(gateway: Gateway, upstream: EchoUpstream, method: str) -> None:
    response = gateway.request(method, f"{PRODUCTS}?q=x")
    assert response.status == 200
    assert limit_of(response) == READ_LIMIT
    received = upstream.only()
    assert (received["method"], received["path"]) == (method, PRODUCTS)
    assert "x-consumer-id" not in received["headers"]


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_writes_without_a_token_never_reach_the_service(
    gateway: Gateway, upstream: EchoUpstream, method: str
) -> None:
    response = gateway.request(method, PRODUCTS, body=b"{}")
    assert (response.status, response.body) == (401, UNAUTHORIZED)
    assert response.header("Content-Type") == JSON_TYPE
    assert upstream.requests == []


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_writes_with_a_token_reach_the_service_as_the_consumer(
    gateway: Gateway, upstream: EchoUpstream, token: str, method: str
) -> None:
    response = gateway.request(method, PRODUCTS, auth(token), b"{}")
    assert response.status == 200
    assert limit_of(response) == WRITE_LIMIT
    received = upstream.only()
    assert received["method"] == method
    assert received["headers"]["x-credential-identifier"] == KIDS[0]


def test_a_read_ignores_a_bad_token(gateway: Gateway, upstream: EchoUpstream) -> None:
    """catalog-read has no jwt plugin: the token is the service's business (it verifies one
    only to show staff an inactive product)."""
    response = gateway.get(PRODUCTS, [("Authorization", "Bearer not.a.token")])
    assert response.status == 200
    assert upstream.only()["headers"]["authorization"] == "Bearer not.a.token"


@pytest.mark.parametrize("method", ["PURGE", "PROPFIND"])
def test_a_method_no_route_lists_is_the_routers_404(
    gateway: Gateway, upstream: EchoUpstream, method: str
) -> None:
    response = gateway.request(method, PRODUCTS)
    assert_kong_error(response, 404, NOT_FOUND)
    assert limit_of(response) is None
    assert upstream.requests == []


def test_the_schema_is_read_through_the_read_route(
    gateway: Gateway, upstream: EchoUpstream
) -> None:
    """/api/v1/catalog/schema/ is no separate route: a GET is an anonymous read."""
    response = gateway.get("/api/v1/catalog/schema/")
    assert response.status == 200
    assert limit_of(response) == READ_LIMIT
    assert gateway.request("POST", "/api/v1/catalog/schema/").body == UNAUTHORIZED


def test_a_preflight_is_answered_by_cors_on_the_read_route(
    gateway: Gateway, upstream: EchoUpstream
) -> None:
    """A browser asks before a write: the OPTIONS matches catalog-read, then cors answers."""
    response = gateway.request(
        "OPTIONS",
        PRODUCTS,
        [
            ("Origin", ORIGIN),
            ("Access-Control-Request-Method", "POST"),
            ("Access-Control-Request-Headers", "authorization,content-type"),
        ],
    )
    assert (response.status, response.body) == (200, b"")
    assert response.header("Access-Control-Allow-Origin") == ORIGIN
    assert "POST" in (response.header("Access-Control-Allow-Methods") or "").split(",")
    assert upstream.requests == []


# --- Kong's ranking, on variants of kong.yml ------------------------------------------------


def _without_options_and_head(document: dict[str, Any]) -> None:
    route_of(document, "catalog-read")["methods"] = ["GET"]


@pytest.fixture(scope="module")
def get_only(gateway_factory: GatewayFactory) -> Gateway:
    """kong.yml with catalog-read listing GET alone."""
    return gateway_factory(kong_variant(_without_options_and_head))


def test_head_is_not_get(get_only: Gateway, upstream: EchoUpstream) -> None:
    response = get_only.request("HEAD", PRODUCTS)
    assert response.status == 404
    assert get_only.get(PRODUCTS).status == 200
    assert [r["method"] for r in upstream.requests] == ["GET"]


def test_a_preflight_no_route_lists_is_the_routers_404(
    get_only: Gateway, upstream: EchoUpstream
) -> None:
    """The router runs before the cors plugin's access phase: with no route for OPTIONS the
    browser's preflight fails (cors still adds its response headers, as on every 404)."""
    response = get_only.request(
        "OPTIONS", PRODUCTS, [("Origin", ORIGIN), ("Access-Control-Request-Method", "POST")]
    )
    assert_kong_error(response, 404, NOT_FOUND)
    assert response.header("Access-Control-Allow-Origin") == ORIGIN
    assert response.header("Access-Control-Allow-Methods") is None
    assert upstream.requests == []


def _public_products(document: dict[str, Any]) -> None:
    """A longer prefix on a route without methods, inside the catalog-read/write prefix."""
    route_of(document, "catalog-public")["paths"].append("/api/v1/catalog/products/")


@pytest.fixture(scope="module")
def shadowed(gateway_factory: GatewayFactory) -> Gateway:
    return gateway_factory(kong_variant(_public_products))


def test_a_route_with_methods_outranks_a_longer_path_without(
    shadowed: Gateway, upstream: EchoUpstream, token: str
) -> None:
    """Match weight before path length: GET and POST on the longer public prefix still go to
    catalog-read and catalog-write; a method neither lists falls to the public route."""
    read = shadowed.get(f"{PRODUCTS}1")
    assert (read.status, limit_of(read)) == (200, READ_LIMIT)
    refused = shadowed.request("POST", f"{PRODUCTS}1")
    assert (refused.status, refused.body) == (401, UNAUTHORIZED)
    written = shadowed.request("POST", f"{PRODUCTS}1", auth(token))
    assert (written.status, limit_of(written)) == (200, WRITE_LIMIT)
    other = shadowed.request("PURGE", f"{PRODUCTS}1")
    assert (other.status, limit_of(other)) == (200, PUBLIC_LIMIT)
    outside = shadowed.request("PURGE", "/api/v1/catalog/categories/")
    assert_kong_error(outside, 404, NOT_FOUND)
    assert [r["method"] for r in upstream.requests] == ["GET", "POST", "PURGE"]
