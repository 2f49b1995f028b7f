"""Rate limits of the credential endpoints (chassis.throttling.ScopedRateThrottle)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from chassis.testing import chassis_with
from django.core.exceptions import ImproperlyConfigured
from rest_framework.test import APIClient

from tests.conftest import HTTPS, bearer, issue_tokens
from tests.factories import PASSWORD, UserFactory
from tests.utils import assert_problem
from users.models import User

TOKEN = "/api/v1/auth/token"
PRODUCTION_LOGIN_RATES = {"login": "10/min", "login-account": "10/min"}
GATEWAY = "10.0.0.254"
CATALOG = "10.0.1.5"  # catalog-service, calling users-service for its admin's sign-in
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


@pytest.fixture
def trust(settings) -> None:
    """The gateway's and the services' network is trusted (TRUSTED_PROXIES)."""
    settings.CHASSIS = chassis_with(TRUSTED_PROXIES=["10.0.0.0/16"])


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
    """Nothing trusted (no proxy in front): X-Forwarded-For is the client's word, ignored."""
    rates(login="3/min")
    client = APIClient(**HTTPS)
    data = {"email": user.email, "password": "wrong-guess-1"}

    for n in range(3):
        client.post(TOKEN, data, HTTP_X_FORWARDED_FOR=f"203.0.113.{n}")

    assert_throttled(client.post(TOKEN, data, HTTP_X_FORWARDED_FOR="203.0.113.99"))


def test_behind_a_trusted_proxy_the_address_it_saw_is_the_key(rates, trust, user: User):
    rates(login="1/min")
    data = {"email": user.email, "password": PASSWORD}
    client = APIClient(REMOTE_ADDR=GATEWAY, **HTTPS)

    first = client.post(TOKEN, data, HTTP_X_FORWARDED_FOR="spoofed-1, 198.51.100.7")
    second = client.post(TOKEN, data, HTTP_X_FORWARDED_FOR="198.51.100.8, 198.51.100.7")
    third = client.post(TOKEN, data, HTTP_X_FORWARDED_FOR="198.51.100.8")

    assert first.status_code == 200
    assert_throttled(second)
    assert third.status_code == 200


def test_an_untrusted_caller_cannot_name_the_client(rates, trust, user: User):
    rates(login="1/min")
    data = {"email": user.email, "password": PASSWORD}
    client = APIClient(REMOTE_ADDR="203.0.113.9", **HTTPS)  # around the gateway

    assert client.post(TOKEN, data, HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 200
    assert_throttled(client.post(TOKEN, data, HTTP_X_FORWARDED_FOR="198.51.100.2"))


# --- staff sign-in through another service's admin (chassis.sso) ----------------------------


def sso_login(email: str, password: str, *, staff_address: str):
    """What catalog's admin sends when a staff member signs in there: its own call, naming
    the staff member's real address in X-Forwarded-For."""
    client = APIClient(REMOTE_ADDR=CATALOG, **HTTPS)
    data = {"email": email, "password": password}
    return client.post(TOKEN, data, HTTP_X_FORWARDED_FOR=staff_address)


def test_one_addresses_guesses_do_not_lock_other_staff_out_of_the_admins(rates, trust, staff, user):
    """Attack: ten wrong passwords a minute, from one address, for one account, refused every
    staff member's admin sign-in (one bucket: the address of the service calling)."""
    rates(**PRODUCTION_LOGIN_RATES)
    guesses = [
        sso_login(user.email, f"wrong-guess-{n}", staff_address="198.51.100.7").status_code
        for n in range(10)
    ]

    other = sso_login(staff.email, PASSWORD, staff_address="203.0.113.9")

    assert guesses == [401] * 10
    assert other.status_code == 200


def test_guessing_one_account_from_many_addresses_is_throttled(rates, trust, user: User):
    """The per-account limit (10/min): the eleventh attempt at one account is refused
    whatever address it comes from, the right password included."""
    rates(**PRODUCTION_LOGIN_RATES)
    guesses = [
        sso_login(user.email, "wrong-guess", staff_address=f"198.51.100.{n}").status_code
        for n in range(10)
    ]

    eleventh = sso_login(user.email.upper(), PASSWORD, staff_address="203.0.113.77")

    assert guesses == [401] * 10
    assert_throttled(eleventh)


def test_the_account_limit_counts_per_account(rates, trust, user: User, staff):
    rates(**{"login-account": "1/min"})

    first = sso_login(user.email, PASSWORD, staff_address="198.51.100.1")
    again = sso_login(user.email, PASSWORD, staff_address="198.51.100.2")
    other = sso_login(staff.email, PASSWORD, staff_address="198.51.100.3")

    assert (first.status_code, other.status_code) == (200, 200)
    assert_throttled(again)


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
