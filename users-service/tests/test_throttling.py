"""Rate limits of the credential endpoints (chassis.throttling.ScopedRateThrottle)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.core.exceptions import ImproperlyConfigured
from rest_framework.test import APIClient

from tests.conftest import HTTPS, bearer, issue_tokens
from tests.factories import PASSWORD, UserFactory
from tests.utils import assert_problem
from users.models import User

TOKEN = "/api/v1/auth/token"
REGISTER = "/api/v1/auth/register"
REFRESH = "/api/v1/auth/token/refresh"
PASSWORD_URL = "/api/v1/users/me/password"

pytestmark = pytest.mark.django_db


@pytest.fixture
def rates(settings) -> Callable[..., None]:
    """``rates(login="3/min")``: lower the given scopes for this test."""

    def set_rates(**scopes: str) -> None:
        conf = settings.REST_FRAMEWORK
        settings.REST_FRAMEWORK = {
            **conf,
            "DEFAULT_THROTTLE_RATES": {**conf["DEFAULT_THROTTLE_RATES"], **scopes},
        }

    return set_rates


def assert_throttled(response) -> None:
    body = assert_problem(response, 429, "throttled", errors=[])
    assert body["title"] == "Too many requests."
    wait = int(response["Retry-After"])
    assert 1 <= wait <= 60
    assert body["detail"] == f"Request was throttled. Expected available in {wait} seconds."


def test_fourth_login_attempt_in_a_minute_is_429(rates, user: User):
    rates(login="3/min")
    client = APIClient(**HTTPS)
    attempts = [{"email": user.email, "password": "wrong-guess-1"}] * 3

    statuses = [client.post(TOKEN, data).status_code for data in attempts]
    fourth = client.post(TOKEN, {"email": user.email, "password": PASSWORD})

    assert statuses == [401, 401, 401]
    assert_throttled(fourth)


def test_fourth_registration_in_a_minute_is_429(rates):
    rates(register="3/min")
    client = APIClient(**HTTPS)

    statuses = [
        client.post(REGISTER, {"email": f"u{i}@example.com", "password": PASSWORD}).status_code
        for i in range(3)
    ]
    fourth = client.post(REGISTER, {"email": "u4@example.com", "password": PASSWORD})

    assert statuses == [201, 201, 201]
    assert_throttled(fourth)
    assert User.objects.count() == 3


def test_refresh_is_throttled(rates, user: User):
    rates(refresh="2/min")
    client = APIClient(**HTTPS)
    refresh = issue_tokens(user).refresh

    first = client.post(REFRESH, {"refresh": refresh})
    second = client.post(REFRESH, {"refresh": first.json()["refresh"]})
    third = client.post(REFRESH, {"refresh": second.json()["refresh"]})

    assert (first.status_code, second.status_code) == (200, 200)
    assert_throttled(third)


def test_password_change_is_throttled_per_account(rates, user: User):
    rates(password="2/min")
    client = bearer(issue_tokens(user).access)
    wrong = {"current_password": "not-it-at-all", "new_password": "a-New-secret-99"}

    statuses = [client.post(PASSWORD_URL, wrong).status_code for _ in range(2)]
    third = client.post(PASSWORD_URL, wrong)
    other = bearer(issue_tokens(UserFactory()).access).post(PASSWORD_URL, wrong)

    assert statuses == [400, 400]
    assert_throttled(third)
    assert other.status_code == 400  # same IP, another account: its own budget


def test_scopes_are_counted_separately(rates, user: User):
    rates(login="1/min", register="1/min")
    client = APIClient(**HTTPS)

    assert client.post(TOKEN, {"email": user.email, "password": PASSWORD}).status_code == 200
    assert (
        client.post(REGISTER, {"email": "b@example.com", "password": PASSWORD}).status_code == 201
    )
    assert_throttled(client.post(TOKEN, {"email": user.email, "password": PASSWORD}))


def test_another_client_address_has_its_own_budget(rates, user: User):
    rates(login="1/min")
    data = {"email": user.email, "password": PASSWORD}

    assert APIClient(REMOTE_ADDR="10.0.0.1", **HTTPS).post(TOKEN, data).status_code == 200
    assert_throttled(APIClient(REMOTE_ADDR="10.0.0.1", **HTTPS).post(TOKEN, data))
    assert APIClient(REMOTE_ADDR="10.0.0.2", **HTTPS).post(TOKEN, data).status_code == 200


def test_a_client_cannot_pick_its_throttle_key_with_x_forwarded_for(rates, user: User):
    """NUM_PROXIES=0 (no proxy in front): X-Forwarded-For is the client's word, ignored."""
    rates(login="3/min")
    client = APIClient(**HTTPS)
    data = {"email": user.email, "password": "wrong-guess-1"}

    for n in range(3):
        client.post(TOKEN, data, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")

    assert_throttled(client.post(TOKEN, data, HTTP_X_FORWARDED_FOR="203.0.113.99"))


def test_behind_one_proxy_the_address_it_saw_is_the_key(rates, settings, user: User):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    rates(login="1/min")
    data = {"email": user.email, "password": PASSWORD}
    client = APIClient(REMOTE_ADDR="10.0.0.254", **HTTPS)  # the gateway

    first = client.post(TOKEN, data, HTTP_X_FORWARDED_FOR="spoofed-1, 198.51.100.7")
    second = client.post(TOKEN, data, HTTP_X_FORWARDED_FOR="spoofed-2, 198.51.100.7")
    third = client.post(TOKEN, data, HTTP_X_FORWARDED_FOR="198.51.100.8")

    assert first.status_code == 200
    assert_throttled(second)
    assert third.status_code == 200


def test_jwks_is_not_throttled(rates):
    rates(login="1/min", register="1/min", refresh="1/min", password="1/min")
    client = APIClient(**HTTPS)

    assert {client.get("/.well-known/jwks.json").status_code for _ in range(20)} == {200}


def test_a_throttled_view_whose_scope_has_no_rate_is_a_configuration_error(settings, user):
    """A scope missing from DEFAULT_THROTTLE_RATES fails closed (as DRF's own throttle does):
    a typo in a scope name must not silently remove the brute-force limit of an endpoint."""
    rates = dict(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"])
    del rates["login"]
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    client = APIClient(**HTTPS)

    try:
        response = client.post(TOKEN, {"email": user.email, "password": PASSWORD})
    except ImproperlyConfigured:
        return  # fails closed: what DRF's ScopedRateThrottle does
    raise AssertionError(f"the endpoint answered {response.status_code}, unthrottled")
