import json
import logging

import pytest
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from rest_framework.test import APIClient

from chassis.testing import chassis_with
from tests.utils import PROBE_KEY, THROTTLED


@pytest.fixture
def rates(settings):
    def set_rates(**rates: str) -> None:
        settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}

    return set_rates


def test_rate_changed_at_runtime_applies(api_client, rates):
    rates(probe="2/min")

    statuses = [api_client.get(THROTTLED).status_code for _ in range(3)]
    response = api_client.get(THROTTLED)

    assert statuses == [200, 200, 429]
    assert response.status_code == 429
    assert response["Content-Type"] == "application/problem+json"
    assert response["Retry-After"] == "60"
    assert response.json() == {
        "type": "urn:problem-type:throttled",
        "title": "Too many requests.",
        "status": 429,
        "detail": "Request was throttled. Expected available in 60 seconds.",
        "errors": [],
        "correlation_id": response["X-Request-ID"],
    }

    rates(probe="3/min")
    assert [api_client.get(THROTTLED).status_code for _ in range(2)] == [200, 429]


def test_scope_without_a_rate_is_a_configuration_error(api_client, rates):
    """Fail closed: a scope with no rate (a typo, a dropped setting) must not go unthrottled."""
    rates(other="1/min")

    with pytest.raises(ImproperlyConfigured, match="No default throttle rate set for 'probe'"):
        api_client.get(THROTTLED)


def test_clients_cannot_pick_their_own_throttle_key(api_client, rates):
    rates(probe="1/min")

    first = api_client.get(THROTTLED, HTTP_X_FORWARDED_FOR="198.51.100.1")
    second = api_client.get(THROTTLED, HTTP_X_FORWARDED_FOR="198.51.100.2")

    assert (first.status_code, second.status_code) == (200, 429)


def test_clients_behind_the_gateway_are_told_apart(api_client, rates, settings):
    """The test client's address (127.0.0.1) is a trusted proxy: the gateway."""
    settings.CHASSIS = chassis_with(TRUSTED_PROXIES=["127.0.0.1/32"])
    rates(probe="1/min")

    ada = [api_client.get(THROTTLED, HTTP_X_FORWARDED_FOR="198.51.100.1") for _ in range(2)]
    bob = api_client.get(THROTTLED, HTTP_X_FORWARDED_FOR="203.0.113.9, 198.51.100.2")

    assert [r.status_code for r in ada] == [200, 429]
    assert bob.status_code == 200


@pytest.mark.parametrize("planted", [b'"text"', b"5", b'{"a":1}', b'["x"]', b"[null]", b"null"])
def test_a_history_planted_in_redis_is_read_as_none(shared_redis_cache, planted, caplog):
    """Attack: a value that decodes (JSON) but is no throttle history, planted in the shared
    Redis under the key the throttle reads: the request is answered (not a 500) and counted
    afresh."""
    client = APIClient(raise_request_exception=False)  # answer as a deployment does
    caplog.set_level(logging.WARNING, logger="chassis.throttling")
    stored_as = cache.make_and_validate_key(PROBE_KEY)
    shared_redis_cache.set(stored_as, planted, ex=300)

    response = client.get(THROTTLED)

    assert response.status_code == 200
    assert response.json() == {"ok": True}
    assert len(json.loads(shared_redis_cache.get(stored_as))) == 1
    assert [(r.getMessage(), r.key) for r in caplog.records] == [
        ("throttle.history_refused", stored_as)
    ]
