"""Staff admin for orders: status filters, lines inline, cancel/ship through the services
(so the events go out), the read models (products, accounts) read-only. Parked events
(chassis.events) have their own admin with a redrive action."""

from __future__ import annotations

from typing import Any

from chassis.admin import ReadOnlyAdminMixin
from chassis.errors import DomainError
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from orders import services
from orders.models import Account, Order, OrderLine, Product


class OrderLineInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = OrderLine
    fields = ("product_id", "sku", "name", "unit_price", "quantity", "line_total")
    readonly_fields = fields
    extra = 0


@admin.register(Order)
class OrderAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Orders change only through their status machine: the actions below."""

    list_display = ("id", "created_at", "user_email", "status", "total", "currency")
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

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if not request.user.has_perm("orders.change_order"):
            actions.pop("cancel_orders", None)
            actions.pop("ship_orders", None)
        return actions

    def _each(self, request: HttpRequest, queryset: QuerySet[Order], apply: Any) -> None:
        done, refused = 0, []
        for order_id in queryset.values_list("id", flat=True):
            try:
                apply(order_id)
                done += 1
            except DomainError as exc:
                refused.append(f"{order_id}: {exc.detail}")
        messages.info(request, f"{done} order(s) changed.")
        for line in refused:
            messages.warning(request, line)

    @admin.action(description="Cancel the selected orders (releases their stock)")
    def cancel_orders(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        reason = f"Cancelled by staff ({request.user.get_username()})."
        self._each(
            request, queryset, lambda oid: services.order_cancel(order_id=oid, reason=reason)
        )

    @admin.action(description="Mark the selected orders shipped")
    def ship_orders(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        self._each(request, queryset, lambda oid: services.order_ship(order_id=oid))


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

    list_display = ("user_id", "is_active", "changed_at")
    list_filter = ("is_active",)
    search_fields = ("=user_id",)
    show_full_result_count = False
