"""Orders, their lines, the local read models of catalog's products and users' accounts, and
idempotency keys."""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q
from django.utils import timezone


class Status(models.TextChoices):
    PENDING = "PENDING", "Pending (reserving stock)"
    CONFIRMED = "CONFIRMED", "Confirmed"
    REJECTED = "REJECTED", "Rejected"
    CANCELLED = "CANCELLED", "Cancelled"
    SHIPPED = "SHIPPED", "Shipped"


# Stock is reserved (or being reserved) for an open order: not yet shipped, cancelled or rejected.
OPEN_STATUSES = (Status.PENDING, Status.CONFIRMED)


class Order(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user_id = models.CharField(max_length=64, help_text="The buyer (users-service subject).")
    user_email = models.EmailField(blank=True, default="")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    currency = models.CharField(max_length=3)
    # Wide enough for the largest order: 50 lines x 1000 units x catalog's largest price
    # (10 digits before the point), so no valid order overflows the column.
    total = models.DecimalField(max_digits=18, decimal_places=2)
    rejection_reasons = models.JSONField(default=list, blank=True)
    cancel_reason = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = (
            models.CheckConstraint(condition=Q(total__gte=0), name="orders_order_total_gte_0"),
        )
        indexes = (
            models.Index(fields=["user_id", "-created_at", "-id"], name="order_user_key"),
            models.Index(fields=["status", "-created_at"], name="order_status_key"),
            models.Index(fields=["-created_at", "-id"], name="order_new_key"),
        )

    def __str__(self) -> str:
        return f"order {self.id} ({self.status})"


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    product_id = models.BigIntegerField()
    sku = models.CharField("SKU", max_length=64)
    name = models.CharField(max_length=200)
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)
    quantity = models.PositiveIntegerField()
    line_total = models.DecimalField(max_digits=18, decimal_places=2)

    class Meta:
        ordering = ("id",)
        constraints = (
            models.CheckConstraint(condition=Q(quantity__gte=1), name="orders_line_quantity_gte_1"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="orders_line_price_gte_0"),
            models.UniqueConstraint(
                fields=["order", "product_id"], name="orders_line_one_per_product"
            ),
        )

    def __str__(self) -> str:
        return f"{self.quantity} x {self.sku}"


class Product(models.Model):
    """What orders knows of catalog's products, from ``product.changed`` events: orders for
    unknown or inactive products are refused at once, even while catalog is down."""

    id = models.BigIntegerField(primary_key=True, help_text="catalog's product id")
    sku = models.CharField("SKU", max_length=64)
    name = models.CharField(max_length=200)
    price = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    is_active = models.BooleanField()
    changed_at = models.DateTimeField(help_text="catalog's updated_at of this version")

    class Meta:
        ordering = ("id",)
        verbose_name = "product (read model)"
        verbose_name_plural = "products (read model)"

    def __str__(self) -> str:
        return f"{self.name} ({self.sku})"


class Account(models.Model):
    """What orders knows of a users-service account's status, from ``user.deactivated`` and
    ``user.reactivated`` (orders/accounts.py): a deactivated account's access token stays
    valid until it expires, and orders refuses it meanwhile. A row exists once the account
    placed an order or had an event; placing an order and handling an event lock it, so
    neither slips past the other."""

    user_id = models.CharField(max_length=64, primary_key=True, help_text="users-service id")
    is_active = models.BooleanField(default=True)
    changed_at = models.DateTimeField(
        null=True, blank=True, help_text="When users-service made the change (the event's)"
    )

    class Meta:
        ordering = ("user_id",)
        verbose_name = "account (read model)"
        verbose_name_plural = "accounts (read model)"

    def __str__(self) -> str:
        return f"{self.user_id} ({'active' if self.is_active else 'deactivated'})"


class IdempotencyKey(models.Model):
    """The first answer to a POST with this ``Idempotency-Key`` (per user), replayed to
    retries of the same request; another request with the same key is refused (422)."""

    user_id = models.CharField(max_length=64)
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    response_status = models.PositiveSmallIntegerField()
    response_body = models.JSONField()
    order = models.ForeignKey(Order, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = (
            models.UniqueConstraint(fields=["user_id", "key"], name="orders_idempotency_key_once"),
        )
        indexes = (models.Index(fields=["created_at"], name="idempotency_created_key"),)

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"


class OrderEmail(models.Model):
    """The buyer's email about one status change of an order (orders/emails.py): written in
    the transaction that changes the status, sent by the worker after commit, ``sent_at`` set
    once the mail server took it. One per order and status, so a change that is replayed (a
    redelivered event) never mails twice."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="emails")
    status = models.CharField(max_length=10, choices=Status.choices)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("created_at", "id")
        constraints = (
            models.UniqueConstraint(fields=["order", "status"], name="orders_email_once"),
        )
        indexes = (
            models.Index(
                fields=["created_at"], condition=Q(sent_at__isnull=True), name="email_unsent_key"
            ),
        )

    def __str__(self) -> str:
        return f"{self.status} email of order {self.order_id}"
