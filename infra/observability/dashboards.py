# ruff: noqa: E501 - one PromQL query per line reads better than wrapped strings
"""Write the Grafana dashboards (dashboards/*.json) from the panel lists below:
``python3 infra/observability/dashboards.py``. A test holds the files equal to this output and
every query's metric names to a real scrape (infra/tests/test_observability.py)."""

from __future__ import annotations

import json
from pathlib import Path

HERE = Path(__file__).parent / "dashboards"


def panel(title: str, expr: str, unit: str = "short", index: int = 0) -> dict:
    return {
        "type": "timeseries",
        "title": title,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": 12, "x": 12 * (index % 2), "y": 8 * (index // 2)},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": "A", "expr": expr, "legendFormat": "__auto"}],
    }


def dashboard(uid: str, title: str, panels: list[tuple[str, str, str]]) -> dict:
    return {
        "uid": uid,
        "title": title,
        "schemaVersion": 39,
        "time": {"from": "now-1h", "to": "now"},
        "refresh": "30s",
        "templating": {
            "list": [
                {"name": "datasource", "type": "datasource", "query": "prometheus"},
            ]
        },
        "panels": [panel(t, e, u, i) for i, (t, e, u) in enumerate(panels)],
    }


def service_panels(service: str) -> list[tuple[str, str, str]]:
    s = f'service="{service}"'
    return [
        ("Requests per second by route", f"sum by (route, method) (rate(http_requests_total{{{s}}}[5m]))", "reqps"),
        ("5xx ratio", f'sum(rate(http_requests_total{{{s},status=~"5.."}}[5m])) / sum(rate(http_requests_total{{{s}}}[5m]))', "percentunit"),
        ("p99 request time by route", f"histogram_quantile(0.99, sum by (route, le) (rate(http_request_duration_seconds_bucket{{{s}}}[5m])))", "s"),
        ("Database query time p95", f"histogram_quantile(0.95, sum by (le) (rate(db_query_duration_seconds_bucket{{{s}}}[5m])))", "s"),
        ("Cache hit ratio", f'sum(rate(cache_requests_total{{{s},result="hit"}}[5m])) / sum(rate(cache_requests_total{{{s}}}[5m]))', "percentunit"),
        ("Celery tasks by outcome", f"sum by (task, outcome) (rate(celery_tasks_total{{{s}}}[5m]))", "ops"),
        ("Celery task time p95", f"histogram_quantile(0.95, sum by (task, le) (rate(celery_task_duration_seconds_bucket{{{s}}}[5m])))", "s"),
        ("Events consumed by outcome", f"sum by (type, outcome) (rate(events_consumed_total{{{s}}}[5m]))", "ops"),
        ("Outbox: unsent events", f"max(outbox_unsent_events{{{s}}})", "short"),
        ("Outbox: oldest unsent age", f"max(outbox_oldest_unsent_age_seconds{{{s}}})", "s"),
        ("Parked events", f"max(events_parked{{{s}}})", "short"),
        ("Queue depth (consumer lag)", f"max by (queue) (events_queue_messages{{{s}}})", "short"),
    ]  # fmt: skip


SAGA = [
    ("Saga PENDING -> final, p50/p99", "histogram_quantile(0.99, sum by (status, le) (rate(orders_saga_duration_seconds_bucket[10m])))", "s"),
    ("Orders by final status", "sum by (status) (increase(orders_saga_outcomes_total[1h]))", "short"),
    ("Saga median time", "histogram_quantile(0.5, sum by (status, le) (rate(orders_saga_duration_seconds_bucket[10m])))", "s"),
    ("order.placed handled by catalog", 'sum by (outcome) (rate(events_consumed_total{type="order.placed"}[5m]))', "ops"),
    ("Stock answers handled by orders", 'sum by (type, outcome) (rate(events_consumed_total{type=~"stock.reserved|stock.rejected"}[5m]))', "ops"),
    ("Outbox oldest unsent age", "max by (service) (outbox_oldest_unsent_age_seconds)", "s"),
]  # fmt: skip

GATEWAY = [
    ("Requests per second by service", "sum by (service) (rate(kong_http_requests_total[5m]))", "reqps"),
    ("Status codes by source", "sum by (code, source) (rate(kong_http_requests_total[5m]))", "reqps"),
    ("Request latency p99 by route", "histogram_quantile(0.99, sum by (route, le) (rate(kong_request_latency_ms_bucket[5m])))", "ms"),
    ("Upstream latency p99 by service", "histogram_quantile(0.99, sum by (service, le) (rate(kong_upstream_latency_ms_bucket[5m])))", "ms"),
    ("Kong latency p99", "histogram_quantile(0.99, sum by (le) (rate(kong_kong_latency_ms_bucket[5m])))", "ms"),
    ("Bandwidth", "sum by (direction) (rate(kong_bandwidth_bytes[5m]))", "Bps"),
    ("Connections", "sum by (state) (kong_nginx_connections_total)", "short"),
    ("Requests total", "sum(kong_nginx_requests_total)", "short"),
]  # fmt: skip


def documents() -> dict[str, dict]:
    docs = {
        f"{name}.json": dashboard(f"platform-{name}", f"{name}-service", service_panels(name))
        for name in ("users", "catalog", "orders")
    }
    docs["saga.json"] = dashboard("platform-saga", "Order saga", SAGA)
    docs["gateway.json"] = dashboard("platform-gateway", "Gateway (Kong metric names)", GATEWAY)
    return docs


def render(doc: dict) -> str:
    return json.dumps(doc, indent=2) + "\n"


if __name__ == "__main__":
    HERE.mkdir(exist_ok=True)
    for name, doc in documents().items():
        (HERE / name).write_text(render(doc))
