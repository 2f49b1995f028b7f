"""HTTP APIs: validate input, call a service or selector, shape the output.

Reads are public and on the hot path: their views never authenticate a request unless they
must (a token is only verified to show an inactive product to staff), build JSON from
``.values()`` rows and render it with orjson (chassis.responses). The output serializers
below document those shapes in the OpenAPI schema; the system tests check real responses
against it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from chassis.keyset import KeysetPaginator, Page
from chassis.openapi import problem_response
from chassis.pagination import CursorPagination
from chassis.permissions import is_staff
from chassis.query import PAGE_PARAMETERS, KnownQueryParameters
from chassis.responses import json_response
from chassis.roles import HasRole, HasRoleOrReadOnly
from django.http import Http404, HttpResponse
from django.urls import reverse
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import permissions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog import roles, selectors, services
from catalog.models import Category, Product
from catalog.serializers import (
    CategoryInputSerializer,
    CategoryOutputSerializer,
    CategoryTreeSerializer,
    ProductCreateInputSerializer,
    ProductDetailOutputSerializer,
    ProductListItemSerializer,
    ProductListQuerySerializer,
    ProductUpdateInputSerializer,
    StockAdjustInputSerializer,
    StockChangeOutputSerializer,
    StockMovementOutputSerializer,
    category_json,
    movement_json,
    product_json,
)

PRODUCTS = KeysetPaginator(orderings=selectors.PRODUCT_ORDERINGS, page_size=20, max_page_size=100)
CATEGORIES = KeysetPaginator(orderings=selectors.CATEGORY_ORDERINGS, page_size=100)

# Lists answer a bad filter, cursor or page_size with a 400 (the chassis only documents that
# for views with a DRF pagination class). Public reads take a token only optionally.
BAD_QUERY = problem_response(400, "Invalid filter, cursor or page_size.")
OPTIONAL_TOKEN: Any = [{"jwtAuth": []}, {}]


def page_response(page: Page, item_json: Callable[[dict[str, Any]], Any]) -> HttpResponse:
    """A keyset page as JSON, each row shaped by ``item_json``."""
    data = page.as_dict()
    data["results"] = [item_json(row) for row in page.results]
    return json_response(data)


def valid_body(serializer_class: type[serializers.Serializer], request: Request, **kw: Any) -> Any:
    """The request body, validated by ``serializer_class`` (a 400 when it is not valid)."""
    data = serializer_class(data=request.data, **kw)
    data.is_valid(raise_exception=True)
    return data.validated_data


def staff_write(summary: str, *, body: Any, answer: Any, conflict: str, tag: str) -> Any:
    """The schema of a staff write: ``body`` in, ``answer`` out (a 201 when ``answer`` is
    ``(201, serializer)``), a 409 when ``conflict`` happens."""
    code, answer = answer if isinstance(answer, tuple) else (200, answer)
    return extend_schema(
        request=body,
        responses={code: answer, **problem_response(409, conflict)},
        summary=summary,
        tags=[tag],
    )


def page_of(item: serializers.Serializer, name: str) -> Any:
    return inline_serializer(
        name,
        {
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": item,
        },
    )


class CatalogApi(KnownQueryParameters, APIView):
    permission_classes: tuple[type[permissions.BasePermission], ...] = (
        HasRoleOrReadOnly.of(*roles.WRITERS),
    )

    def perform_authentication(self, request: Request) -> None:
        """Lazy: a token is verified when a permission or a view reads ``request.user``."""

    def actor(self, request: Request) -> str:
        return f"user:{request.user.pk}"


# --- products ------------------------------------------------------------------------------


class ProductCollectionApi(CatalogApi):
    query_parameters = tuple(ProductListQuerySerializer._declared_fields)  # cursor, page_size too

    @extend_schema(
        parameters=[ProductListQuerySerializer],
        responses={200: page_of(ProductListItemSerializer(many=True), "ProductPage"), **BAD_QUERY},
        summary="List active products (filters, search, ordering, cursor pages)",
        operation_id="catalog_products_list",
        tags=["products"],
        auth=[],
    )
    def get(self, request: Request) -> HttpResponse:
        query = ProductListQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        ordering = query.validated_data.pop("ordering")
        filters = selectors.ProductFilters(**query.validated_data)
        page = PRODUCTS.paginate(request, selectors.product_list(filters=filters), ordering)
        return page_response(page, product_json)

    @staff_write(
        "Create a product (staff)",
        body=ProductCreateInputSerializer,
        answer=(201, ProductDetailOutputSerializer),
        conflict="The SKU or slug is already taken.",
        tag="products",
    )
    def post(self, request: Request) -> HttpResponse:
        data = valid_body(ProductCreateInputSerializer, request)
        product = services.product_create(**data, actor=self.actor(request))
        return _product_response(product.pk, status.HTTP_201_CREATED, created=True)


def _product_response(product_id: int, status_code: int = 200, created: bool = False) -> Any:
    row = selectors.product_detail(id=product_id, include_inactive=True)
    assert row is not None  # just written in this request
    headers = {"Location": reverse("product-detail", args=[product_id])} if created else {}
    return json_response(product_json(row, detail=True), status_code, **headers)


def _product_or_404(product_id: int) -> Product:
    product = selectors.product_get(product_id=product_id)
    if product is None:
        raise Http404
    return product


def _product_detail(request: Request, **lookup: Any) -> HttpResponse:
    row = selectors.product_detail(include_inactive=True, **lookup)
    # Inactive products exist for staff only: anyone else gets the same 404 as for an unknown
    # product (and only in that case is a token verified).
    if row is None or (not row["is_active"] and not is_staff(request)):
        raise Http404
    return json_response(product_json(row, detail=True))


class ProductDetailApi(CatalogApi):
    @extend_schema(
        responses={200: ProductDetailOutputSerializer},
        summary="A product by id (inactive ones: staff only)",
        tags=["products"],
        auth=OPTIONAL_TOKEN,
    )
    def get(self, request: Request, product_id: int) -> HttpResponse:
        return _product_detail(request, id=product_id)

    @staff_write(
        "Update a product (staff)",
        body=ProductUpdateInputSerializer,
        answer=ProductDetailOutputSerializer,
        conflict="The SKU or slug is already taken.",
        tag="products",
    )
    def patch(self, request: Request, product_id: int) -> HttpResponse:
        product = _product_or_404(product_id)
        data = valid_body(ProductUpdateInputSerializer, request, partial=True)
        services.product_update(product=product, data=data)
        return _product_response(product.pk)


class ProductDetailBySlugApi(CatalogApi):
    @extend_schema(
        responses={200: ProductDetailOutputSerializer},
        summary="A product by slug (inactive ones: staff only)",
        tags=["products"],
        auth=OPTIONAL_TOKEN,
    )
    def get(self, request: Request, slug: str) -> HttpResponse:
        return _product_detail(request, slug=slug)


class ProductDeactivateApi(CatalogApi):
    @extend_schema(
        request=None,
        responses={200: ProductDetailOutputSerializer},
        summary="Deactivate a product: hidden from the catalog and new orders (staff)",
        tags=["products"],
    )
    def post(self, request: Request, product_id: int) -> HttpResponse:
        services.product_deactivate(product=_product_or_404(product_id))
        return _product_response(product_id)


class StockAdjustApi(CatalogApi):
    @staff_write(
        "Adjust stock: set it or add to it, with a reason (staff; writes the ledger)",
        body=StockAdjustInputSerializer,
        answer=StockChangeOutputSerializer,
        conflict="Not enough stock for this decrement.",
        tag="stock",
    )
    def post(self, request: Request, product_id: int) -> HttpResponse:
        _product_or_404(product_id)
        data = valid_body(StockAdjustInputSerializer, request)
        change = services.stock_adjust(product_id=product_id, **data, actor=self.actor(request))
        row = selectors.product_detail(id=product_id, include_inactive=True)
        assert row is not None  # locked and changed in this request
        movement = movement_json(change.movement) if change.movement else None
        return json_response({"product": product_json(row, detail=True), "movement": movement})


class MovementPagination(CursorPagination):
    ordering = ("-created_at", "-id")


class StockMovementCollectionApi(CatalogApi):
    permission_classes = (HasRole.of(*roles.LEDGER_READERS),)
    query_parameters = PAGE_PARAMETERS

    @extend_schema(
        responses={
            200: page_of(StockMovementOutputSerializer(many=True), "StockMovementPage"),
            **BAD_QUERY,
        },
        summary="The stock ledger of a product, newest first (staff)",
        tags=["stock"],
    )
    def get(self, request: Request, product_id: int) -> Response:
        _product_or_404(product_id)
        paginator = MovementPagination()
        page = paginator.paginate_queryset(
            selectors.stock_movements(product_id=product_id), request, view=self
        )
        return paginator.get_paginated_response([movement_json(m) for m in page or []])


# --- categories ----------------------------------------------------------------------------


class CategoryCollectionApi(CatalogApi):
    query_parameters = PAGE_PARAMETERS

    @extend_schema(
        responses={200: page_of(CategoryOutputSerializer(many=True), "CategoryPage"), **BAD_QUERY},
        summary="List categories by name (cursor pages)",
        operation_id="catalog_categories_list",
        tags=["categories"],
        auth=[],
    )
    def get(self, request: Request) -> HttpResponse:
        page = CATEGORIES.paginate(request, selectors.category_list(), "name")
        return page_response(page, category_json)

    @staff_write(
        "Create a category (staff)",
        body=CategoryInputSerializer,
        answer=(201, CategoryOutputSerializer),
        conflict="The slug is already taken.",
        tag="categories",
    )
    def post(self, request: Request) -> HttpResponse:
        data = valid_body(CategoryInputSerializer, request)
        category = services.category_create(**data)
        return _category_response(category, status.HTTP_201_CREATED)


def _category_response(category: Category, status_code: int = 200) -> HttpResponse:
    row = {
        "id": category.pk,
        "name": category.name,
        "slug": category.slug,
        "parent_id": category.parent_id,
        "parent__slug": category.parent.slug if category.parent else None,
    }
    return json_response(category_json(row), status_code)


class CategoryTreeDetailApi(CatalogApi):
    @extend_schema(
        responses={200: CategoryTreeSerializer(many=True)},
        summary="Every category, nested under its parent",
        tags=["categories"],
        auth=[],
    )
    def get(self, request: Request) -> HttpResponse:
        return json_response(selectors.category_tree())


class CategoryDetailApi(CatalogApi):
    def _category(self, category_id: int) -> Category:
        category = selectors.category_get(category_id=category_id)
        if category is None:
            raise Http404
        return category

    @extend_schema(responses={200: CategoryOutputSerializer}, tags=["categories"], auth=[])
    def get(self, request: Request, category_id: int) -> HttpResponse:
        return _category_response(self._category(category_id))

    @staff_write(
        "Rename or move a category (staff)",
        body=CategoryInputSerializer,
        answer=CategoryOutputSerializer,
        conflict="The slug is already taken.",
        tag="categories",
    )
    def patch(self, request: Request, category_id: int) -> HttpResponse:
        category = self._category(category_id)
        data = valid_body(CategoryInputSerializer, request, partial=True)
        services.category_update(category=category, data=data)
        return _category_response(category)

    @extend_schema(
        responses={
            204: None,
            **problem_response(409, "The category still has products or sub-categories."),
        },
        summary="Delete an empty category (staff)",
        tags=["categories"],
    )
    def delete(self, request: Request, category_id: int) -> Response:
        services.category_delete(category=self._category(category_id))
        return Response(status=status.HTTP_204_NO_CONTENT)
