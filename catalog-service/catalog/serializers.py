"""Input validation, the JSON shapes of the API, and their OpenAPI documentation.

Reads render ``.values()`` rows through the ``*_json`` functions (no serializer on the hot
path); the output serializers document exactly those shapes.
"""

from __future__ import annotations

import copy
from typing import Any

from chassis.serializers import (
    DecimalStringField,
    InputSerializer,
    StrictIntegerField,
    StrictSlugRelatedField,
)
from django.utils.text import slugify
from rest_framework import serializers

from catalog import selectors
from catalog.models import Category, StockMovement, currency_validator

MAX_STOCK = 1_000_000_000
SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*\Z"
STAFF_REASONS = [
    StockMovement.Reason.RESTOCK,
    StockMovement.Reason.CORRECTION,
    StockMovement.Reason.DAMAGE,
    StockMovement.Reason.RETURN,
]


def _price(**kwargs: Any) -> serializers.DecimalField:
    return DecimalStringField(max_digits=12, decimal_places=2, min_value=0, **kwargs)


def _category_ref() -> serializers.SlugRelatedField:
    return StrictSlugRelatedField(
        slug_field="slug",
        queryset=Category.objects.all(),
        allow_null=True,
        required=False,
        help_text="Slug of the category (null: none).",
    )


class ProductListQuerySerializer(serializers.Serializer):
    """Query parameters of the product list (the view refuses any other: chassis.query)."""

    def get_fields(self) -> dict[str, serializers.Field]:
        """Shallow copies of the declared fields: DRF deep-copies them for every instance,
        two thirds of this serializer's cost on the list's hot path (about 100 us a request).
        Safe for these plain fields: configured once, never changed afterwards; binding a
        copy to this serializer only sets attributes on the copy."""
        return {name: copy.copy(field) for name, field in self._declared_fields.items()}

    q = serializers.CharField(
        max_length=200,
        required=False,
        allow_blank=True,
        help_text='Full-text search over name, SKU and description: words, "a phrase", -not.',
    )
    category = serializers.SlugField(
        max_length=140, required=False, help_text="Category slug; includes its sub-categories."
    )
    min_price = _price(required=False)
    max_price = _price(required=False)
    in_stock = serializers.ChoiceField(
        choices=["true", "false"], required=False, help_text="Only products with stock (true)."
    )
    ordering = serializers.ChoiceField(
        choices=list(selectors.PRODUCT_ORDERINGS), default="name", required=False
    )
    cursor = serializers.CharField(required=False, help_text="From a page's next/previous link.")
    # Over the maximum is capped by the paginator (as on every list of the platform), not 400.
    page_size = serializers.IntegerField(
        required=False, min_value=1, help_text="Rows per page: default 20, at most 100."
    )

    def validate_category(self, slug: str) -> int:
        category_id = selectors.category_id_by_slug(slug=slug)
        if category_id is None:
            raise serializers.ValidationError("Unknown category.", code="does_not_exist")
        return category_id

    def to_internal_value(self, data: Any) -> Any:
        """An empty parameter (``?ordering=``) is an error, not "use the default": only
        ``q`` may be blank."""
        blank = {
            name: ["This field may not be blank."]
            for name, field in self.fields.items()
            if data.get(name) == "" and not getattr(field, "allow_blank", False)
        }
        if blank:
            raise serializers.ValidationError(blank, code="blank")
        return super().to_internal_value(data)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        low, high = attrs.get("min_price"), attrs.get("max_price")
        if low is not None and high is not None and low > high:
            raise serializers.ValidationError(
                {"max_price": ["Must not be below min_price."]}, code="invalid"
            )
        attrs.pop("cursor", None)  # read by the paginator itself
        attrs.pop("page_size", None)
        if "category" in attrs:
            attrs["category_id"] = attrs.pop("category")
        if "in_stock" in attrs:
            attrs["in_stock"] = attrs["in_stock"] == "true"
        attrs.setdefault("ordering", "name")
        return attrs


class ProductCreateInputSerializer(InputSerializer):
    sku = serializers.RegexField(SKU_PATTERN, max_length=64)
    name = serializers.CharField(max_length=200)
    slug = serializers.SlugField(max_length=220, required=False)
    description = serializers.CharField(max_length=10_000, required=False, allow_blank=True)
    price = _price()
    currency = serializers.CharField(
        max_length=3, required=False, validators=[currency_validator], help_text="ISO 4217."
    )
    category = _category_ref()
    stock = StrictIntegerField(min_value=0, max_value=MAX_STOCK, required=False)
    is_active = serializers.BooleanField(required=False)


class ProductUpdateInputSerializer(InputSerializer):
    """Any subset of the product's fields; stock changes go through the stock endpoint."""

    sku = serializers.RegexField(SKU_PATTERN, max_length=64)
    name = serializers.CharField(max_length=200)
    slug = serializers.SlugField(max_length=220)
    description = serializers.CharField(max_length=10_000, allow_blank=True)
    price = _price()
    currency = serializers.CharField(max_length=3, validators=[currency_validator])
    category = _category_ref()
    is_active = serializers.BooleanField()


class StockAdjustInputSerializer(InputSerializer):
    mode = serializers.ChoiceField(
        choices=["set", "increment"],
        help_text="set: the stock becomes quantity; increment: quantity (may be negative) is "
        "added.",
    )
    quantity = StrictIntegerField(min_value=-MAX_STOCK, max_value=MAX_STOCK)
    reason = serializers.ChoiceField(choices=STAFF_REASONS)
    reference = serializers.CharField(max_length=100, required=False, allow_blank=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs["mode"] == "set" and attrs["quantity"] < 0:
            raise serializers.ValidationError(
                {"quantity": ["Stock cannot be set below zero."]}, code="min_value"
            )
        if attrs["mode"] == "increment" and attrs["quantity"] == 0:
            raise serializers.ValidationError(
                {"quantity": ["An increment of zero changes nothing."]}, code="invalid"
            )
        return attrs


class CategoryInputSerializer(InputSerializer):
    name = serializers.CharField(max_length=120)
    slug = serializers.SlugField(max_length=140, required=False)
    parent = _category_ref()  # type: ignore[assignment]  # a field, not Field.parent

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # The service makes the slug from the name; a name without letters or digits
        # ("!!!") would give an empty slug, which no URL or filter could name.
        if not self.partial and not attrs.get("slug") and not slugify(attrs["name"]):
            raise serializers.ValidationError(
                {"slug": ["Required when the name has no letters or digits."]}, code="required"
            )
        return attrs


# --- output shapes -------------------------------------------------------------------------


class CategoryRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()


class ProductListItemSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    sku = serializers.CharField()
    name = serializers.CharField()
    slug = serializers.CharField()
    price = serializers.DecimalField(max_digits=12, decimal_places=2)
    currency = serializers.CharField()
    stock = serializers.IntegerField()
    in_stock = serializers.BooleanField()
    category = CategoryRefSerializer(allow_null=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class ProductDetailOutputSerializer(ProductListItemSerializer):
    description = serializers.CharField()
    is_active = serializers.BooleanField()


class StockMovementOutputSerializer(serializers.ModelSerializer):
    """A ledger row as the model defines it (rendered by :func:`movement_json`)."""

    product_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = StockMovement
        fields = (
            "id",
            "product_id",
            "delta",
            "stock_after",
            "reason",
            "reference",
            "actor",
            "created_at",
        )
        read_only_fields = tuple(name for name in fields if name != "product_id")


class StockChangeOutputSerializer(serializers.Serializer):
    product = ProductDetailOutputSerializer()
    movement = StockMovementOutputSerializer(allow_null=True, help_text="null: no change.")


class CategoryOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()
    parent = serializers.CharField(  # type: ignore[assignment]  # a field, not Field.parent
        allow_null=True, help_text="Slug of the parent category."
    )


class CategoryTreeSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.CharField()
    children = serializers.ListField(
        child=serializers.DictField(), help_text="Sub-categories, each of this same shape."
    )


def product_json(row: dict[str, Any], *, detail: bool = False) -> dict[str, Any]:
    """A product list item (or detail) from a ``selectors.product_list/detail`` row."""
    data = {
        "id": row["id"],
        "sku": row["sku"],
        "name": row["name"],
        "slug": row["slug"],
        "price": str(row["price"]),
        "currency": row["currency"],
        "stock": row["stock"],
        "in_stock": row["stock"] > 0,
        "category": (
            {"id": row["category_id"], "slug": row["category__slug"], "name": row["category__name"]}
            if row["category_id"] is not None
            else None
        ),
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }
    if detail:
        data["description"] = row["description"]
        data["is_active"] = row["is_active"]
    return data


def category_json(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "name": row["name"],
        "slug": row["slug"],
        "parent": row["parent__slug"],
    }


def movement_json(movement: StockMovement) -> dict[str, Any]:
    return {
        "id": movement.pk,
        "product_id": movement.product_id,
        "delta": movement.delta,
        "stock_after": movement.stock_after,
        "reason": movement.reason,
        "reference": movement.reference,
        "actor": movement.actor,
        "created_at": movement.created_at,
    }
