"""Placing an order needs a verified address (the token's ``email_verified`` claim)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from chassis.pytest_plugin import USER_ID
from chassis.testing import DROP, bearer

from orders.models import Product
from tests.test_accounts import place
from tests.utils import assert_problem, row_counts

pytestmark = pytest.mark.django_db

DETAIL = "Verify your email address (the link users-service mailed you) to place orders."


@pytest.mark.parametrize("claim", [False, DROP, "true", 1], ids=["false", "absent", "str", "int"])
def test_an_unverified_address_places_no_order(token: Callable[..., str], lamp: Product, claim):
    client = bearer(token(sub=USER_ID, email="buyer@example.com", email_verified=claim))
    before = row_counts()

    response = place(client, lamp)

    assert_problem(response, 403, "email-not-verified", detail=DETAIL)
    assert row_counts() == before


def test_a_verified_address_orders(token: Callable[..., str], lamp: Product):
    client = bearer(token(sub=USER_ID, email="buyer@example.com", email_verified=True))

    assert place(client, lamp).status_code == 201


def test_the_check_can_be_turned_off_for_local_demos(
    token: Callable[..., str], lamp: Product, settings
):
    settings.ORDERS_REQUIRE_VERIFIED_EMAIL = False
    client = bearer(token(sub=USER_ID, email="buyer@example.com", email_verified=False))

    assert place(client, lamp).status_code == 201


def test_production_settings_require_it():
    from config import settings as production

    assert production.ORDERS_REQUIRE_VERIFIED_EMAIL is True
