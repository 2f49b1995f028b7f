"""Kong 3.9's plugins, case by case from its own suite (spec/03-plugins/ in Kong's repository,
tag 3.9.1): cors, request-size-limiting, correlation-id and rate-limiting cases that apply to
kong.yml's configuration (jwt's are in test_conformance_jwt.py). Each test names the spec file
and the test it ports; configurations other than kong.yml's are variants of it.
"""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import KIDS, Gateway, GatewayFactory, kong_variant, plugin_of, route_of
from tests.tokens import access_claims, sign
from tests.wire import EchoUpstream, assert_kong_error

PUBLIC = "/docs/users/"
ME = "/api/v1/users/me"
MiB = 1024 * 1024
TOO_LARGE = "Request size limit exceeded"
ORIGIN = "http://localhost:3000"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def token(signing_keys: dict[str, rsa.RSAPrivateKey]) -> str:
    return sign(access_claims(ttl=3600), signing_keys[KIDS[0]], kid=KIDS[0])


# --- 13-cors/01-access_spec.lua -----------------------------------------------------------


def _origins(origins: list[str], **extra: Any) -> Any:
    def edit(document: dict[str, Any]) -> None:
        conf = plugin_of(document, "cors")["config"]
        conf["origins"] = origins
        conf.update(extra)

    return edit


@pytest.fixture(scope="module")
def site_origins(gateway_factory: GatewayFactory) -> Gateway:
    """The spec's cors11.test: origins http://my-site.test and https://my-other-site.test:9000."""
    return gateway_factory(
        kong_variant(_origins(["http://my-site.test", "https://my-other-site.test:9000"]))
    )


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        ("http://my-site.test", "http://my-site.test"),
        ("http://my-site.test:80", "http://my-site.test"),
        ("http://my-site.test:8000", None),
        ("https://my-site.test", None),
        ("https://my-other-site.test:9000", "https://my-other-site.test:9000"),
        ("https://my-other-site.test:9001", None),
        ("http://my-site.test/some/path", "http://my-site.test"),
        ("http://user@my-site.test/", "http://my-site.test"),
        ("my-site.test", None),
    ],
)
def test_origins_are_compared_normalized(
    site_origins: Gateway, upstream: EchoUpstream, origin: str, allowed: str | None
) -> None:
    """13-cors/01-access_spec.lua, HTTP method: others, "validates scheme and port" (and the
    path Kong's normalize_origin drops: "sets CORS orgin based on origin host")."""
    response = site_origins.get(PUBLIC, [("Origin", origin)])
    assert response.status == 200
    assert response.header("Access-Control-Allow-Origin") == allowed
    assert response.header("Vary") == "Origin"


def test_a_preflight_with_a_path_in_its_origin_is_answered(
    gateway: Gateway, upstream: EchoUpstream
) -> None:
    """13-cors/01-access_spec.lua (OPTIONS), as "validates scheme and port": the allowed
    Origin, normalized, with kong.yml's methods, headers and max age."""
    response = gateway.request(
        "OPTIONS", PUBLIC, [("Origin", f"{ORIGIN}/app"), ("Access-Control-Request-Method", "PUT")]
    )
    assert response.status == 200
    assert response.header("Access-Control-Allow-Origin") == ORIGIN
    assert response.header("Access-Control-Max-Age") == "3600"
    assert upstream.requests == []


def test_vary_is_added_to_the_upstreams(gateway: Gateway, upstream: EchoUpstream) -> None:
    """13-cors/01-access_spec.lua: "sets Vary and don't override existing Vary header"."""
    response = gateway.get(
        PUBLIC, [("Origin", ORIGIN), ("X-Echo-Set-Header", "Vary=Accept-Encoding")]
    )
    assert response.header_all("Vary") == ["Accept-Encoding", "Origin"]


def test_the_upstreams_allow_origin_is_removed_when_no_origin_matches(
    gateway: Gateway, upstream: EchoUpstream
) -> None:
    """13-cors/01-access_spec.lua: "removes upstream ACAO header when no match is found"."""
    response = gateway.get(
        PUBLIC,
        [("Origin", "http://evil.test"), ("X-Echo-Set-Header", "Access-Control-Allow-Origin=*")],
    )
    assert response.header("Access-Control-Allow-Origin") is None


def test_cors_headers_on_a_404(gateway: Gateway, upstream: EchoUpstream) -> None:
    """13-cors/01-access_spec.lua: "works with 404 responses"."""
    response = gateway.get("/nowhere", [("Origin", ORIGIN)])
    assert response.status == 404
    assert response.header("Access-Control-Allow-Origin") == ORIGIN
    assert response.header("Access-Control-Expose-Headers") == "X-Request-ID,Retry-After"


def test_cors_headers_on_another_plugins_401(gateway: Gateway, upstream: EchoUpstream) -> None:
    """13-cors/01-access_spec.lua: "works with 40x responses returned by another plugin"."""
    response = gateway.get(ME, [("Origin", ORIGIN)])
    assert response.status == 401
    assert response.header("Access-Control-Allow-Origin") == ORIGIN


@pytest.fixture(scope="module")
def one_origin(gateway_factory: GatewayFactory) -> Gateway:
    return gateway_factory(kong_variant(_origins(["http://example.test"])))


@pytest.mark.parametrize("origin", ["http://example.test", "http://other.test", None])
def test_one_plain_origin_is_always_sent(
    one_origin: Gateway, upstream: EchoUpstream, origin: str | None
) -> None:
    """13-cors/01-access_spec.lua: "accepts config options" / "does not automatically parse
    the host": with one plain configured origin Kong sends it whatever the request's."""
    response = one_origin.get(PUBLIC, [("Origin", origin)] if origin else [])
    assert response.header("Access-Control-Allow-Origin") == "http://example.test"


# --- 12-request-size-limiting/01-access_spec.lua ------------------------------------------


@pytest.mark.parametrize("expect", [None, "100-continue"], ids=["plain", "expect"])
def test_content_length_under_the_limit_passes(
    gateway: Gateway, upstream: EchoUpstream, expect: str | None
) -> None:
    """12-request-size-limiting/01-access_spec.lua, with Content-Length: "works if size is
    lower than limit", "works if size is lower than limit and Expect header"."""
    headers = [("Expect", expect)] if expect else []
    response = gateway.request("POST", PUBLIC, headers, b"x" * (MiB - 1))
    assert response.status == 200
    assert upstream.only()["body_length"] == MiB - 1


@pytest.mark.parametrize("size", [4096, 300 * 1024], ids=["under-8k-buffer", "over-8k-buffer"])
@pytest.mark.parametrize("expect", [None, "100-continue"], ids=["plain", "expect"])
def test_chunked_under_the_limit_passes(
    gateway: Gateway, upstream: EchoUpstream, size: int, expect: str | None
) -> None:
    """12-request-size-limiting/01-access_spec.lua, without Content-Length (chunked request
    body), [request body size > and < nginx_http_client_body_buffer_size]: "works if size is
    lower than limit" and "... and Expect header"."""
    headers = [("Expect", expect)] if expect else []
    chunks = [b"x" * 1000] * (size // 1000) + [b"x" * (size % 1000)]
    response = gateway.request("POST", PUBLIC, headers, iter(chunks), chunked=True)
    assert response.status == 200
    assert upstream.only()["body_length"] == size


@pytest.fixture(scope="module")
def small_limit(gateway_factory: GatewayFactory) -> Gateway:
    """request-size-limiting at 10 kilobytes (the spec's other units)."""

    def edit(document: dict[str, Any]) -> None:
        plugin_of(document, "request-size-limiting")["config"].update(
            allowed_payload_size=10, size_unit="kilobytes"
        )

    return gateway_factory(kong_variant(edit))


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
@pytest.mark.parametrize(
    ("size", "status"), [(10 * 1024, 200), (10 * 1024 + 1, 413)], ids=["at", "over"]
)
def test_the_limit_in_kilobytes(
    small_limit: Gateway, upstream: EchoUpstream, chunked: bool, size: int, status: int
) -> None:
    """12-request-size-limiting/01-access_spec.lua: "blocks if size is greater than limit when
    unit in kilobytes", "works if size is less than limit when unit in kilobytes" (with and
    without Content-Length)."""
    body: Any = iter([b"x" * size]) if chunked else b"x" * size
    response = small_limit.request("POST", PUBLIC, body=body, chunked=chunked)
    if status == 413:
        assert_kong_error(response, 413, TOO_LARGE)
        assert upstream.requests == []
    else:
        assert response.status == 200
        assert upstream.only()["body_length"] == size


# --- 11-correlation-id/01-access_spec.lua -------------------------------------------------


def test_a_uuid_is_generated_per_request(gateway: Gateway, upstream: EchoUpstream) -> None:
    """11-correlation-id/01-access_spec.lua, uuid generator: "generates a unique UUID for
    every request"; config options: "echo_downstream sends uuid back to client"."""
    ids = [gateway.get(PUBLIC).header("X-Request-ID") for _ in range(3)]
    assert all(UUID.match(i or "") for i in ids)
    assert len(set(ids)) == 3
    assert [r["headers"]["x-request-id"] for r in upstream.requests] == ids


def test_an_existing_id_is_preserved(gateway: Gateway, upstream: EchoUpstream) -> None:
    """11-correlation-id/01-access_spec.lua: "preserves an already existing header"."""
    response = gateway.get(PUBLIC, [("X-Request-ID", "foobar")])
    assert upstream.only()["headers"]["x-request-id"] == "foobar"
    assert response.header("X-Request-ID") == "foobar"


@pytest.mark.parametrize("value", ["", " "], ids=["empty", "space-only"])
def test_an_empty_id_is_not_preserved(gateway: Gateway, upstream: EchoUpstream, value: str) -> None:
    """11-correlation-id/01-access_spec.lua: "does not preserve an already existing empty
    header", "does not preserve an already existing header with space only"."""
    response = gateway.get(PUBLIC, [("X-Request-ID", value)])
    sent = upstream.only()["headers"]["x-request-id"]
    assert UUID.match(sent)
    assert response.header("X-Request-ID") == sent


@pytest.mark.parametrize("incoming", [None, "abc"], ids=["generated", "incoming"])
def test_echoed_when_access_did_not_run(
    gateway: Gateway, upstream: EchoUpstream, incoming: str | None
) -> None:
    """11-correlation-id/01-access_spec.lua: "executes with echo_downstream when access did
    not execute", "echoes incoming with echo_downstream when access did not execute" (the
    router's 404 comes before any plugin's access phase)."""
    response = gateway.get("/nowhere", [("X-Request-ID", incoming)] if incoming else [])
    assert response.status == 404
    echoed = response.header("X-Request-ID") or ""
    assert echoed == incoming if incoming else UUID.match(echoed)


@pytest.fixture(scope="module")
def no_users(gateway_factory: GatewayFactory) -> Gateway:
    return gateway_factory(dead=("users-service",))


def test_echoed_when_the_upstream_fails(no_users: Gateway, upstream: EchoUpstream) -> None:
    """11-correlation-id/01-access_spec.lua: "echo_downstream sends uuid back to client even
    when upstream timeouts" (here: unreachable)."""
    response = no_users.get(PUBLIC)
    assert response.status == 502
    assert UUID.match(response.header("X-Request-ID") or "")


# --- 23-rate-limiting/04-access_spec.lua --------------------------------------------------


def _six_per_minute(document: dict[str, Any]) -> None:
    plugin_of(route_of(document, "users-public"), "rate-limiting")["config"]["minute"] = 6


@pytest.fixture(scope="module")
def six(gateway_factory: GatewayFactory) -> Gateway:
    return gateway_factory(kong_variant(_six_per_minute), fresh="six-per-minute")


def test_blocks_if_exceeding_limit_single_ip(six: Gateway, upstream: EchoUpstream) -> None:
    """23-rate-limiting/04-access_spec.lua: "blocks if exceeding limit (single ip)": 7
    requests at 6 a minute; the route's paths share the route's counter (its "multiple path"
    case, limit_by ip)."""
    if time.time() % 60 > 50:  # keep the 7 requests inside one minute window
        time.sleep(60 - time.time() % 60 + 0.05)
    paths = [PUBLIC, "/admin/users/", "/static/users/x", PUBLIC, "/admin/users/", PUBLIC, PUBLIC]
    responses = [six.get(p) for p in paths]
    assert [r.status for r in responses] == [200] * 6 + [429]
    assert [r.header("X-RateLimit-Limit-Minute") for r in responses] == ["6"] * 7
    remaining = ["5", "4", "3", "2", "1", "0", "0"]
    assert [r.header("X-RateLimit-Remaining-Minute") for r in responses] == remaining
    assert [r.header("RateLimit-Limit") for r in responses] == ["6"] * 7
    assert [r.header("RateLimit-Remaining") for r in responses] == [
        "5",
        "4",
        "3",
        "2",
        "1",
        "0",
        "0",
    ]
    assert all(0 <= int(r.header("RateLimit-Reset") or -1) <= 60 for r in responses)
    assert_kong_error(responses[-1], 429, "API rate limit exceeded")
    assert len(upstream.requests) == 6
