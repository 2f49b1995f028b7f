"""Catalog data: categories (a tree), products, and the stock ledger.

Invariants held by the database, not only by code:

* a product's ``stock`` is never negative and its ``price`` never negative (check constraints);
* every change of stock is a :class:`StockMovement` row written in the same transaction by
  :func:`catalog.services.stock_adjust` (or a reservation), so ``stock`` always equals the sum
  of the product's movements;
* the search document of a product is a generated column, so no write path (API, admin,
  bulk seed, SQL) can leave it stale.
"""

from __future__ import annotations

from typing import Any

from django.contrib.postgres.indexes import GinIndex
from django.contrib.postgres.search import SearchVectorField
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.indexes import Index
from django.utils import timezone

# PostgreSQL text search configuration of the generated search column (changing it needs a
# migration).
SEARCH_CONFIG = "english"

currency_validator = RegexValidator(r"^[A-Z]{3}\Z", "An ISO 4217 code in capitals, like EUR.")


class SearchDocumentField(SearchVectorField):
    """A ``tsvector`` on PostgreSQL; lowercased text on SQLite (the embedded fallback)."""

    def db_type(self, connection: Any) -> str:
        return "tsvector" if connection.vendor == "postgresql" else "text"


class SearchDocument(models.Func):
    """What product search matches: name, sku and description.

    PostgreSQL: ``to_tsvector('english', ...)`` (immutable, so it can be a stored generated
    column, indexed with GIN). Elsewhere: the lowercased text, matched with LIKE.
    """

    output_field = SearchDocumentField()

    def __init__(self, *fields: str) -> None:
        super().__init__(*(F(name) for name in fields))

    def _joined(self, compiler: Any, connection: Any) -> tuple[str, list[Any]]:
        parts, params = [], []
        for expression in self.get_source_expressions():
            sql, part_params = compiler.compile(expression)
            parts.append(sql)
            params.extend(part_params)
        return " || ' ' || ".join(parts), params

    def as_sql(  # type: ignore[override]
        self, compiler: Any, connection: Any, **extra: Any
    ) -> tuple[str, list[Any]]:
        text, params = self._joined(compiler, connection)
        return f"LOWER({text})", params

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list[Any]]:
        text, params = self._joined(compiler, connection)
        return f"to_tsvector('{SEARCH_CONFIG}'::regconfig, {text})", params


class SearchIndex(GinIndex):
    """GIN on PostgreSQL; a plain index elsewhere (SQLite has no GIN, and no use for it)."""

    def create_sql(self, model: Any, schema_editor: Any, using: str = "", **kwargs: Any) -> Any:
        if schema_editor.connection.vendor != "postgresql":
            return Index.create_sql(self, model, schema_editor, using=using, **kwargs)
        return super().create_sql(model, schema_editor, using=using, **kwargs)


class Category(models.Model):
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=140, unique=True)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name", "id")
        verbose_name_plural = "categories"
        constraints = (
            models.CheckConstraint(
                condition=~Q(parent=F("id")), name="catalog_category_not_own_parent"
            ),
        )

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    sku = models.CharField("SKU", max_length=64, unique=True)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=220, unique=True)
    description = models.TextField(blank=True, default="")
    price = models.DecimalField(max_digits=12, decimal_places=2, validators=[MinValueValidator(0)])
    currency = models.CharField(max_length=3, validators=[currency_validator])
    stock = models.IntegerField(default=0, validators=[MinValueValidator(0)])
    category = models.ForeignKey(
        Category, null=True, blank=True, on_delete=models.PROTECT, related_name="products"
    )
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    search_document = models.GeneratedField(
        expression=SearchDocument("name", "sku", "description"),
        output_field=SearchDocumentField(),
        db_persist=True,
    )

    class Meta:
        ordering = ("name", "id")
        constraints = (
            models.CheckConstraint(condition=Q(stock__gte=0), name="catalog_product_stock_gte_0"),
            models.CheckConstraint(condition=Q(price__gte=0), name="catalog_product_price_gte_0"),
        )
        # Every ordering the public list offers, for active products, with the id tie-breaker
        # (keyset pagination seeks on (field, id)); the GIN index serves search.
        indexes = (
            Index(fields=["price", "id"], condition=Q(is_active=True), name="product_price_key"),
            Index(fields=["name", "id"], condition=Q(is_active=True), name="product_name_key"),
            Index(fields=["created_at", "id"], condition=Q(is_active=True), name="product_new_key"),
            Index(
                fields=["category", "price", "id"],
                condition=Q(is_active=True),
                name="product_category_price_key",
            ),
            SearchIndex(fields=["search_document"], name="product_search"),
        )

    def __str__(self) -> str:
        return f"{self.name} ({self.sku})"


class StockMovement(models.Model):
    """One change of a product's stock: the ledger. Rows are never updated or deleted."""

    class Reason(models.TextChoices):
        INITIAL = "initial", "Initial stock"
        RESTOCK = "restock", "Restock"
        CORRECTION = "correction", "Inventory correction"
        DAMAGE = "damage", "Damaged or lost"
        RETURN = "return", "Customer return"
        RESERVATION = "reservation", "Reserved for an order"
        RELEASE = "release", "Reservation released"

    # Indexed by movement_product_key (product first), not by a second single-column index.
    product = models.ForeignKey(
        Product, on_delete=models.PROTECT, related_name="movements", db_index=False
    )
    delta = models.IntegerField()
    stock_after = models.IntegerField()
    reason = models.CharField(max_length=20, choices=Reason.choices)
    reference = models.CharField(max_length=100, blank=True, default="")
    actor = models.CharField(
        max_length=254, blank=True, default="", help_text="Who: user id, admin user or service."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = (
            models.CheckConstraint(condition=~Q(delta=0), name="catalog_movement_delta_not_0"),
            models.CheckConstraint(
                condition=Q(stock_after__gte=0), name="catalog_movement_stock_after_gte_0"
            ),
        )
        indexes = (Index(fields=["product", "-created_at", "-id"], name="movement_product_key"),)

    def __str__(self) -> str:
        return f"{self.product_id}: {self.delta:+d} ({self.reason})"


class Reservation(models.Model):
    """The stock an order holds: one row per order, written by the order saga's handlers.

    RESERVED: every line's stock was taken (a ``reservation`` movement per line), at
    catalog's unit prices. RELEASED: given back (a ``release`` movement per line), or, with
    no lines, a tombstone left by a cancellation that arrived before its order. REJECTED:
    nothing was taken. Transitions: RESERVED -> RELEASED, tombstone -> REJECTED; no other.
    """

    class Status(models.TextChoices):
        RESERVED = "reserved", "Reserved"
        RELEASED = "released", "Released"
        REJECTED = "rejected", "Rejected"

    order_id = models.UUIDField(unique=True)
    status = models.CharField(max_length=10, choices=Status.choices)
    currency = models.CharField(
        max_length=3, blank=True, default="", help_text="Empty on a tombstone."
    )
    lines = models.JSONField(
        default=list, blank=True, help_text="[{product_id, quantity, unit_price}]"
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("-created_at", "-id")
        constraints = (
            models.CheckConstraint(
                condition=Q(status__in=["reserved", "released", "rejected"]),
                name="catalog_reservation_status_valid",
            ),
        )

    def __str__(self) -> str:
        return f"{self.order_id} ({self.status})"

    @property
    def is_tombstone(self) -> bool:
        return self.status == self.Status.RELEASED and not self.lines
