"""The read model of users-service accounts: a deactivated account orders nothing more.

users-service deactivates an account at once, but its access token stays valid until it
expires (minutes): orders learns of the deactivation from ``user.deactivated`` and, from
then on, refuses the account's orders (:class:`AccountDeactivated`, 403). An order placed in
the window before the event arrived is cancelled by the handler, which cancels every open
order of the account at handling time.

Invariant: no open order of a deactivated account survives its deactivation event. Lock
order: placing an order and applying an account event both lock the account's row first
(:func:`account_lock`: created when missing, then ``SELECT ... FOR UPDATE``), so they
serialise. A placement that commits first is seen by the handler, which cancels its order;
a placement that waits for a handler reads the new status once the lock is granted and is
refused. Nothing else is locked before that row.

Events may arrive out of order: each carries ``occurred_at`` (users-service's clock), and a
change older than the one held does not override it. A late deactivation still cancels the
orders placed between it and the newer reactivation (by orders' clock: ``created_at``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chassis.errors import DomainError
from django.conf import settings
from django.db import transaction
from rest_framework import status as http

from orders.models import OPEN_STATUSES, Account, Order

__all__ = [
    "AccountDeactivated",
    "EmailNotVerified",
    "account_check_active",
    "account_check_verified",
    "account_erasure_apply",
    "account_lock",
    "account_status_apply",
]

DEACTIVATED_REASON = "The account was deactivated."
ERASED_REASON = "The account was erased."
ERASED_EMAIL = "erased@erased.invalid"  # what an erased buyer's orders say (never mailed)


class AccountDeactivated(DomainError):
    status = http.HTTP_403_FORBIDDEN
    code = "account-deactivated"
    title = "The account is deactivated."


class EmailNotVerified(DomainError):
    status = http.HTTP_403_FORBIDDEN
    code = "email-not-verified"
    title = "The account's email address is not verified."


def account_check_verified(*, claims: dict[str, Any]) -> None:
    """Raise EmailNotVerified unless the access token says the address is verified (its
    ``email_verified`` claim, set by users-service) or ORDERS_REQUIRE_VERIFIED_EMAIL is off."""
    if settings.ORDERS_REQUIRE_VERIFIED_EMAIL and claims.get("email_verified") is not True:
        raise EmailNotVerified(
            "Verify your email address (the link users-service mailed you) to place orders."
        )


def account_lock(*, user_id: str) -> Account:
    """The account's row, created (active) when missing, locked until the caller's
    transaction ends. Call inside a transaction. A known account costs one statement; a new
    one is inserted (a concurrent insert of the same id is ignored) and then locked."""
    account = Account.objects.select_for_update().filter(user_id=user_id).first()
    if account is not None:
        return account
    Account.objects.bulk_create([Account(user_id=user_id)], ignore_conflicts=True)
    return Account.objects.select_for_update().get(user_id=user_id)


def account_check_active(*, user_id: str) -> None:
    """Lock the account (held until the caller's transaction ends, see the lock order
    above) and raise AccountDeactivated when orders knows it is deactivated."""
    if not account_lock(user_id=user_id).is_active:
        raise AccountDeactivated("This account was deactivated: it cannot place orders.")


@transaction.atomic
def account_status_apply(*, user_id: str, active: bool, at: datetime) -> int:
    """user.deactivated / user.reactivated that occurred at ``at``: record the status unless
    a newer change is held, and cancel the account's open orders (each emits
    ``order.cancelled``) placed while it was deactivated: all of them for a current
    deactivation, those placed between ``at`` and the newer change for a late one.
    Returns how many orders were cancelled."""
    from orders.services import order_cancel  # services imports this module

    account = account_lock(user_id=user_id)
    newer = account.changed_at is not None and account.changed_at >= at
    if not newer:
        account.is_active, account.changed_at = active, at
        account.save(update_fields=["is_active", "changed_at"])
    if active:
        return 0
    open_orders = Order.objects.filter(user_id=user_id, status__in=OPEN_STATUSES)
    if newer:
        open_orders = open_orders.filter(created_at__gte=at, created_at__lt=account.changed_at)
    ids = list(open_orders.values_list("id", flat=True))
    for order_id in ids:
        order_cancel(order_id=order_id, reason=DEACTIVATED_REASON)
    return len(ids)


@transaction.atomic
def account_erasure_apply(*, user_id: str, at: datetime) -> int:
    """user.erased: the account is gone for good. Its open orders are cancelled (as for a
    deactivation, each emits ``order.cancelled``) and every order of it keeps its lines and
    amounts (the books) but no personal data: the buyer's address becomes
    :data:`ERASED_EMAIL`. Idempotent (a second run finds nothing to change); returns how many
    orders were anonymised."""
    from orders.services import order_cancel  # services imports this module

    account = account_lock(user_id=user_id)
    account.is_active, account.changed_at = False, max(at, account.changed_at or at)
    account.save(update_fields=["is_active", "changed_at"])
    orders = Order.objects.filter(user_id=user_id)
    for order_id in orders.filter(status__in=OPEN_STATUSES).values_list("id", flat=True):
        order_cancel(order_id=order_id, reason=ERASED_REASON)
    return orders.exclude(user_email=ERASED_EMAIL).update(user_email=ERASED_EMAIL)
