"""The admin login form: throttled per client address and per account, saying so."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import RequestFactory

from chassis.admin import LoginForm
from chassis.testing import chassis_with

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():
    for name in ("ada", "bob"):
        get_user_model().objects.create_user(name, "", f"{name}-password", is_staff=True)


@pytest.fixture(autouse=True)
def rates(settings):
    rates = {"login": "3/min", "login-account": "3/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    settings.CHASSIS = chassis_with(TRUSTED_PROXIES=["10.0.0.0/24"])


def attempt(username: str, password: str, *, client: str) -> LoginForm:
    """A login through the gateway (10.0.0.254) from ``client``."""
    request = RequestFactory().post(
        "/admin/login/", REMOTE_ADDR="10.0.0.254", HTTP_X_FORWARDED_FOR=client
    )
    form = LoginForm(request, data={"username": username, "password": password})
    form.is_valid()
    return form


def messages(form: LoginForm) -> list[str]:
    return form.errors.get("__all__", [])


def assert_throttled(form: LoginForm) -> None:
    """Refused for the throttle, with the wait in whole seconds (checking each password takes
    a while, so the minute's window has run on by a second or more)."""
    [message] = messages(form)
    wait = re.fullmatch(r"Too many attempts, try again in (\d+) s\.", message)
    assert wait is not None, message
    assert 1 <= int(wait[1]) <= 60
    assert form.non_field_errors().as_data()[0].code == "throttled"


def test_guesses_from_one_address_are_refused_with_the_wait(staff):
    [attempt("ada", "guess", client="198.51.100.7") for _ in range(3)]

    fourth = attempt("bob", "bob-password", client="198.51.100.7")

    assert_throttled(fourth)


def test_guesses_from_one_address_do_not_lock_out_staff_elsewhere(staff):
    [attempt("ada", "guess", client="198.51.100.7") for _ in range(3)]

    bob = attempt("bob", "bob-password", client="203.0.113.9")

    assert (bob.is_valid(), bob.get_user().username) == (True, "bob")


def test_guesses_at_one_account_from_many_addresses_are_refused(staff):
    wrong = [attempt("ada", "guess", client=f"198.51.100.{n}") for n in range(3)]

    fourth = attempt("ADA", "ada-password", client="198.51.100.99")  # caseless: one account

    assert [form.non_field_errors().as_data()[0].code for form in wrong] == ["invalid_login"] * 3
    assert_throttled(fourth)
