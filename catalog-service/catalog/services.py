"""Writes: categories, products and stock. Each service is one transaction.

Every product create and update publishes ``product.changed`` in its transaction (through the
outbox, see catalog.events), so the API, the admin and any other caller announce it alike.

Stock only changes through :func:`stock_adjust` (and, for orders, the reservation services),
which locks the product row, writes the ledger row and the new stock together, and refuses
to go below zero; the database's check constraint backs that up.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from chassis.errors import Conflict, DomainError
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from catalog.events import product_changed_publish
from catalog.models import Category, Product, StockMovement

StockMode = Literal["set", "increment"]


class InsufficientStock(Conflict):
    code = "insufficient-stock"
    title = "Not enough stock."


class CategoryInUse(Conflict):
    code = "category-in-use"
    title = "The category is still in use."


class InvalidCategoryParent(DomainError):
    code = "invalid-category-parent"
    title = "The category cannot have this parent."


class Duplicate(Conflict):
    code = "duplicate"
    title = "A unique value is already taken."


def _unique_errors(model: type[Any], values: dict[str, Any], exclude_pk: Any = None) -> None:
    """Raise :class:`Duplicate` naming every unique field whose value another row holds."""
    taken = [
        name
        for name, value in values.items()
        if value is not None
        and model.objects.filter(**{name: value}).exclude(pk=exclude_pk).exists()
    ]
    if taken:
        raise Duplicate(
            f"Already taken: {', '.join(taken)}.",
            errors=[{"field": f, "code": "unique", "message": "Already taken."} for f in taken],
        )


def _save(instance: Any, unique: dict[str, Any], fields: list[str] | None = None) -> None:
    """Save (only ``fields`` when given), turning a unique violation (pre-checked, or lost to
    a race) into a 409."""
    _unique_errors(type(instance), unique, exclude_pk=instance.pk)
    try:
        with transaction.atomic():
            instance.save(update_fields=fields)
    except IntegrityError as exc:  # a concurrent writer took the value between check and save
        _unique_errors(type(instance), unique, exclude_pk=instance.pk)
        raise Duplicate("A unique value is already taken.") from exc


# --- categories ----------------------------------------------------------------------------


def category_parent_check(*, category: Category, parent: Category | None) -> None:
    """Raise InvalidCategoryParent when ``parent`` is ``category`` or one of its descendants."""
    node = parent
    while node is not None:
        if category.pk is not None and node.pk == category.pk:
            raise InvalidCategoryParent(
                "A category cannot be placed under itself or one of its sub-categories.",
                errors=[{"field": "parent", "code": "cycle", "message": "Would make a cycle."}],
            )
        node = node.parent


@transaction.atomic
def category_create(*, name: str, slug: str = "", parent: Category | None = None) -> Category:
    """Create a category (slug from the name when not given). Raises Duplicate."""
    category = Category(name=name, slug=slug or slugify(name), parent=parent)
    _save(category, {"slug": category.slug})
    return category


@transaction.atomic
def category_update(*, category: Category, data: dict[str, Any]) -> Category:
    """Change name, slug and/or parent. Raises InvalidCategoryParent (cycle), Duplicate."""
    if "parent" in data:
        category_parent_check(category=category, parent=data["parent"])
    for name, value in data.items():
        setattr(category, name, value)
    _save(category, {"slug": category.slug}, fields=[*data, "updated_at"])
    return category


@transaction.atomic
def category_delete(*, category: Category) -> None:
    """Delete an empty category. Raises CategoryInUse when products or children remain."""
    if category.children.exists() or category.products.exists():
        raise CategoryInUse("Move or delete its products and sub-categories first.")
    category.delete()


# --- products ------------------------------------------------------------------------------


@transaction.atomic
def product_create(
    *,
    sku: str,
    name: str,
    price: Decimal,
    slug: str = "",
    description: str = "",
    currency: str = "",
    category: Category | None = None,
    stock: int = 0,
    is_active: bool = True,
    actor: str = "",
) -> Product:
    """Create a product; its initial stock is the ledger's first movement. Publishes
    ``product.changed``.

    Raises Duplicate (sku or slug taken).
    """
    product = Product(
        sku=sku,
        name=name,
        slug=slug or slugify(f"{name}-{sku}")[:220],
        description=description,
        price=price,
        currency=currency or settings.CATALOG_DEFAULT_CURRENCY,
        category=category,
        is_active=is_active,
        stock=0,
    )
    _save(product, {"sku": product.sku, "slug": product.slug})
    if stock:
        _movement(product, stock, StockMovement.Reason.INITIAL, reference="", actor=actor)
    product_changed_publish(product=product)
    return product


PRODUCT_EDITABLE = frozenset(
    {"sku", "name", "slug", "description", "price", "currency", "category", "is_active"}
)


@transaction.atomic
def product_update(*, product: Product, data: dict[str, Any]) -> Product:
    """Change product fields (never stock: see :func:`stock_adjust`); publishes
    ``product.changed``. Raises Duplicate."""
    unknown = set(data) - PRODUCT_EDITABLE
    if unknown:
        raise ValueError(f"not editable here: {sorted(unknown)}")
    for name, value in data.items():
        setattr(product, name, value)
    # Only the changed columns: the instance's stock may be stale (a stock change committed
    # since it was read), and stock is written by stock_adjust alone.
    _save(product, {"sku": product.sku, "slug": product.slug}, fields=[*data, "updated_at"])
    product_changed_publish(product=product)
    return product


def product_deactivate(*, product: Product) -> Product:
    """Hide a product from the public catalog and from new orders (idempotent); publishes
    ``product.changed``."""
    return product_update(product=product, data={"is_active": False})


# --- stock ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StockChange:
    product: Product
    movement: StockMovement | None  # None when the stock was already at the asked value


@transaction.atomic
def stock_adjust(
    *,
    product_id: int,
    mode: StockMode,
    quantity: int,
    reason: str,
    reference: str = "",
    actor: str = "",
) -> StockChange:
    """Set the stock to ``quantity`` or add ``quantity`` (may be negative) to it.

    Locks the product row (concurrent adjustments queue up), writes the ledger row and the
    new stock. Raises Product.DoesNotExist, InsufficientStock (the result would be negative).
    """
    product = Product.objects.select_for_update().get(pk=product_id)
    delta = quantity - product.stock if mode == "set" else quantity
    if product.stock + delta < 0:
        raise InsufficientStock(
            f"Stock is {product.stock}; removing {-delta} would make it negative.",
            errors=[{"field": "quantity", "code": "insufficient", "message": "Not enough stock."}],
        )
    if delta == 0:
        return StockChange(product=product, movement=None)
    movement = _movement(product, delta, reason, reference=reference, actor=actor)
    return StockChange(product=product, movement=movement)


def _movement(product: Product, delta: int, reason: str, *, reference: str, actor: str) -> Any:
    """Apply ``delta`` to the (locked or new) product and record it; inside a transaction."""
    (movement,) = _movements([(product, delta)], reason, reference=reference, actor=actor)
    return movement


def _movements(
    changes: list[tuple[Product, int]], reason: str, *, reference: str, actor: str
) -> list[Any]:
    """:func:`_movement` for several (locked) products at once, e.g. an order's lines: each
    product saved, the ledger rows written in one INSERT."""
    movements = []
    for product, delta in changes:
        product.stock += delta
        product.save(update_fields=["stock", "updated_at"])
        movements.append(
            StockMovement(
                product=product,
                delta=delta,
                stock_after=product.stock,
                reason=reason,
                reference=reference,
                actor=actor,
            )
        )
    return StockMovement.objects.bulk_create(movements)
