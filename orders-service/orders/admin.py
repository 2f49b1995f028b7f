"""Staff admin for orders: status filters, lines inline, cancel/ship through the services
(so the events go out), the read models (products, accounts) read-only. Parked events
(chassis.events) have their own admin with a redrive action."""

from __future__ import annotations

from datetime import timedelta

from chassis.admin import ReadOnlyAdminMixin
from chassis.backoffice import Panel, confirmed_action, short_uuid
from chassis.events.models import ParkedEvent
from django.contrib import admin
from django.http import HttpRequest
from django.utils import timezone

from orders import services
from orders.models import Account, Order, OrderLine, Product

STUCK_AFTER = timedelta(minutes=1)  # a saga answers within seconds: PENDING longer is stuck


def attention(request: HttpRequest) -> list[Panel]:
    """The orders admin's "needs attention": orders PENDING for more than a minute (the saga
    did not answer: catalog or the broker down?) and events parked, not yet redriven."""
    before = (timezone.now() - STUCK_AFTER).replace(microsecond=0)
    stuck = Order.objects.filter(status="PENDING", created_at__lt=before).count()
    parked = ParkedEvent.objects.filter(redriven_at__isnull=True).count()
    since = before.strftime("%Y-%m-%d %H:%M:%S")
    return [
        Panel(
            "Orders PENDING for more than a minute",
            stuck,
            f"orders/order/?status__exact=PENDING&created_at__lt={since}",
        ),
        Panel("Parked events", parked, "chassis_events/parkedevent/?redriven_at__isempty=1"),
    ]


class OrderLineInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = OrderLine
    fields = ("product_id", "sku", "name", "unit_price", "quantity", "line_total")
    readonly_fields = fields
    extra = 0


@admin.register(Order)
class OrderAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Orders change only through their status machine: the actions below."""

    list_display = (
        short_uuid("id"),
        "created_at",
        "user_email",
        "status",
        "total",
        "currency",
    )
    list_filter = ("status", "currency", "created_at")
    search_fields = ("=id", "=user_id", "user_email")
    date_hierarchy = "created_at"
    show_full_result_count = False
    inlines = (OrderLineInline,)
    actions = ("cancel_orders", "ship_orders")
    readonly_fields = (
        "id",
        "user_id",
        "user_email",
        "status",
        "currency",
        "total",
        "rejection_reasons",
        "cancel_reason",
        "created_at",
        "updated_at",
    )

    def has_manage_permission(self, request: HttpRequest) -> bool:
        """The actions' permission (orders.roles: ``change_order`` is cancel and ship; the
        fields themselves are never edited)."""
        return request.user.has_perm("orders.change_order")

    @confirmed_action(
        "Cancel the selected orders (releases their stock)",
        done="{count} order(s) changed.",
        permissions=["manage"],
    )
    def cancel_orders(self, request: HttpRequest, order: Order) -> None:
        """Through the saga: order_cancel emits order.cancelled, catalog releases the stock."""
        reason = f"Cancelled by staff ({request.user.get_username()})."
        services.order_cancel(order_id=order.pk, reason=reason)

    @confirmed_action(
        "Mark the selected orders shipped",
        done="{count} order(s) changed.",
        permissions=["manage"],
    )
    def ship_orders(self, request: HttpRequest, order: Order) -> None:
        services.order_ship(order_id=order.pk)


@admin.register(Product)
class ProductAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The read model: catalog owns products; this is what orders last heard of them."""

    list_display = ("id", "sku", "name", "price", "currency", "is_active", "changed_at")
    list_filter = ("is_active", "currency")
    search_fields = ("=id", "=sku", "name")
    show_full_result_count = False


@admin.register(Account)
class AccountAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """The read model: users-service owns accounts; this is what orders last heard of their
    status (a deactivated one cannot order)."""

    list_display = (short_uuid("user_id", "user"), "is_active", "changed_at")
    list_filter = ("is_active",)
    search_fields = ("=user_id",)
    show_full_result_count = False
