"""/healthz and /readyz (chassis.health) against the real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from chassis.events.reachability import broker_state
from chassis.testing import chassis_with
from django.test import Client

RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"


@pytest.fixture(autouse=True)
def _nothing_known_of_the_broker() -> Iterator[None]:
    broker_state.reset()
    yield
    wait_until(lambda: not broker_state.checking)
    broker_state.reset()


def wait_until(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def wait_until_checked() -> None:
    """The background broker check the probe started has recorded its outcome."""
    wait_until(lambda: broker_state.last is not None and not broker_state.checking)


def readyz(**headers: Any) -> Any:
    return Client(**headers).get("/readyz")


def test_healthz_answers_without_io_host_check_or_https():
    # A kubelet probes the pod IP over plain HTTP: not in ALLOWED_HOSTS, not redirected.
    response = Client(HTTP_HOST="10.1.2.3:8000").get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_answers_head():
    assert Client().head("/healthz").status_code == 200


@pytest.mark.django_db
def test_readyz_checks_database_migrations_and_reports_the_real_broker(settings):
    settings.CELERY_BROKER_URL = RABBITMQ
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}

    first = readyz(HTTP_HOST="10.1.2.3:8000")  # starts a background check of the broker
    wait_until_checked()
    then = readyz(HTTP_HOST="10.1.2.3:8000")

    assert (first.status_code, then.status_code) == (200, 200)
    assert first.json() == {
        "status": "ok",
        "checks": {"database": "ok", "migrations": "ok"},
        "broker": {"status": "unknown", "source": None, "observed_at": None, "error": None},
    }
    body = then.json()
    assert body["checks"] == {"database": "ok", "migrations": "ok"}
    assert (body["broker"]["status"], body["broker"]["source"]) == ("ok", "check")
    assert body["broker"]["error"] is None


@pytest.mark.django_db
def test_readyz_stays_200_reporting_the_broker_unreachable_when_it_is_down(settings):
    settings.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:1//"  # nothing listens there
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}

    first = readyz()
    wait_until_checked()
    then = readyz()

    assert (first.status_code, then.status_code) == (200, 200)
    body = then.json()
    assert (body["status"], body["checks"]) == ("ok", {"database": "ok", "migrations": "ok"})
    assert (body["broker"]["status"], body["broker"]["source"]) == ("unreachable", "check")
    assert body["broker"]["error"].startswith("OperationalError: ")


def test_readyz_is_503_when_the_database_cannot_be_reached(settings):
    settings.CHASSIS = chassis_with(HEALTH={"BROKER_CHECK_SECONDS": 0})  # not about the broker
    broker_state.record(reachable=True, source="publish")

    # No django_db mark: pytest-django refuses the connection, as a dead database would.
    response = readyz()

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"].startswith("fail: ")
    assert body["broker"]["status"] == "ok"
