"""The buyer's emails about their order: one per status change, keyed by the status.

A status with a template pair ``orders/emails/<status>.txt`` + ``.html`` (and a subject in
:data:`SUBJECTS`) is mailed: CONFIRMED, REJECTED (with catalog's reasons), CANCELLED, SHIPPED.
A new status slots in with its subject and its two templates.

Exactly once per change: :func:`order_email_record` writes an :class:`OrderEmail` row in the
transaction that changes the status (orders.services.order_transition), unique per order and
status, so a redelivered event (skipped whole by the inbox) or a replayed change adds none; the
worker is asked to send it only after commit (``on_commit``), and a periodic sweep sends any
row the broker lost. :func:`order_email_send` sends under a lock of the row and records
``sent_at`` in the same transaction: at least once towards the mail server (a crash between
its acceptance and the commit sends again: no mail server takes part in our transaction),
once as far as the database can tell.

Erased accounts (user.erased) get nothing: their orders carry a placeholder address.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from chassis.db import insert_or_skip
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from orders.models import Order, OrderEmail, Status

SUBJECTS = {
    Status.CONFIRMED: "Your order is confirmed",
    Status.REJECTED: "Your order could not be accepted",
    Status.CANCELLED: "Your order is cancelled",
    Status.SHIPPED: "Your order has shipped",
}
REASONS = {
    "insufficient-stock": "not enough in stock",
    "unknown-product": "no longer sold",
    "inactive-product": "not available at the moment",
    "currency-mismatch": "priced in another currency",
    "order-cancelled": "the order was cancelled",
}
UNMAILABLE_DOMAIN = ".invalid"  # placeholders (orders/accounts.py) are never mailed
SWEEP_AFTER = timedelta(minutes=2)


def order_email_record(*, order: Order) -> int | None:
    """Record the email about ``order``'s new status (in the caller's transaction) and ask
    the worker to send it after commit; returns its id. None for a status that mails nothing
    or an email recorded before (nothing is queued again). One statement
    (chassis.db.insert_or_skip): it runs in every saga step that changes a status."""
    if order.status not in SUBJECTS:
        return None
    email_id = insert_or_skip(OrderEmail, key=["order", "status"], order=order, status=order.status)
    if email_id is None:  # recorded before: that change's email is on its way already
        return None
    from orders.tasks import order_email_enqueue  # tasks imports this module

    transaction.on_commit(lambda: order_email_enqueue(email_id))
    return email_id


def _context(order: Order) -> dict[str, Any]:
    lines = list(order.lines.all())  # one query for both templates and the reasons' names
    names: dict[Any, str] = {line.product_id: line.name for line in lines}
    texts: dict[Any, str] = REASONS
    reasons = [
        {
            "name": names.get(r.get("product_id"), f"product {r.get('product_id')}"),
            "text": texts.get(r.get("code"), r.get("code")),
            "requested": r.get("requested"),
            "available": r.get("available"),
        }
        for r in order.rejection_reasons or []
        if isinstance(r, dict)
    ]
    return {"order": order, "lines": lines, "reasons": reasons}


@transaction.atomic
def order_email_send(*, email_id: int) -> bool:
    """Send the recorded email ``email_id`` unless it was sent; True when sent now. Nothing
    goes to an order without an address or with an erased buyer's placeholder (recorded as
    handled). Raises SMTPException / OSError when the mail server fails (nothing recorded:
    the task retries)."""
    email = (
        OrderEmail.objects.select_for_update(of=("self",))
        .select_related("order")
        .filter(pk=email_id, sent_at__isnull=True)
        .first()
    )
    if email is None:
        return False
    order = email.order
    mailable = bool(order.user_email) and not order.user_email.endswith(UNMAILABLE_DOMAIN)
    if mailable:
        context = _context(order)
        name = f"orders/emails/{email.status.lower()}"
        message = EmailMultiAlternatives(
            SUBJECTS[Status(email.status)],
            render_to_string(f"{name}.txt", context),
            to=[order.user_email],
        )
        message.attach_alternative(render_to_string(f"{name}.html", context), "text/html")
        message.send()
    email.sent_at = timezone.now()
    email.save(update_fields=["sent_at"])
    return mailable


def order_emails_pending() -> list[int]:
    """Ids of recorded emails still unsent a while after their change (the broker lost the
    request to send them): the periodic sweep queues them again."""
    cutoff = timezone.now() - SWEEP_AFTER
    return list(
        OrderEmail.objects.filter(sent_at__isnull=True, created_at__lt=cutoff)
        .order_by("created_at")
        .values_list("pk", flat=True)[:500]
    )
