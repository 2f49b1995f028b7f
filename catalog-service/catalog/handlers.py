"""Events catalog consumes (``CHASSIS["EVENTS"]["CONSUMES"]``): the order saga's requests.

Each handler runs inside chassis.events.consumer.handle's transaction, with the event's
inbox row: a redelivered event changes nothing, and a failure (a race lost on the
reservation's unique order id, a database hiccup) rolls everything back for the retry.
"""

from __future__ import annotations

from chassis.events.consumer import event_handler
from chassis.events.envelope import Envelope

from catalog.reservations import stock_release_for_order, stock_reserve_for_order


@event_handler("order.placed")
def order_placed_reserve_stock(event: Envelope) -> None:
    """Reserve the stock of every line of the placed order, or none: changes stock, the
    ledger and the order's reservation, and publishes ``stock.reserved`` or
    ``stock.rejected``. Raises KeyError on a payload without the contract's fields (the event
    is retried, then parked)."""
    payload = event.payload
    stock_reserve_for_order(
        order_id=payload["order_id"], lines=payload["lines"], currency=payload["currency"]
    )


@event_handler("order.cancelled")
def order_cancelled_release_stock(event: Envelope) -> None:
    """Release the cancelled order's reservation, once (or leave a tombstone when the order
    has not been seen yet, so its placement reserves nothing). Raises KeyError on a payload
    without ``order_id``."""
    stock_release_for_order(order_id=event.payload["order_id"])
