"""The shop's limits on placing orders, so that no account can hold the inventory.

Per order: ``ORDERS_MAX_LINES`` lines and ``ORDERS_MAX_UNITS_PER_LINE`` units of a product.
Per account: ``ORDERS_MAX_OPEN_PER_ACCOUNT`` open orders and, per currency, an open value of
``ORDERS_MAX_OPEN_VALUE_PER_ACCOUNT`` (amounts are never converted between currencies, as
orders keep theirs). Open = PENDING or CONFIRMED: stock is reserved or being reserved, and the
order is not yet shipped, cancelled or rejected. Orders per minute per account: the
``order-place`` throttle (``THROTTLE_ORDER_PLACE``, orders.apis).

Each refusal is a 422 whose problem type names the limit (``limit-lines-per-order``,
``limit-units-per-line``, ``limit-open-orders``, ``limit-open-value``) and writes nothing.

Race: the account's limits are checked under a lock of the account taken in the placing
transaction (``orders.accounts.account_lock``: the account's row, ``SELECT ... FOR UPDATE``,
the same lock its deactivation takes), so two concurrent orders of one account queue up and the
second one sees the first; a lost race is a refusal, never a limit exceeded.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Protocol

from chassis.errors import DomainError
from django.conf import settings
from django.db.models import Count, Q, Sum
from rest_framework import status as http

from orders.models import OPEN_STATUSES, Order


class LimitExceeded(DomainError):
    status = http.HTTP_422_UNPROCESSABLE_ENTITY
    title = "The order exceeds a limit of the shop."

    def __init__(self, detail: str, *, fields: Sequence[str | None] = (None,)) -> None:
        errors = [{"field": name, "code": self.code, "message": detail} for name in fields]
        super().__init__(detail, errors=errors)


class LinesPerOrderLimit(LimitExceeded):
    code = "limit-lines-per-order"


class UnitsPerLineLimit(LimitExceeded):
    code = "limit-units-per-line"


class OpenOrdersLimit(LimitExceeded):
    code = "limit-open-orders"


class OpenValueLimit(LimitExceeded):
    code = "limit-open-value"


class Line(Protocol):
    @property
    def quantity(self) -> int: ...


def order_size_check(*, lines: Sequence[Line]) -> None:
    """Refuse an order of more lines, or more units in a line, than the shop allows.

    Raises LinesPerOrderLimit, UnitsPerLineLimit (naming every line over the limit)."""
    if len(lines) > settings.ORDERS_MAX_LINES:
        raise LinesPerOrderLimit(
            f"At most {settings.ORDERS_MAX_LINES} lines per order.", fields=["lines"]
        )
    most = settings.ORDERS_MAX_UNITS_PER_LINE
    over = [f"lines.{i}.quantity" for i, line in enumerate(lines) if line.quantity > most]
    if over:
        raise UnitsPerLineLimit(
            f"At most {settings.ORDERS_MAX_UNITS_PER_LINE} units of a product per order.",
            fields=over,
        )


def account_limits_check(*, user_id: str, currency: str, total: Decimal) -> None:
    """Refuse one more open order of ``total`` in ``currency`` when the account is at its
    limits. The caller holds ``orders.accounts.account_lock``.

    Raises OpenOrdersLimit, OpenValueLimit."""
    open_orders = Order.objects.filter(user_id=user_id, status__in=OPEN_STATUSES)
    held: dict[str, Any] = open_orders.aggregate(
        count=Count("id"), value=Sum("total", filter=Q(currency=currency))
    )
    if held["count"] >= settings.ORDERS_MAX_OPEN_PER_ACCOUNT:
        raise OpenOrdersLimit(
            f"At most {settings.ORDERS_MAX_OPEN_PER_ACCOUNT} open orders per account: wait "
            "until one is shipped, or cancel one."
        )
    limit = open_value_limit(currency)
    if (held["value"] or Decimal(0)) + total > limit:
        raise OpenValueLimit(
            f"At most {limit} {currency} in open orders per account: wait until one is "
            "shipped, or cancel one."
        )


def open_value_limit(currency: str) -> Decimal:
    """The open value an account may hold in ``currency`` (its own entry, else ``*``)."""
    limits: dict[str, Decimal] = settings.ORDERS_MAX_OPEN_VALUE_PER_ACCOUNT
    return limits.get(currency, limits["*"])
