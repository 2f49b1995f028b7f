"""The buyer's emails about their orders (orders/emails.py): one per status change, recorded
in the change's transaction, sent by the worker after commit in batches, once even on
redelivery. The batches' tests talk SMTP to a real server (aiosmtpd, on 127.0.0.1)."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from smtplib import SMTPDataError
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from django.db import connections, transaction
from django.utils import timezone

from orders import emails, services
from orders.emails import (
    order_email_record,
    order_emails_enqueue,
    order_emails_pending,
    order_emails_send,
)
from orders.models import OrderEmail, Product, Status
from orders.tasks import order_emails_send_batch, order_emails_sweep
from tests.events import deliver
from tests.factories import order_with_lines
from tests.test_handlers import reserved

pytestmark = pytest.mark.django_db


def send_all() -> tuple[int, int]:
    return order_emails_send()


class Mailbox:
    """aiosmtpd handler: counts connections (EHLO), keeps what it accepts; refuses the
    addresses in ``refuse`` (550) and answers 451 to the DATA of the messages numbered in
    ``fail_data`` (1 = the first DATA it is sent)."""

    def __init__(self) -> None:
        self.connections = 0
        self.data = 0
        self.accepted: list[tuple[list[str], bytes]] = []
        self.refuse: set[str] = set()
        self.fail_data: set[int] = set()

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        self.connections += 1
        session.host_name = hostname
        return responses

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.data += 1
        if self.data in self.fail_data:
            return "451 4.3.0 Try again later"
        self.accepted.append((list(envelope.rcpt_tos), envelope.original_content))
        return "250 Message accepted for delivery"

    def recipients(self) -> list[str]:
        return [to for tos, _ in self.accepted for to in tos]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def smtp(settings: Any) -> Iterator[Mailbox]:
    """A real SMTP server on 127.0.0.1 and Django's SMTP backend pointed at it."""
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", controller.port
    settings.EMAIL_USE_TLS, settings.EMAIL_TIMEOUT = False, 10
    try:
        yield mailbox
    finally:
        controller.stop()


def cancelled(product: Product, *emails_to: str) -> list[int]:
    """An order cancelled for each address, oldest first: their emails' ids."""
    for to in emails_to:
        services.order_cancel(order_id=order_with_lines((product, 1), user_email=to).pk, reason="x")
    return list(OrderEmail.objects.order_by("created_at", "id").values_list("pk", flat=True))


def unsent() -> list[int]:
    return list(OrderEmail.objects.filter(sent_at__isnull=True).values_list("pk", flat=True))


def test_a_confirmation_is_recorded_with_the_change_and_queued_after_commit(
    lamp: Product, mailoutbox, django_capture_on_commit_callbacks
):
    order = order_with_lines((lamp, 3))
    with django_capture_on_commit_callbacks() as callbacks:
        deliver("stock.reserved", reserved(order, (lamp, "18.35")))

    assert list(OrderEmail.objects.values_list("order_id", "status", "sent_at")) == [
        (order.pk, Status.CONFIRMED, None)
    ]
    assert mailoutbox == []  # nothing leaves inside the transaction
    # after commit: the request for a batch, and the saga's metrics (chassis.metrics)
    assert sorted(c.__qualname__.split(".")[0] for c in callbacks) == [
        "order_emails_enqueue",
        "saga_finished",
    ]

    assert send_all() == (1, 1)
    (message,) = mailoutbox
    assert (message.subject, message.to) == ("Your order is confirmed", ["buyer@example.com"])
    assert f"Your order {order.pk} is confirmed" in message.body
    assert f"3 x {lamp.name} ({lamp.sku})  55.05 EUR" in message.body
    assert "Total: 55.05 EUR" in message.body
    html, kind = message.alternatives[0]
    assert kind == "text/html"
    assert f"<p>Your order {order.pk} is confirmed" in html


def test_an_email_reads_the_order_lines_once(
    lamp: Product, kettle: Product, mailoutbox, django_assert_num_queries
):
    order = order_with_lines((lamp, 1), (kettle, 2))
    deliver("stock.reserved", reserved(order))

    # the email and its order (locked), the lines (both templates), sent_at; in a savepoint
    with django_assert_num_queries(5) as queries:
        assert order_emails_send() == (1, 1)

    assert [q["sql"].split(" ", 1)[0] for q in queries] == [
        "SAVEPOINT",
        "SELECT",
        "SELECT",
        "UPDATE",
        "RELEASE",
    ]
    (message,) = mailoutbox
    assert f"1 x {lamp.name} ({lamp.sku})" in message.body
    assert f"<td>2 x</td><td>{kettle.name} ({kettle.sku})</td>" in message.alternatives[0][0]


def test_a_redelivered_event_mails_once(lamp: Product, mailoutbox):
    order = order_with_lines((lamp, 1))
    event_id = uuid.uuid4()
    deliver("stock.reserved", reserved(order), event_id=event_id)
    deliver("stock.reserved", reserved(order), event_id=event_id)

    assert send_all() == (1, 1)
    assert send_all() == (0, 0)  # the task run twice
    assert len(mailoutbox) == 1


def test_recording_a_change_twice_keeps_one_email_and_queues_it_once(
    lamp: Product, django_capture_on_commit_callbacks
):
    order = order_with_lines((lamp, 1))
    order.status = Status.CONFIRMED
    with django_capture_on_commit_callbacks() as callbacks:
        first = order_email_record(order=order)
        again = order_email_record(order=order)

    assert (isinstance(first, int), again) == (True, None)
    assert list(OrderEmail.objects.values_list("pk", "order_id", "status")) == [
        (first, order.pk, Status.CONFIRMED)
    ]
    assert [c.__qualname__ for c in callbacks] == ["order_emails_enqueue"]
    order.status = Status.PENDING  # no email for it: nothing recorded, nothing queued
    assert order_email_record(order=order) is None
    assert OrderEmail.objects.count() == 1


def test_a_rejection_names_the_reasons(lamp: Product, mailoutbox):
    order = order_with_lines((lamp, 5))
    reasons = [
        {"product_id": lamp.pk, "code": "insufficient-stock", "requested": 5, "available": 2}
    ]
    deliver("stock.rejected", {"order_id": str(order.pk), "reasons": reasons})

    assert send_all() == (1, 1)
    (message,) = mailoutbox
    assert message.subject == "Your order could not be accepted"
    assert f"{lamp.name}: not enough in stock (requested 5, available 2)" in message.body
    assert (
        f"<li>{lamp.name}: not enough in stock (requested 5, available 2)</li>"
        in (message.alternatives[0][0])
    )


def test_cancelled_and_shipped_are_mailed_with_their_own_templates(lamp: Product, mailoutbox):
    cancelled = order_with_lines((lamp, 1))
    shipped = order_with_lines((lamp, 1), status=Status.CONFIRMED)
    services.order_cancel(order_id=cancelled.pk, reason="Changed my mind")
    services.order_ship(order_id=shipped.pk)

    assert send_all() == (2, 2)
    assert [(m.subject, m.body.splitlines()[0]) for m in mailoutbox] == [
        ("Your order is cancelled", f"Your order {cancelled.pk} is cancelled: Changed my mind."),
        ("Your order has shipped", f"Your order {shipped.pk} has shipped."),
    ]


def test_an_order_without_an_address_is_recorded_not_mailed(lamp: Product, mailoutbox):
    order = order_with_lines((lamp, 1), user_email="")
    services.order_cancel(order_id=order.pk, reason="x")

    assert send_all() == (1, 1)  # recorded as handled
    assert OrderEmail.objects.get().sent_at is not None
    assert mailoutbox == []


def test_the_sweep_asks_for_a_batch_when_the_broker_lost_the_request(lamp: Product, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = True  # the sweep's batch runs here
    order = order_with_lines((lamp, 1))
    services.order_cancel(order_id=order.pk, reason="x")
    fresh = OrderEmail.objects.get()
    assert order_emails_pending() == []  # its own task may still be on the way
    OrderEmail.objects.update(created_at=timezone.now() - timedelta(minutes=3))

    assert order_emails_pending() == [fresh.pk]
    assert order_emails_sweep() == 1
    fresh.refresh_from_db()
    assert fresh.sent_at is not None


def test_a_batch_sends_over_one_connection_and_records_in_one_statement(
    lamp: Product, kettle: Product, smtp: Mailbox, django_assert_num_queries
):
    ids = cancelled(lamp, "a@example.com", "b@example.com", "c@example.com")

    # claim (locked, with their orders), each one's lines, one UPDATE of sent_at; in a savepoint
    with django_assert_num_queries(7) as queries:
        assert order_emails_send() == (3, 3)

    assert [q["sql"].split(" ", 1)[0] for q in queries] == [
        "SAVEPOINT", "SELECT", "SELECT", "SELECT", "SELECT", "UPDATE", "RELEASE",
    ]  # fmt: skip
    assert queries[1]["sql"].endswith('FOR UPDATE OF "orders_orderemail" SKIP LOCKED')
    assert smtp.connections == 1
    assert smtp.recipients() == ["a@example.com", "b@example.com", "c@example.com"]
    assert b"Subject: Your order is cancelled" in smtp.accepted[0][1]
    assert unsent() == []
    assert order_emails_send() == (0, 0)
    assert smtp.connections == 1  # nothing to send: no connection
    assert len(ids) == 3


def test_a_refused_address_stops_only_its_email(lamp: Product, smtp: Mailbox):
    _, refused, _ = cancelled(lamp, "a@example.com", "gone@example.com", "c@example.com")
    smtp.refuse = {"gone@example.com"}

    assert order_emails_send() == (3, 2)

    assert smtp.recipients() == ["a@example.com", "c@example.com"]
    assert smtp.connections == 1  # the refusal left the connection usable
    assert unsent() == [refused]  # the sweep tries it again


def test_a_failing_mail_server_stops_the_batch_and_keeps_what_it_took(lamp: Product, smtp: Mailbox):
    _, second, third = cancelled(lamp, "a@example.com", "b@example.com", "c@example.com")
    smtp.fail_data = {2}

    with pytest.raises(SMTPDataError):  # the task retries with backoff
        order_emails_send()

    assert smtp.recipients() == ["a@example.com"]
    assert unsent() == [second, third]  # the first one, taken, is recorded

    assert order_emails_send() == (2, 2)  # the server is back
    assert smtp.recipients() == ["a@example.com", "b@example.com", "c@example.com"]
    assert (smtp.connections, unsent()) == (2, [])


def test_an_unreachable_mail_server_sends_and_records_nothing(lamp: Product, settings):
    ids = cancelled(lamp, "a@example.com")
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = (
        "127.0.0.1",
        free_port(),
        False,
    )

    with pytest.raises(ConnectionRefusedError):
        order_emails_send()

    assert unsent() == ids


def test_an_email_that_cannot_be_written_stops_only_itself(lamp: Product, smtp: Mailbox, caplog):
    (good,) = cancelled(lamp, "a@example.com")
    order = order_with_lines((lamp, 1), user_email="b@example.com")
    broken = OrderEmail.objects.create(order=order, status=Status.PENDING)  # no template
    OrderEmail.objects.filter(pk=broken.pk).update(created_at=timezone.now() - timedelta(1))

    assert order_emails_send() == (2, 1)

    assert smtp.recipients() == ["a@example.com"]
    assert unsent() == [broken.pk]
    assert [r.message for r in caplog.records if r.levelname == "ERROR"] == ["orders.email_failed"]
    assert good not in unsent()


def test_the_batch_task_sends_batch_after_batch_until_none_is_left(
    lamp: Product, smtp: Mailbox, monkeypatch
):
    monkeypatch.setattr(emails, "BATCH", 2)
    cancelled(lamp, *(f"{n}@example.com" for n in "abcde"))

    assert order_emails_send_batch() == 5

    assert smtp.recipients() == [f"{n}@example.com" for n in "abcde"]
    assert (smtp.connections, unsent()) == (3, [])


def test_the_batch_task_stops_at_a_batch_that_left_one_unsent(
    lamp: Product, smtp: Mailbox, monkeypatch
):
    monkeypatch.setattr(emails, "BATCH", 2)
    ids = cancelled(lamp, "gone@example.com", "b@example.com", "c@example.com")
    smtp.refuse = {"gone@example.com"}

    assert order_emails_send_batch() == 1  # does not take the refused one again and again

    assert smtp.recipients() == ["b@example.com"]
    assert unsent() == [ids[0], ids[2]]  # the next request or the sweep


@pytest.mark.django_db(transaction=True)
def test_a_batch_skips_the_emails_another_batch_holds(lamp: Product, mailoutbox):
    held_id, free_id = cancelled(lamp, "a@example.com", "b@example.com")
    held, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                OrderEmail.objects.select_for_update().get(pk=held_id)
                held.set()
                release.wait(60)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert held.wait(60)
        assert order_emails_send() == (1, 1)  # without waiting for the lock
    finally:
        release.set()
        holder.join(60)

    assert [m.to for m in mailoutbox] == [["b@example.com"]]
    assert unsent() == [held_id]
    assert free_id not in unsent()


def test_a_process_asks_for_one_batch_while_its_queued_one_is_still_to_run(
    lamp: Product, settings, mailoutbox, monkeypatch
):
    settings.CELERY_TASK_ALWAYS_EAGER = True  # the batch runs at once here (no countdown)
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    monkeypatch.setattr(emails._Queued, "runs_at", 0.0)
    cancelled(lamp, "a@example.com")

    assert order_emails_enqueue() is True  # queued: runs at 1000.5
    assert len(mailoutbox) == 1
    now[0] = 1000.39  # before 1000.5 - the margin: the queued batch takes what commits now
    assert order_emails_enqueue() is False
    now[0] = 1000.41  # too close to its run: another one
    assert order_emails_enqueue() is True
    assert emails._Queued.runs_at == pytest.approx(1000.91)
