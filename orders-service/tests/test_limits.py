"""orders.limits: lines per order, units per line, open orders and open value per account;
each refusal a 422 naming the limit that writes nothing. (Orders per minute per account, the
``order-place`` throttle: test_apis_place.py.)"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from chassis.pytest_plugin import STAFF_ID, USER_ID, bearer
from django.core.exceptions import ImproperlyConfigured
from rest_framework.test import APIClient

from config.settings import _amounts_by_currency
from orders.models import Order, Product, Status
from tests.factories import OrderFactory, ProductFactory
from tests.utils import ORDERS, assert_problem, in_threads, row_counts

pytestmark = pytest.mark.django_db

TITLE = "The order exceeds a limit of the shop."


def place(client: APIClient, *pairs: tuple[Product, int]) -> Any:
    body = {"lines": [{"product_id": p.pk, "quantity": qty} for p, qty in pairs]}
    return client.post(ORDERS, body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))


@pytest.fixture
def products() -> list[Product]:
    """The fifty most expensive products of the shop."""
    return [ProductFactory(price=Decimal("900.00") + n) for n in range(50)]


@pytest.fixture
def written():
    """Rows before the request: a refusal must leave them as they were."""
    return row_counts()


# --- the attack: one new account reserves the whole inventory -------------------------------


def test_one_order_cannot_take_the_stock_of_the_fifty_most_expensive_products(
    user_client: APIClient, products: list[Product], written: dict[str, int]
):
    response = place(user_client, *[(product, 1000) for product in products])

    assert_problem(
        response,
        422,
        "limit-lines-per-order",
        title=TITLE,
        detail="At most 20 lines per order.",
        errors=[
            {
                "field": "lines",
                "code": "limit-lines-per-order",
                "message": "At most 20 lines per order.",
            }
        ],
    )
    assert row_counts() == written


def test_an_account_cannot_take_the_inventory_in_many_orders(
    user_client: APIClient, products: list[Product]
):
    answers = [place(user_client, (product, 1)) for product in products[:12]]

    assert [a.status_code for a in answers] == [201] * 10 + [422] * 2
    assert_problem(answers[-1], 422, "limit-open-orders", title=TITLE)
    assert Order.objects.filter(user_id=USER_ID).count() == 10


# --- per order -----------------------------------------------------------------------------


def test_units_per_line_over_the_limit_name_each_line(
    user_client: APIClient, products: list[Product], written: dict[str, int]
):
    response = place(user_client, (products[0], 101), (products[1], 100), (products[2], 5000))

    message = "At most 100 units of a product per order."
    assert_problem(
        response,
        422,
        "limit-units-per-line",
        title=TITLE,
        detail=message,
        errors=[
            {"field": "lines.0.quantity", "code": "limit-units-per-line", "message": message},
            {"field": "lines.2.quantity", "code": "limit-units-per-line", "message": message},
        ],
    )
    assert row_counts() == written


def test_an_order_at_the_limits_is_placed(
    settings: Any, user_client: APIClient, products: list[Product]
):
    settings.ORDERS_MAX_OPEN_VALUE_PER_ACCOUNT = {"*": Decimal("10000000")}

    response = place(user_client, *[(product, 100) for product in products[:20]])

    assert response.status_code == 201, response.content
    assert len(response.json()["lines"]) == 20


def test_the_limits_are_read_per_request(
    settings: Any, user_client: APIClient, products: list[Product]
):
    settings.ORDERS_MAX_LINES, settings.ORDERS_MAX_UNITS_PER_LINE = 2, 3

    three_lines = place(user_client, *[(product, 1) for product in products[:3]])
    assert_problem(three_lines, 422, "limit-lines-per-order")
    assert_problem(place(user_client, (products[0], 4)), 422, "limit-units-per-line")
    assert place(user_client, (products[0], 3), (products[1], 3)).status_code == 201


# --- per account ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [Status.PENDING, Status.CONFIRMED])
def test_open_orders_count_against_the_limit(
    settings: Any, user_client: APIClient, products: list[Product], status: str
):
    settings.ORDERS_MAX_OPEN_PER_ACCOUNT = 3
    OrderFactory.create_batch(3, user_id=USER_ID, status=status)
    written = row_counts()

    response = place(user_client, (products[0], 1))

    detail = "At most 3 open orders per account: wait until one is shipped, or cancel one."
    assert_problem(
        response,
        422,
        "limit-open-orders",
        title=TITLE,
        detail=detail,
        errors=[{"field": None, "code": "limit-open-orders", "message": detail}],
    )
    assert row_counts() == written


def test_closed_orders_and_other_accounts_orders_do_not_count(
    settings: Any, user_client: APIClient, products: list[Product]
):
    settings.ORDERS_MAX_OPEN_PER_ACCOUNT = 1
    for status in (Status.SHIPPED, Status.CANCELLED, Status.REJECTED):
        OrderFactory(user_id=USER_ID, status=status, total=Decimal("99999"))
    OrderFactory(user_id=STAFF_ID, status=Status.PENDING, total=Decimal("99999"))

    assert place(user_client, (products[0], 1)).status_code == 201
    assert_problem(place(user_client, (products[0], 1)), 422, "limit-open-orders")


def test_open_value_is_limited_per_currency(
    settings: Any, user_client: APIClient, products: list[Product]
):
    settings.ORDERS_MAX_OPEN_VALUE_PER_ACCOUNT = {"USD": Decimal("500"), "*": Decimal("10000")}
    OrderFactory(user_id=USER_ID, status=Status.CONFIRMED, total=Decimal("9000.00"))
    OrderFactory(user_id=USER_ID, currency="USD", total=Decimal("450.00"))
    dollar = ProductFactory(price=Decimal("50.00"), currency="USD")
    written = row_counts()

    over = place(user_client, (products[0], 2))  # 9000 + 2 x 900 EUR

    detail = (
        "At most 10000 EUR in open orders per account: wait until one is shipped, or cancel one."
    )
    assert_problem(
        over,
        422,
        "limit-open-value",
        title=TITLE,
        detail=detail,
        errors=[{"field": None, "code": "limit-open-value", "message": detail}],
    )
    assert row_counts() == written
    assert place(user_client, (products[0], 1)).status_code == 201  # 9900 EUR: within
    assert place(user_client, (dollar, 1)).status_code == 201  # 500 USD: within
    usd = place(user_client, (dollar, 1))
    assert_problem(usd, 422, "limit-open-value", detail=detail.replace("10000 EUR", "500 USD"))


# --- the race: concurrent orders of one account ---------------------------------------------


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("limits", "code"),
    [
        ({"ORDERS_MAX_OPEN_PER_ACCOUNT": 2}, "limit-open-orders"),
        ({"ORDERS_MAX_OPEN_VALUE_PER_ACCOUNT": {"*": Decimal("1900")}}, "limit-open-value"),
    ],
    ids=["open-orders", "open-value"],
)
def test_concurrent_orders_of_one_account_do_not_pass_the_limit_together(
    settings: Any, token: Callable[..., str], limits: dict[str, Any], code: str
):
    for name, value in limits.items():
        setattr(settings, name, value)
    product = ProductFactory(price=Decimal("900.00"))
    access = token(sub=USER_ID, email="buyer@example.com")

    def attempt() -> Any:
        return place(bearer(access), (product, 1))

    answers = in_threads(*[attempt] * 8)

    assert not any(isinstance(a, Exception) for a in answers), answers
    assert Counter(a.status_code for a in answers) == {201: 2, 422: 6}
    for refused in (a for a in answers if a.status_code == 422):
        assert_problem(refused, 422, code)
    assert Order.objects.filter(user_id=USER_ID).count() == 2


# --- configuration -------------------------------------------------------------------------


def test_open_value_limits_are_read_per_currency():
    assert _amounts_by_currency("X", " EUR=5000, USD=6000.50 ,*=10000") == {
        "EUR": Decimal("5000"),
        "USD": Decimal("6000.50"),
        "*": Decimal("10000"),
    }


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("EUR=5000", "X needs a '*=amount' entry (any other currency)"),
        ("eur=5,*=1", "X: 'eur=5' is not CUR=amount (or *=amount)"),
        ("*=-1", "X: '*=-1' is not CUR=amount (or *=amount)"),
        ("*=1.234", "X: '*=1.234' is not CUR=amount (or *=amount)"),
        ("*", "X: '*' is not CUR=amount (or *=amount)"),
    ],
)
def test_malformed_open_value_limits_stop_the_start(value: str, message: str):
    with pytest.raises(ImproperlyConfigured) as raised:
        _amounts_by_currency("X", value)

    assert str(raised.value) == message
