import time

import pytest
from django.db import connection
from django.db.migrations.recorder import MigrationRecorder

from chassis import health

CLOSED_BROKER = "amqp://guest:guest@127.0.0.1:1//"


@pytest.fixture
def migrations_unchecked(monkeypatch):
    """Forget that this process already saw every migration applied."""
    monkeypatch.setattr(health, "_migrations_applied", False)


def test_healthz(api_client):
    response = api_client.get("/healthz")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {"status": "ok"}
    assert "X-Request-ID" not in response  # answered before any other middleware


@pytest.mark.parametrize("path", ["/healthz/", "/healthz//"])
def test_healthz_with_trailing_slash(api_client, path):
    assert api_client.get(path).json() == {"status": "ok"}


def test_healthz_head(api_client):
    assert api_client.head("/healthz").status_code == 200


@pytest.mark.django_db
def test_readyz_with_real_database_migrations_and_broker(api_client, migrations_unchecked):
    response = api_client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "migrations": "ok", "broker": "ok"},
    }
    assert health._migrations_applied is True


@pytest.mark.django_db
def test_readyz_broker_down_is_a_bounded_503(api_client, settings, migrations_unchecked):
    settings.CELERY_BROKER_URL = CLOSED_BROKER
    settings.HEALTH_BROKER_TIMEOUT_SECONDS = 1

    started = time.monotonic()
    response = api_client.get("/readyz")
    elapsed = time.monotonic() - started

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["migrations"] == "ok"
    assert body["checks"]["broker"].startswith("fail: OperationalError: ")
    assert "Connection refused" in body["checks"]["broker"]
    assert elapsed < 4


@pytest.mark.django_db
def test_readyz_unapplied_migration_is_a_503(api_client, migrations_unchecked):
    # Rolled back with the test's transaction; the probe runs on the same connection.
    MigrationRecorder(connection).record_unapplied("auth", "0012_alter_user_first_name_max_length")

    response = api_client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {
            "database": "ok",
            "migrations": "fail: RuntimeError: 1 migration(s) not applied",
            "broker": "ok",
        },
    }
    assert health._migrations_applied is False


@pytest.mark.django_db
def test_applied_migrations_are_checked_once(migrations_unchecked, django_assert_num_queries):
    health.check_migrations()

    with django_assert_num_queries(0):
        health.check_migrations()


def test_broker_check_skipped_without_a_broker(settings):
    settings.CELERY_BROKER_URL = ""

    assert health.run_checks({"broker": health.check_broker}) == (True, {"broker": "ok"})


def test_broker_check_with_the_filesystem_transport(settings, tmp_path):
    from chassis.conf import broker_transport, broker_transport_options

    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT = broker_transport("filesystem://")
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = broker_transport_options("filesystem://", tmp_path)

    assert health.run_checks({"broker": health.check_broker}) == (True, {"broker": "ok"})


def test_run_checks_reports_every_failure_and_keeps_going():
    calls = []

    def ok():
        calls.append("ok")

    def broken():
        calls.append("broken")
        raise ConnectionError("refused")

    def slow_to_say():
        calls.append("long")
        raise ValueError("x" * 500)

    ready, results = health.run_checks({"first": broken, "second": ok, "third": slow_to_say})

    assert ready is False
    assert results == {
        "first": "fail: ConnectionError: refused",
        "second": "ok",
        "third": ("fail: ValueError: " + "x" * 500)[:200],
    }
    assert calls == ["broken", "ok", "long"]


def test_run_checks_all_ok():
    assert health.run_checks({"a": lambda: None, "b": lambda: None}) == (
        True,
        {"a": "ok", "b": "ok"},
    )


def test_readyz_substituted_checks(api_client, monkeypatch):
    def down():
        raise OSError("no route")

    monkeypatch.setattr(health, "CHECKS", {"database": lambda: None, "cache": down})

    response = api_client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "cache": "fail: OSError: no route"},
    }


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_answer_any_host(api_client, monkeypatch, path):
    monkeypatch.setattr(health, "CHECKS", {"noop": lambda: None})

    response = api_client.get(path, HTTP_HOST="10.1.2.3:8000")

    assert response.status_code == 200
    assert api_client.get("/api/v1/items/1/", HTTP_HOST="10.1.2.3:8000").status_code == 400


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_are_not_redirected_to_https(api_client, settings, monkeypatch, path):
    monkeypatch.setattr(health, "CHECKS", {"noop": lambda: None})
    settings.SECURE_SSL_REDIRECT = True

    response = api_client.get(path)

    assert response.status_code == 200
    redirected = api_client.get("/api/v1/items/1/")
    assert redirected.status_code == 301
    assert redirected["Location"] == "https://testserver/api/v1/items/1/"


@pytest.mark.parametrize("path", ["/readyz", "/healthz"])
def test_other_methods_fall_through_to_url_routing(api_client, monkeypatch, path):
    monkeypatch.setattr(health, "CHECKS", {"never": pytest.fail})

    response = api_client.post(path, {}, format="json")

    assert response.status_code == 404
    assert response.json()["type"] == "urn:problem-type:not-found"
    assert response["X-Request-ID"] == response.json()["correlation_id"]
