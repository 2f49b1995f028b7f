"""/healthz and /readyz (chassis.health) against the real PostgreSQL and RabbitMQ."""

from __future__ import annotations

import pytest
from django.test import Client

RABBITMQ = "amqp://guest:guest@127.0.0.1:5672//"


def test_healthz_answers_without_io_host_check_or_https():
    # A kubelet probes the pod IP over plain HTTP: not in ALLOWED_HOSTS, not redirected.
    response = Client(HTTP_HOST="10.1.2.3:8000").get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_answers_head():
    assert Client().head("/healthz").status_code == 200


@pytest.mark.django_db
def test_readyz_checks_database_migrations_and_the_real_broker(settings):
    settings.CELERY_BROKER_URL = RABBITMQ
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}

    response = Client(HTTP_HOST="10.1.2.3:8000").get("/readyz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "migrations": "ok", "broker": "ok"},
    }


@pytest.mark.django_db
def test_readyz_is_503_naming_the_broker_when_it_is_down(settings):
    settings.CELERY_BROKER_URL = "amqp://guest:guest@127.0.0.1:1//"  # nothing listens there
    settings.HEALTH_BROKER_TIMEOUT_SECONDS = 1

    response = Client().get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["migrations"] == "ok"
    assert body["checks"]["broker"].startswith("fail: ")


def test_readyz_is_503_when_the_database_cannot_be_reached():
    # No django_db mark: pytest-django refuses the connection, as a dead database would.
    response = Client().get("/readyz")

    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith("fail: ")
