"""The buyer's emails about their order: one per status change, keyed by the status.

A status with a template pair ``orders/emails/<status>.txt`` + ``.html`` (and a subject in
:data:`SUBJECTS`) is mailed: CONFIRMED, REJECTED (with catalog's reasons), CANCELLED, SHIPPED.
A new status slots in with its subject and its two templates.

Exactly once per change: :func:`order_email_record` writes an :class:`OrderEmail` row in the
transaction that changes the status (orders.services.order_transition), unique per order and
status, so a redelivered event (skipped whole by the inbox) or a replayed change adds none.

Sent in batches, out of the saga's way: after commit, the change asks the worker for a batch
(:func:`order_emails_enqueue`, at most one queued per process every :data:`BATCH_DELAY`), and
:func:`order_emails_send` takes every unsent email (up to :data:`BATCH` at a time, rows locked
and skipped by a concurrent batch), sends them over one SMTP connection and records their
``sent_at`` in one statement, in the transaction that holds their locks. A periodic sweep asks
for a batch when an email has waited longer than :data:`SWEEP_AFTER` (the broker lost the
request). At least once towards the mail server (a crash between its acceptance and the commit
sends again: no mail server takes part in our transaction), once as far as the database can
tell. A mail server that fails stops the batch (what it took is recorded; the task retries);
an address it refuses, or a template that fails, stops only that email.

Erased accounts (user.erased) get nothing: their orders carry a placeholder address.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from datetime import timedelta
from smtplib import SMTPException, SMTPRecipientsRefused
from typing import Any

from chassis.db import insert_or_skip
from django.core.mail import EmailMultiAlternatives, get_connection
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
BATCH = 50  # emails per batch: one transaction, one SMTP connection
# A batch is queued to run this long after the change that asks for it, so the emails of the
# changes that commit meanwhile go with it: the same process queues no other until then.
BATCH_DELAY = 0.5
# A change that commits less than this before its process's queued batch runs asks for none.
BATCH_MARGIN = 0.1

logger = logging.getLogger(__name__)


def order_email_record(*, order: Order) -> int | None:
    """Record the email about ``order``'s new status (in the caller's transaction) and ask
    the worker to send it after commit; returns its id. None for a status that mails nothing
    or an email recorded before (nothing is queued again). One statement
    (chassis.db.insert_or_skip): it runs in every saga step that changes a status."""
    if order.status not in SUBJECTS:
        return None
    email_id = insert_or_skip(OrderEmail, ["order", "status"], order=order, status=order.status)
    if email_id is None:  # recorded before: that change's email is on its way already
        return None
    transaction.on_commit(order_emails_enqueue)
    return email_id


class _Queued:
    """When the batch this process queued last will run (time.monotonic()); 0: none."""

    lock = threading.Lock()
    runs_at = 0.0


def order_emails_enqueue() -> bool:
    """Ask the worker for a batch, after commit; True when one was queued. None is when this
    process queued one that runs after this moment (:data:`BATCH_MARGIN` ahead): it takes the
    email just committed. Never raises: the change has committed, and the sweep asks again
    while the broker is down."""
    from orders.tasks import order_emails_send_batch  # tasks imports this module

    with _Queued.lock:
        now = time.monotonic()
        if now < _Queued.runs_at - BATCH_MARGIN:
            return False
        try:
            order_emails_send_batch.apply_async(countdown=BATCH_DELAY)
        except Exception:
            logger.exception("orders.emails_not_queued")
            return False
        _Queued.runs_at = now + BATCH_DELAY
        return True


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


def order_emails_send(*, limit: int | None = None) -> tuple[int, int]:
    """Send the unsent emails, oldest first, up to ``limit`` (default :data:`BATCH`; those
    another batch holds are skipped); returns (taken, recorded): how many it took and how many
    it recorded as sent, without sending those of an order with no address or an erased
    buyer's placeholder.
    Raises SMTPException / OSError when the mail server fails, after recording what it took."""
    with transaction.atomic():
        emails = list(
            OrderEmail.objects.select_for_update(of=("self",), skip_locked=True)
            .select_related("order")
            .filter(sent_at__isnull=True)
            .order_by("created_at", "id")[: limit or BATCH]
        )
        if not emails:
            return 0, 0
        done, failure = _send(emails)
        if done:
            OrderEmail.objects.filter(pk__in=done).update(sent_at=timezone.now())
    if failure is not None:
        raise failure
    return len(emails), len(done)


def _send(emails: list[OrderEmail]) -> tuple[list[int], Exception | None]:
    """Send ``emails`` over one connection, opened at the first one to mail; returns the ids
    to record as sent and the mail server's failure that stopped the batch, if one did."""
    done: list[int] = []
    connection = None
    try:
        for email in emails:
            order = email.order
            if order.user_email and not order.user_email.endswith(UNMAILABLE_DOMAIN):
                try:
                    message = _message(email, order)
                    if connection is None:
                        connection = get_connection()
                        connection.open()
                    connection.send_messages([message])
                except SMTPRecipientsRefused:  # this address: the others may go
                    logger.warning("orders.email_refused", extra={"email_id": email.pk})
                    continue
                except (OSError, SMTPException) as exc:  # the server: retry the rest later
                    return done, exc
                except Exception:  # a template that fails: that email only
                    logger.exception("orders.email_failed", extra={"email_id": email.pk})
                    continue
            done.append(email.pk)
        return done, None
    finally:
        if connection is not None:
            with contextlib.suppress(Exception):  # a broken connection: what it took stands
                connection.close()


def _message(email: OrderEmail, order: Order) -> EmailMultiAlternatives:
    context = _context(order)
    name = f"orders/emails/{email.status.lower()}"
    message = EmailMultiAlternatives(
        SUBJECTS[Status(email.status)],
        render_to_string(f"{name}.txt", context),
        to=[order.user_email],
    )
    message.attach_alternative(render_to_string(f"{name}.html", context), "text/html")
    return message


def order_emails_pending() -> list[int]:
    """Ids of recorded emails still unsent a while after their change (the broker lost the
    request to send them, or the mail server refused them): the periodic sweep asks for a
    batch."""
    cutoff = timezone.now() - SWEEP_AFTER
    return list(
        OrderEmail.objects.filter(sent_at__isnull=True, created_at__lt=cutoff)
        .order_by("created_at")
        .values_list("pk", flat=True)[:500]
    )
