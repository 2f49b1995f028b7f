"""chassis.metrics: /metrics on the service's own port, requests by route template, query
time, cache hits and misses, event outcomes and Celery tasks from a real worker (its
multiprocess files), the events' gauges from one task, dead processes' gauges dropped."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
import urllib.request
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from celery import signals
from django.core.management import call_command
from django.db import connection, transaction
from django.utils import timezone
from prometheus_client import REGISTRY, CollectorRegistry, multiprocess
from rest_framework.test import APIClient

from chassis import metrics
from chassis.events.consumer import handle
from chassis.events.envelope import Envelope
from chassis.events.gauges import events_gauges_refresh
from chassis.events.models import OutboxEvent, ParkedEvent
from chassis.events.outbox import publish
from tests import handlers
from tests.celery_app import app
from tests.utils import wait_for


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def requests(route: str, method: str, status: str) -> float:
    return value("http_requests_total", route=route, method=method, status=status)


@pytest.mark.django_db
def test_requests_are_counted_by_route_template_method_and_status(api_client: APIClient):
    route = "api/v1/items/<int:item_id>/"
    before = {s: requests(route, "GET", s) for s in ("200", "404")}
    unmatched, probes = requests("<unmatched>", "GET", "404"), requests("<probe>", "GET", "200")
    timed = value("http_request_duration_seconds_count", route=route, method="GET", status="200")

    assert api_client.get("/api/v1/items/1/").status_code == 200
    assert api_client.get("/api/v1/items/1/").status_code == 200
    assert api_client.get("/api/v1/items/2/").status_code == 404
    assert api_client.get("/no/such/path").status_code == 404
    assert api_client.get("/healthz").status_code == 200

    assert requests(route, "GET", "200") - before["200"] == 2
    assert requests(route, "GET", "404") - before["404"] == 1  # a client's id is no label
    assert requests("<unmatched>", "GET", "404") - unmatched == 1
    assert requests("<probe>", "GET", "200") - probes == 1
    assert (
        value("http_request_duration_seconds_count", route=route, method="GET", status="200")
        - timed
        == 2
    )


def test_metrics_are_served_to_any_host_and_not_counted(api_client: APIClient):
    """The scraper calls a pod's address, which ALLOWED_HOSTS does not list (as the probes)."""
    before = requests("<unmatched>", "GET", "200")
    response = api_client.get("/metrics", HTTP_HOST="10.1.2.3:8000")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=")
    assert b"# TYPE http_requests_total counter" in response.content
    assert requests("<unmatched>", "GET", "200") == before
    assert api_client.post("/metrics", HTTP_HOST="10.1.2.3:8000").status_code == 400


@pytest.mark.django_db
def test_queries_are_timed():
    before = value("db_query_duration_seconds_count", alias="default")
    connection.ensure_connection()
    with connection.cursor() as cursor:
        for _ in range(3):
            cursor.execute("SELECT 1")
    assert value("db_query_duration_seconds_count", alias="default") - before == 3


def test_cache_reads_count_hits_and_misses(shared_redis_cache):
    from django.core.cache import cache

    hits, misses = (
        value("cache_requests_total", result="hit"),
        value("cache_requests_total", result="miss"),
    )
    cache.set("present", 1)
    assert cache.get("present") == 1
    assert cache.get("absent") is None
    assert cache.get_many(["present", "absent", "other"]) == {"present": 1}
    assert value("cache_requests_total", result="hit") - hits == 2
    assert value("cache_requests_total", result="miss") - misses == 3


@pytest.mark.django_db
def test_handled_and_duplicate_events_are_counted_by_type():
    def outcome(name: str) -> float:
        return value("events_consumed_total", type="test.happened", outcome=name)

    before = {name: outcome(name) for name in ("handled", "duplicate")}
    event = Envelope(type="test.happened", payload={"n": 7}, producer="chassis")
    assert handle(event) is True
    assert handle(event) is False
    assert {name: outcome(name) - before[name] for name in before} == {
        "handled": 1,
        "duplicate": 1,
    }


def worker_samples(worker) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=worker.env["PROMETHEUS_MULTIPROC_DIR"])
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for metric in registry.collect()
        for s in metric.samples
    }


@pytest.mark.django_db(transaction=True)
def test_a_workers_retries_parking_and_tasks_are_in_its_metrics_files(worker):
    def sample(name: str, **labels: str) -> float:
        return worker_samples(worker).get((name, tuple(sorted(labels.items()))), 0.0)

    consume = "chassis.events.consume"
    before = {
        "retried": sample("events_consumed_total", type="test.failed", outcome="retried"),
        "parked": sample("events_consumed_total", type="test.failed", outcome="parked"),
        "retry": sample("celery_tasks_total", task=consume, outcome="retry"),
    }
    (handlers.state() / "broken").touch()
    try:
        with transaction.atomic():
            row = publish("test.failed", {"n": 9})
        wait_for(lambda: ParkedEvent.objects.filter(event_id=row.id).exists())
    finally:
        (handlers.state() / "broken").unlink()
    wait_for(lambda: sample("events_consumed_total", type="test.failed", outcome="parked") > 0)
    assert {
        "retried": sample("events_consumed_total", type="test.failed", outcome="retried"),
        "parked": sample("events_consumed_total", type="test.failed", outcome="parked"),
        "retry": sample("celery_tasks_total", task=consume, outcome="retry"),
    } == {
        "retried": before["retried"] + 4,
        "parked": before["parked"] + 1,
        "retry": before["retry"] + 4,
    }
    assert sample("celery_task_duration_seconds_count", task=consume) >= 5


@pytest.fixture
def topology() -> None:
    app.set_current()
    call_command("events_setup", verbosity=0)


@pytest.mark.django_db(transaction=True)
def test_the_events_gauges_come_from_one_refresh(topology):
    now = timezone.now()
    OutboxEvent.objects.create(
        type="test.happened",
        producer="chassis",
        payload={"n": 1},
        occurred_at=now - timedelta(seconds=90),
    )
    OutboxEvent.objects.create(
        type="test.happened", producer="chassis", payload={"n": 2}, occurred_at=now
    )
    OutboxEvent.objects.create(
        type="test.happened", producer="chassis", payload={"n": 3}, published_at=now,
        occurred_at=now - timedelta(hours=1),
    )  # fmt: skip
    for redriven in (None, None, now):
        ParkedEvent.objects.create(
            event_id=uuid.uuid4(), type="test.failed", envelope={}, error="x", attempts=1,
            redriven_at=redriven,
        )  # fmt: skip

    result = events_gauges_refresh(now=now)

    assert {k: result[k] for k in ("unsent", "oldest_age", "parked")} == {
        "unsent": 2,
        "oldest_age": 90.0,
        "parked": 2,
    }
    assert set(result["queues"]) == {"chassis", "chassis.events"}
    assert (value("outbox_unsent_events"), value("outbox_oldest_unsent_age_seconds")) == (2, 90)
    assert value("events_parked") == 2
    assert value("events_queue_messages", queue="chassis") == result["queues"]["chassis"]


def test_a_dead_processes_gauges_go_and_its_counters_stay(tmp_path: Path):
    """Multiprocess mode: gunicorn's child_exit hook marks a worker dead; its live gauge
    ("livemostrecent") leaves the scrape, its counters are kept. (The parent's own gauge, 0
    from import with a zero timestamp, never wins over a value a process set.)"""
    script = textwrap.dedent(
        """
        import multiprocessing, os, sys
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = sys.argv[1]
        from prometheus_client import CollectorRegistry, generate_latest, multiprocess
        from chassis import metrics
        from chassis.gunicorn_conf import gunicorn_settings

        def child():
            metrics.OUTBOX_UNSENT.set(7)
            metrics.HTTP_REQUESTS.labels("r", "GET", "200").inc()

        def scrape():
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)
            return generate_latest(registry).decode()

        process = multiprocessing.get_context("fork").Process(target=child)
        process.start(); process.join()
        alive = scrape()
        gunicorn_settings("x")["child_exit"](None, process)
        dead = scrape()
        print("outbox_unsent_events 7.0" in alive, "outbox_unsent_events 7.0" in dead)
        print('http_requests_total{method="GET",route="r",status="200"} 1.0' in dead)
        """
    )
    run = subprocess.run(  # noqa: S603 - this interpreter, a literal script
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": "src", "DJANGO_SETTINGS_MODULE": "tests.settings", "PATH": ""},
        cwd=Path(__file__).resolve().parents[1],
    )
    assert run.stdout.split() == ["True", "False", "True"]


def test_a_worker_in_its_own_container_serves_its_metrics(monkeypatch: pytest.MonkeyPatch):
    """CELERY_METRICS_PORT: the worker's main process serves /metrics itself (Celery's
    worker_init signal), as nothing else reads its files in a pod of its own."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("CELERY_METRICS_PORT", str(port))
    assert any(key[0] == "chassis.metrics" for key, _ in signals.worker_init.receivers)
    metrics._serve_worker_metrics()  # what the signal runs
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        assert b"# TYPE celery_tasks_total counter" in response.read()
