"""Kong 3.9's prometheus plugin (status_code_metrics, latency_metrics, bandwidth_metrics,
per_consumer, as kong.yml enables them): exact series after a known set of requests, on a
gateway of its own (counters start at zero). Names, labels and buckets are the plugin's
(kong/plugins/prometheus/exporter.lua); the gateway's own answers are source="kong"; a
request no route matched is counted nowhere."""

from __future__ import annotations

import re

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import KIDS, Gateway, GatewayFactory, haproxy_only
from tests.tokens import access_claims, sign
from tests.wire import send

CONSUMER = "users-service-issuer"
KONG_BUCKETS = ["1", "2", "5", "7", "10", "15", "20", "30", "50", "75", "100", "200", "500",
                "750", "1000", "3000", "6000", "+Inf"]  # fmt: skip
UPSTREAM_BUCKETS = ["25", "50", "80", "100", "250", "400", "700", "1000", "2000", "5000",
                    "10000", "30000", "60000", "+Inf"]  # fmt: skip


def labels(**values: str) -> str:
    return ",".join(f'{k}="{v}"' for k, v in values.items())


def requests_line(service: str, route: str, code: int, source: str, consumer: str = "") -> str:
    return "kong_http_requests_total{" + labels(
        service=service, route=route, code=str(code), source=source, workspace="default",
        consumer=consumer,
    ) + "}"  # fmt: skip


def series(text: str, prefix: str) -> dict[str, float]:
    return {
        line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(prefix)
    }


@pytest.fixture(scope="module")
def metrics_gateway(
    gateway_factory: GatewayFactory, signing_keys: dict[str, rsa.RSAPrivateKey]
) -> tuple[Gateway, str]:
    """A fresh gateway after: 2 anonymous public reads (200), 1 users-api call without a
    token (401), 1 with one (200), 2 paths no route matches (404), 1 oversized write (413),
    31 logins (30 proxied, then 429)."""
    gateway = gateway_factory(fresh="kong-metrics")
    token = sign(access_claims(ttl=3600), signing_keys[KIDS[0]], kid=KIDS[0])
    bearer = [("Authorization", f"Bearer {token}")]
    assert gateway.get("/docs/users/").status == 200
    assert gateway.get("/docs/users/").status == 200
    assert gateway.get("/api/v1/users/me").status == 401
    assert gateway.get("/api/v1/users/me", headers=bearer).status == 200
    assert gateway.get("/nowhere").status == 404
    assert gateway.get("/api/v2/users/me").status == 404
    big = gateway.request(
        "POST", "/api/v1/catalog/products/", [("Content-Length", str(1024 * 1024 + 1)), *bearer]
    )
    assert big.status == 413
    logins = [gateway.request("POST", "/api/v1/auth/token", body=b"{}").status for _ in range(31)]
    assert logins == [200] * 30 + [429]
    response = send(gateway.status_port, "GET", "/metrics")
    assert response.status == 200
    assert (response.header("Content-Type") or "").startswith("text/plain")
    return gateway, response.body.decode()


def test_requests_are_counted_per_route_code_source_and_consumer(
    metrics_gateway: tuple[Gateway, str],
) -> None:
    _, text = metrics_gateway
    assert series(text, "kong_http_requests_total{") == {
        requests_line("users-service", "users-public", 200, "service"): 2,
        requests_line("users-service", "users-api", 401, "kong"): 1,
        requests_line("users-service", "users-api", 200, "service", CONSUMER): 1,
        requests_line("catalog-service", "catalog-write", 413, "kong", CONSUMER): 1,
        requests_line("users-service", "users-auth", 200, "service"): 30,
        requests_line("users-service", "users-auth", 429, "kong"): 1,
    }


def test_latency_histograms_have_kongs_buckets(metrics_gateway: tuple[Gateway, str]) -> None:
    _, text = metrics_gateway
    where = labels(service="users-service", route="users-api", workspace="default")
    counts = {
        name: series(text, f"{name}_count{{")[f"{name}_count{{{where}}}"]
        for name in ("kong_request_latency_ms", "kong_kong_latency_ms", "kong_upstream_latency_ms")
    }
    # The upstream latency only of the proxied request; the other two of both.
    assert counts == {
        "kong_request_latency_ms": 2,
        "kong_kong_latency_ms": 2,
        "kong_upstream_latency_ms": 1,
    }
    for name, buckets in (
        ("kong_kong_latency_ms", KONG_BUCKETS),
        ("kong_upstream_latency_ms", UPSTREAM_BUCKETS),
        ("kong_request_latency_ms", UPSTREAM_BUCKETS),
    ):
        found = re.findall(rf'^{name}_bucket\{{{re.escape(where)},le="([^"]+)"\}} ', text, re.M)
        assert found == buckets
    inf = f'kong_request_latency_ms_bucket{{{where},le="+Inf"}}'
    assert series(text, "kong_request_latency_ms_bucket{")[inf] == 2


def test_no_route_is_not_counted_per_route(metrics_gateway: tuple[Gateway, str]) -> None:
    _, text = metrics_gateway
    assert 'route=""' not in text
    assert 'code="404"' not in text


def test_bandwidth_and_connections(metrics_gateway: tuple[Gateway, str]) -> None:
    _, text = metrics_gateway
    bandwidth = series(text, "kong_bandwidth_bytes{")
    public = labels(service="users-service", route="users-public")
    ingress = f"kong_bandwidth_bytes{{{public},{labels(direction='ingress', workspace='default', consumer='')}}}"  # noqa: E501
    egress = f"kong_bandwidth_bytes{{{public},{labels(direction='egress', workspace='default', consumer='')}}}"  # noqa: E501
    assert bandwidth[ingress] > 2 * len("GET /docs/users/ HTTP/1.1")
    assert bandwidth[egress] > 0
    assert re.search(r'^kong_nginx_connections_total\{node_id="[0-9a-f-]{36}",subsystem="http",'
                     r'state="accepted"\} [1-9]', text, re.M)  # fmt: skip
    assert "kong_datastore_reachable 1" in text.splitlines()


@haproxy_only
def test_a_failed_upstream_is_the_gateways_answer(
    gateway_factory: GatewayFactory, signing_keys: dict[str, rsa.RSAPrivateKey]
) -> None:
    """Kong's 502 when no connection to the upstream could be made: source="kong" (Kong's
    response source is "error", not "service"), and no upstream latency is observed."""
    gateway = gateway_factory(fresh="kong-metrics-dead", dead=("orders-service",))
    token = sign(access_claims(ttl=3600), signing_keys[KIDS[0]], kid=KIDS[0])
    response = gateway.get("/api/v1/orders/", headers=[("Authorization", f"Bearer {token}")])
    assert response.status == 502
    text = send(gateway.status_port, "GET", "/metrics").body.decode()
    assert series(text, "kong_http_requests_total{") == {
        requests_line("orders-service", "orders-api", 502, "kong", CONSUMER): 1
    }
    where = labels(service="orders-service", route="orders-api", workspace="default")
    assert series(text, "kong_request_latency_ms_count{") == {
        f"kong_request_latency_ms_count{{{where}}}": 1
    }
    assert series(text, "kong_upstream_latency_ms_count{") == {}
