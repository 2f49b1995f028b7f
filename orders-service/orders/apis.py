"""HTTP APIs: validate input, call a service or selector, shape the output."""

from __future__ import annotations

import re
from typing import Any

from chassis.openapi import problem_response
from chassis.pagination import CursorPagination
from chassis.query import KnownQueryParameters
from chassis.roles import HasRole, has_role
from chassis.throttling import ScopedRateThrottle
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, status
from rest_framework.generics import ListAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from orders import roles, selectors, services
from orders.accounts import account_check_verified
from orders.models import Order
from orders.serializers import (
    OrderCancelInputSerializer,
    OrderOutputSerializer,
    OrderPlaceInputSerializer,
    order_json,
)

IDEMPOTENCY_HEADER = "Idempotency-Key"
# Printable ASCII without spaces, as UUIDs and the usual client-generated keys are.
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}\Z")

PLACED_HEADERS = [
    OpenApiParameter(
        "Location",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        response=[201],
        description="The order's URL.",
    ),
    OpenApiParameter(
        "Idempotent-Replayed",
        OpenApiTypes.STR,
        OpenApiParameter.HEADER,
        response=[201],
        description="`true` when this is the stored answer to an earlier request with the "
        "same Idempotency-Key (absent otherwise).",
    ),
]

IDEMPOTENCY_PARAMETER = OpenApiParameter(
    IDEMPOTENCY_HEADER,
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    required=True,
    description="A unique key per order attempt (a UUID): a retry with the same key and "
    "body returns the first answer (with `Idempotent-Replayed: true`) and never places a "
    "second order.",
)


def _idempotency_key(request: Request) -> str:
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        raise exceptions.ValidationError(
            {IDEMPOTENCY_HEADER: ["This header is required."]}, code="required"
        )
    if not IDEMPOTENCY_KEY.match(key):
        raise exceptions.ValidationError(
            {IDEMPOTENCY_HEADER: ["1 to 255 printable ASCII characters, no spaces."]},
            code="invalid",
        )
    return key


class OrderPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 20


class OrderCollectionApi(KnownQueryParameters, ListAPIView):
    """Buyers see their own orders; staff see every order and may filter them."""

    pagination_class = OrderPagination
    serializer_class = OrderOutputSerializer
    filterset_class = selectors.OrderFilter

    @property
    def throttle_scope(self) -> str | None:
        """Placing orders is rate-limited, reading them is not (and the schema says so:
        it documents a 429 where a view has a throttle scope)."""
        request = getattr(self, "request", None)
        return "order-place" if request is not None and request.method == "POST" else None

    def get_queryset(self) -> Any:
        return selectors.order_list(user=self.request.user)

    def get_throttles(self) -> list[Any]:
        return [ScopedRateThrottle()] if self.throttle_scope else []

    @extend_schema(summary="List orders (own; staff: all, filterable)", tags=["orders"])
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)

    @extend_schema(
        parameters=[IDEMPOTENCY_PARAMETER, *PLACED_HEADERS],
        request=OrderPlaceInputSerializer,
        responses={
            201: OrderOutputSerializer,
            **problem_response(
                403,
                "The account was deactivated (account-deactivated): its access token may "
                "still be valid, but it places no more orders; or its email address is not "
                "verified (email-not-verified: the token's email_verified claim).",
            ),
            **problem_response(
                422,
                "Unknown or inactive products, several currencies, an Idempotency-Key "
                "already used for another request, or a limit of the shop, named by the "
                "problem type: `limit-lines-per-order` (ORDERS_MAX_LINES), "
                "`limit-units-per-line` (ORDERS_MAX_UNITS_PER_LINE), `limit-open-orders` "
                "(ORDERS_MAX_OPEN_PER_ACCOUNT: PENDING or CONFIRMED orders of the account) or "
                "`limit-open-value` (ORDERS_MAX_OPEN_VALUE_PER_ACCOUNT: their total in the "
                "order's currency). More orders per minute than THROTTLE_ORDER_PLACE allows "
                "one account: 429 `throttled` with Retry-After.",
            ),
        },
        summary="Place an order (PENDING until catalog reserves the stock)",
        description="Prices, names and SKUs come from orders' copy of catalog's products; the "
        "order is PENDING until catalog reserves its stock (then CONFIRMED, at catalog's "
        "prices, or REJECTED with the reasons).",
        tags=["orders"],
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        key = _idempotency_key(request)
        data = OrderPlaceInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        lines = [services.LineRequest(**line) for line in data.validated_data["lines"]]
        user = request.user
        account_check_verified(claims=getattr(user, "claims", {}))
        result = services.order_place_idempotent(
            user_id=str(user.pk),
            key=key,
            body_hash=services.request_hash(data.validated_data),
            place=lambda: services.order_place(
                user_id=str(user.pk), user_email=getattr(user, "email", ""), lines=lines
            ),
            render=order_json,
        )
        headers = {"Idempotent-Replayed": "true"} if result.replayed else {}
        if result.status == status.HTTP_201_CREATED:
            headers["Location"] = f"/api/v1/orders/{result.body['id']}"
        return Response(result.body, status=result.status, headers=headers)


def _visible(request: Request, order_id: Any) -> Order:
    order = selectors.order_get(user=request.user, order_id=order_id)
    if order is None:
        raise Http404
    return order


class OrderDetailApi(KnownQueryParameters, APIView):
    @extend_schema(
        responses={200: OrderOutputSerializer},
        summary="An order (another buyer's order is a 404)",
        tags=["orders"],
    )
    def get(self, request: Request, order_id: Any) -> Response:
        return Response(order_json(_visible(request, order_id)))


INVALID_TRANSITION = problem_response(409, "The order's status does not allow this.")


class OrderCancelApi(KnownQueryParameters, APIView):
    @extend_schema(
        request=OrderCancelInputSerializer,
        responses={
            200: OrderOutputSerializer,
            **INVALID_TRANSITION,
            **problem_response(403, "Another buyer's order: needs the role order-managers."),
        },
        summary="Cancel a PENDING or CONFIRMED order (its stock is released)",
        description="A buyer cancels their own orders; anyone's order needs the role "
        "order-managers (or superuser): support, who can read it, gets a 403.",
        tags=["orders"],
    )
    def post(self, request: Request, order_id: Any) -> Response:
        own = _visible(request, order_id).user_id == str(request.user.pk)
        if not own and not has_role(request.user, roles.MANAGERS):
            raise exceptions.PermissionDenied(HasRole.of(*roles.MANAGERS)().describe())
        data = OrderCancelInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        reason = data.validated_data.get("reason") or (
            "Cancelled by the buyer." if own else "Cancelled by staff."
        )
        order = services.order_cancel(order_id=order_id, reason=reason)
        return Response(order_json(order))


class OrderShipApi(KnownQueryParameters, APIView):
    permission_classes = (HasRole.of(*roles.MANAGERS),)

    @extend_schema(
        request=None,
        responses={200: OrderOutputSerializer, **INVALID_TRANSITION},
        summary="Mark a CONFIRMED order SHIPPED (order managers)",
        tags=["orders"],
    )
    def post(self, request: Request, order_id: Any) -> Response:
        _visible(request, order_id)
        order = services.order_ship(order_id=order_id)
        return Response(order_json(order))
