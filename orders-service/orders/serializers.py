"""Request validation and the order's JSON shape."""

from __future__ import annotations

from chassis.serializers import InputSerializer, ModelOutputSerializer, StrictIntegerField
from rest_framework import serializers

from orders.models import Order, OrderLine


class OrderLineInputSerializer(InputSerializer):
    product_id = StrictIntegerField(min_value=1)
    quantity = StrictIntegerField(
        min_value=1,
        help_text="At most ORDERS_MAX_UNITS_PER_LINE (default 100): more is a 422 "
        "`limit-units-per-line`.",
    )


class OrderPlaceInputSerializer(InputSerializer):
    lines = OrderLineInputSerializer(
        many=True,
        allow_empty=False,
        help_text="One line per product; at most ORDERS_MAX_LINES (default 20): more is a 422 "
        "`limit-lines-per-order`.",
    )

    def validate_lines(self, lines: list[dict[str, int]]) -> list[dict[str, int]]:
        ids = [line["product_id"] for line in lines]
        if len(ids) != len(set(ids)):
            raise serializers.ValidationError(
                "One line per product (add up the quantities).", code="duplicate"
            )
        return lines


class OrderCancelInputSerializer(InputSerializer):
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True)


class OrderLineOutputSerializer(ModelOutputSerializer):
    class Meta:
        model = OrderLine
        fields = ("product_id", "sku", "name", "unit_price", "quantity", "line_total")
        read_only_fields = fields


class RejectionReasonSerializer(serializers.Serializer):
    product_id = serializers.IntegerField()
    code = serializers.CharField()
    requested = serializers.IntegerField()
    available = serializers.IntegerField()


class OrderOutputSerializer(ModelOutputSerializer):
    lines = OrderLineOutputSerializer(many=True, read_only=True)
    rejection_reasons = RejectionReasonSerializer(many=True, read_only=True)

    class Meta:
        model = Order
        fields = (
            "id",
            "user_id",
            "status",
            "currency",
            "total",
            "lines",
            "rejection_reasons",
            "cancel_reason",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


def order_json(order: Order) -> dict:
    """The order as the API returns it (also what an Idempotency-Key replays)."""
    return dict(OrderOutputSerializer(order).data)
