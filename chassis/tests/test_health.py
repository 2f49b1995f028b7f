import threading
from datetime import UTC, datetime

import kombu
import pytest
from django.db import connection, transaction
from django.db.migrations.recorder import MigrationRecorder
from kombu.exceptions import OperationalError

from chassis import health
from chassis.events.outbox import publish
from chassis.events.reachability import BrokerState, broker_state
from chassis.testing import chassis_with
from tests.utils import DEAD_BROKER, Clock, dead_broker, wait_for

UNKNOWN = {"status": "unknown", "source": None, "observed_at": None, "error": None}


@pytest.fixture(autouse=True)
def _fresh_broker_state():
    """Each test starts with nothing known of the broker and leaves no check running."""
    broker_state.reset()
    yield
    wait_for(lambda: not broker_state.checking)
    broker_state.reset()


@pytest.fixture
def migrations_unchecked(monkeypatch):
    """Forget that this process already saw every migration applied."""
    monkeypatch.setattr(health, "_migrations_applied", False)


@pytest.fixture
def no_broker_checks(settings):
    """Only publishes inform the broker state: no background check starts."""
    settings.CHASSIS = chassis_with(HEALTH={"BROKER_CHECK_SECONDS": 0})


def observed_at(state: BrokerState) -> str:
    return datetime.fromtimestamp(state.last.wall, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


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


# --- readiness: what makes the instance unable to serve -------------------------------------


@pytest.mark.django_db
def test_readyz_with_real_database_and_migrations(
    api_client, migrations_unchecked, no_broker_checks
):
    response = api_client.get("/readyz")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "migrations": "ok"},
        "broker": UNKNOWN,  # nothing published, no check: nothing known
    }
    assert "X-Request-ID" not in response  # answered before any other middleware
    assert health._migrations_applied is True


@pytest.mark.django_db
def test_readyz_unapplied_migration_is_a_503(api_client, migrations_unchecked, no_broker_checks):
    # Rolled back with the test's transaction; the probe runs on the same connection.
    MigrationRecorder(connection).record_unapplied("auth", "0012_alter_user_first_name_max_length")

    response = api_client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {
            "database": "ok",
            "migrations": "fail: RuntimeError: 1 migration(s) not applied",
        },
        "broker": UNKNOWN,
    }
    assert health._migrations_applied is False


def test_readyz_unreachable_database_is_a_503(api_client, migrations_unchecked, no_broker_checks):
    # No django_db mark: pytest-django refuses the connection, as a dead database would.
    response = api_client.get("/readyz")

    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert list(body["checks"]) == ["database", "migrations"]
    for result in body["checks"].values():
        assert result.startswith("fail: RuntimeError: Database access not allowed")
    assert body["broker"] == UNKNOWN


@pytest.mark.django_db
def test_applied_migrations_are_checked_once(migrations_unchecked, django_assert_num_queries):
    health.check_migrations()

    with django_assert_num_queries(0):
        health.check_migrations()


# --- the broker: reported, never a reason to be unready -------------------------------------


@pytest.mark.django_db(transaction=True)
def test_readyz_stays_200_reporting_the_broker_unreachable_after_a_failed_publish(
    api_client, monkeypatch
):
    with dead_broker(monkeypatch), transaction.atomic():
        row = publish("test.happened", {"n": 1})
    row.refresh_from_db()

    response = api_client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "migrations": "ok"},
        "broker": {
            "status": "unreachable",
            "source": "publish",
            "observed_at": observed_at(broker_state),
            "error": row.last_error[:200],
        },
    }
    assert row.last_error.startswith("OperationalError: ")
    assert broker_state.checking is False  # a fresh failure: no check started


@pytest.mark.django_db
def test_readyz_reports_the_broker_ok_after_a_confirmed_publish(api_client):
    broker_state.record(reachable=True, source="publish")

    response = api_client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["broker"] == {
        "status": "ok",
        "source": "publish",
        "observed_at": observed_at(broker_state),
        "error": None,
    }


@pytest.mark.django_db
def test_a_background_check_reports_a_closed_broker_unreachable(api_client, settings):
    settings.CELERY_BROKER_URL = DEAD_BROKER
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}

    first = api_client.get("/readyz")  # starts the check, does not wait for it
    wait_for(lambda: broker_state.last is not None)
    then = api_client.get("/readyz")

    assert first.status_code == then.status_code == 200
    assert first.json()["broker"] == UNKNOWN
    broker = then.json()["broker"]
    assert (broker["status"], broker["source"]) == ("unreachable", "check")
    assert broker["error"].startswith("OperationalError: ")
    assert "Connection refused" in broker["error"]
    assert health.broker_reachable() == 0


@pytest.mark.django_db
def test_a_background_check_reports_the_real_broker_ok(api_client):
    api_client.get("/readyz")
    wait_for(lambda: broker_state.last is not None)

    response = api_client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["broker"] == {
        "status": "ok",
        "source": "check",
        "observed_at": observed_at(broker_state),
        "error": None,
    }
    assert health.broker_reachable() == 1


@pytest.mark.django_db
def test_the_probe_opens_no_broker_connection(api_client, settings, monkeypatch):
    """Probes read the state; a connection is opened only by the background check, at most
    once per BROKER_CHECK_SECONDS, never on the probe's thread."""
    connections_opened: list[str] = []

    def no_connection(*args, **kwargs):
        connections_opened.append(threading.current_thread().name)
        raise ConnectionRefusedError("no connection expected")

    monkeypatch.setattr(kombu, "Connection", no_connection)
    monkeypatch.setattr(health, "Connection", no_connection)
    clock = Clock()
    state = BrokerState(monotonic=clock)
    monkeypatch.setattr(health, "broker_state", state)
    settings.CHASSIS = chassis_with(HEALTH={"BROKER_CHECK_SECONDS": 30})
    state.record(reachable=True, source="publish")

    answers = []
    for _ in range(10):
        answers.append(api_client.get("/readyz"))
        clock.now += 2.9

    assert [a.status_code for a in answers] == [200] * 10
    assert {a.json()["broker"]["status"] for a in answers} == {"ok"}
    assert connections_opened == []  # the state was fresh: nothing asked of the broker

    clock.now = 1030.0  # 30 s after the publish: the next probe starts one check
    answers = [api_client.get("/readyz") for _ in range(10)]
    wait_for(lambda: not state.checking)

    assert [a.status_code for a in answers] == [200] * 10
    assert connections_opened == ["broker-check"]
    broker = api_client.get("/readyz").json()["broker"]
    assert (broker["status"], broker["source"], broker["error"]) == (
        "unreachable",
        "check",
        "ConnectionRefusedError: no connection expected",
    )


def test_no_broker_configured_is_unknown_and_never_checked(api_client, settings, monkeypatch):
    settings.CELERY_BROKER_URL = ""
    monkeypatch.setattr(health, "CHECKS", {"noop": lambda: None})

    response = api_client.get("/readyz")

    assert response.json() == {"status": "ok", "checks": {"noop": "ok"}, "broker": UNKNOWN}
    assert broker_state.checking is False


def test_broker_check_with_the_filesystem_transport(settings, tmp_path):
    from chassis.conf import broker_transport, broker_transport_options

    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT = broker_transport("filesystem://")
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = broker_transport_options("filesystem://", tmp_path)

    assert health.check_broker() is None


def test_broker_check_of_a_closed_broker_raises(settings):
    settings.CELERY_BROKER_URL = DEAD_BROKER
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {}

    with pytest.raises(OperationalError, match="Connection refused"):
        health.check_broker()


def test_broker_reachable_is_a_gauge_of_the_latest_observation():
    assert health.broker_reachable() == 0  # nothing known

    broker_state.record(reachable=True, source="check")
    assert health.broker_reachable() == 1

    broker_state.record(reachable=False, source="publish", error="OperationalError: refused")
    assert health.broker_reachable() == 0


# --- checks ---------------------------------------------------------------------------------


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


def test_readyz_substituted_checks(api_client, monkeypatch, no_broker_checks):
    def down():
        raise OSError("no route")

    monkeypatch.setattr(health, "CHECKS", {"database": lambda: None, "cache": down})

    response = api_client.get("/readyz")

    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "cache": "fail: OSError: no route"},
        "broker": UNKNOWN,
    }


# --- served before any other middleware -----------------------------------------------------


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_answer_any_host(api_client, monkeypatch, no_broker_checks, path):
    monkeypatch.setattr(health, "CHECKS", {"noop": lambda: None})

    response = api_client.get(path, HTTP_HOST="10.1.2.3:8000")

    assert response.status_code == 200
    assert api_client.get("/api/v1/items/1/", HTTP_HOST="10.1.2.3:8000").status_code == 400


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_are_not_redirected_to_https(
    api_client, settings, monkeypatch, no_broker_checks, path
):
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
