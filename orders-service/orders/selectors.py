"""Reads: orders for the API (own orders; all for support and order managers) and the admin."""

from __future__ import annotations

from typing import Any

import django_filters
from chassis.filters import StrictFilterSet, UtcDateTimeFilter
from chassis.roles import has_role
from django.db.models import QuerySet

from orders import roles
from orders.models import Order, Status


class OrderFilter(StrictFilterSet):
    """Staff filters (a buyer's list is already limited to their own orders)."""

    status = django_filters.MultipleChoiceFilter(choices=Status.choices)
    user_id = django_filters.CharFilter(max_length=64)
    created_after = UtcDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = UtcDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Order
        fields = ("status", "user_id")


def order_list(*, user: Any) -> QuerySet[Order]:
    """Orders visible to ``user``: their own, or every order for support and order managers
    (orders.roles); lines prefetched."""
    orders = Order.objects.prefetch_related("lines")
    if has_role(user, (*roles.READERS, *roles.MANAGERS)):
        return orders
    return orders.filter(user_id=str(user.pk))


def order_get(*, user: Any, order_id: Any) -> Order | None:
    """One order if ``user`` may see it (another buyer's order does not exist for them)."""
    return order_list(user=user).filter(pk=order_id).first()
