"""Test-only views: one per operation, each exercising one piece of the chassis."""

import logging

from django.core.exceptions import PermissionDenied, SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from chassis.errors import Conflict, DomainError
from chassis.serializers import InputSerializer, ProblemSerializer
from chassis.throttling import ScopedRateThrottle

logger = logging.getLogger(__name__)


class PublicApi(APIView):
    authentication_classes = ()
    permission_classes = (permissions.AllowAny,)


class OrderPlaceApi(PublicApi):
    class InputSerializer(InputSerializer):
        class LineSerializer(InputSerializer):
            sku = serializers.CharField(max_length=8)
            quantity = serializers.IntegerField(min_value=1)

        email = serializers.EmailField()
        lines = LineSerializer(many=True)
        note = serializers.CharField(required=False)

        def validate(self, attrs):
            skus = [line["sku"] for line in attrs["lines"]]
            if len(set(skus)) != len(skus):
                raise serializers.ValidationError("Each SKU may appear once.", code="duplicate")
            return attrs

    @extend_schema(request=InputSerializer, responses={201: InputSerializer})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(data.validated_data, status=status.HTTP_201_CREATED)


class OrderCancelApi(PublicApi):
    class InputSerializer(InputSerializer):
        class LineSerializer(InputSerializer):
            sku = serializers.CharField()

        lines = LineSerializer(many=True)

    @extend_schema(request=InputSerializer, responses={204: None, 409: ProblemSerializer})
    def post(self, request: Request) -> Response:
        data = self.InputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        raise Conflict(
            "The order has shipped.",
            errors=[{"field": None, "code": "shipped", "message": "Shipped on 2026-01-02."}],
        )


class StockShortError(DomainError):
    code = "stock_short"
    title = "Not enough stock."


class StockReserveApi(PublicApi):
    @extend_schema(
        request=None,
        responses={
            204: None,
            400: OpenApiResponse(response=ProblemSerializer, description="Not enough stock."),
        },
    )
    def post(self, request: Request) -> Response:
        raise StockShortError("Only 2 left of SKU-1.")


class ItemDetailApi(PublicApi):
    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request, item_id: int) -> Response:
        if item_id != 1:
            raise Http404("no such item")
        return Response({"id": 1})


class MeApi(APIView):
    """Authenticated (the default permission): reads the token user only, no queries."""

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        user = request.user
        return Response(
            {
                "id": user.id,
                "email": user.email,
                "full_name": user.full_name,
                "is_staff": user.is_staff,
                "groups": list(user.groups),
                "jti": request.auth["jti"],
            }
        )


class StaffReportApi(APIView):
    permission_classes = (permissions.IsAdminUser,)

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        return Response({"staff": request.user.id})


class ThrottledApi(PublicApi):
    throttle_classes = (ScopedRateThrottle,)
    throttle_scope = "probe"

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        return Response({"ok": True})


class LoggedApi(PublicApi):
    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        logger.info("probe.logged", extra={"order_id": 7})
        return Response({"logged": True})


class CrashApi(PublicApi):
    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> Response:
        raise RuntimeError("boom")


def forbidden_view(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied


def suspicious_view(request: HttpRequest) -> HttpResponse:
    raise SuspiciousOperation("tampered")


def form_view(request: HttpRequest) -> HttpResponse:
    return JsonResponse({"fields": sorted(request.POST)})
