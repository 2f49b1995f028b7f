"""Event handlers of orders-service, named ``<event>_<reaction>`` (registered with
chassis.events; each runs in the transaction that also records the event in the inbox, so a
redelivery changes nothing). The saga's replies are in orders/saga.py."""

from __future__ import annotations

from chassis.events.consumer import event_handler
from chassis.events.envelope import Envelope

from orders import accounts, saga, services


@event_handler("product.changed")
def product_changed_update_snapshot(event: Envelope) -> None:
    """catalog created or changed a product: update the local read model (newest wins)."""
    services.product_snapshot_apply(payload=event.payload)


@event_handler("stock.reserved")
def stock_reserved_confirm_order(event: Envelope) -> None:
    """catalog reserved every line: the PENDING order adopts its prices and is CONFIRMED."""
    saga.order_confirm(order_id=event.payload["order_id"], lines=event.payload["lines"])


@event_handler("stock.rejected")
def stock_rejected_reject_order(event: Envelope) -> None:
    """catalog could not reserve the order: the PENDING order is REJECTED with the reasons."""
    saga.order_reject(order_id=event.payload["order_id"], reasons=event.payload["reasons"])


@event_handler("user.deactivated")
def user_deactivated_cancel_orders(event: Envelope) -> None:
    """users-service deactivated an account: orders refuses its new orders and cancels its
    open ones (each emits order.cancelled, so catalog releases their stock); a late event
    older than a reactivation cancels only what was placed in between (orders/accounts.py)."""
    accounts.account_status_apply(
        user_id=event.payload["user_id"], active=False, at=event.occurred_at
    )


@event_handler("user.erased")
def user_erased_anonymise_orders(event: Envelope) -> None:
    """users-service erased an account: its open orders are cancelled and its orders keep no
    personal data (the buyer's address becomes a placeholder; orders/accounts.py)."""
    accounts.account_erasure_apply(user_id=event.payload["user_id"], at=event.occurred_at)


@event_handler("user.reactivated")
def user_reactivated_allow_orders(event: Envelope) -> None:
    """users-service reactivated an account: it may order again (unless a newer
    deactivation is held)."""
    accounts.account_status_apply(
        user_id=event.payload["user_id"], active=True, at=event.occurred_at
    )
