"""Public product reads: filters, search, ordering, keyset pages, active-only, detail."""

from __future__ import annotations

import base64
import json
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
from rest_framework.test import APIClient

from catalog.models import Product
from tests.factories import CategoryFactory, ProductFactory
from tests.utils import PRODUCTS, assert_problem, ids, product_json

pytestmark = pytest.mark.django_db


def detail_url(product: Product) -> str:
    return f"{PRODUCTS}{product.pk}"


# --- list: shape and active-only -------------------------------------------------------------


def test_list_renders_each_product_and_hides_inactive_ones(api_client: APIClient):
    shirts = CategoryFactory(name="Shirts", slug="shirts")
    shirt = ProductFactory(name="Oxford shirt", category=shirts, price=Decimal("39.90"), stock=3)
    sold_out = ProductFactory(name="Linen shirt", stock=0)
    ProductFactory(name="Flannel shirt", is_active=False)

    response = api_client.get(PRODUCTS)

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response.json() == {
        "next": None,
        "previous": None,
        "results": [product_json(sold_out), product_json(shirt)],
    }
    assert response.json()["results"][1]["category"] == {
        "id": shirts.pk,
        "slug": "shirts",
        "name": "Shirts",
    }
    assert response.json()["results"][0]["in_stock"] is False


def test_empty_list(api_client: APIClient):
    response = api_client.get(PRODUCTS)

    assert response.status_code == 200
    assert response.json() == {"next": None, "previous": None, "results": []}


# --- filters ---------------------------------------------------------------------------------


def test_category_filter_includes_every_sub_category_level(api_client: APIClient):
    clothing = CategoryFactory(slug="clothing")
    shirts = CategoryFactory(slug="shirts", parent=clothing)
    flannel = CategoryFactory(slug="flannel", parent=shirts)
    shoes = CategoryFactory(slug="shoes")
    in_root = ProductFactory(name="a", category=clothing)
    in_child = ProductFactory(name="b", category=shirts)
    in_grandchild = ProductFactory(name="c", category=flannel)
    ProductFactory(name="d", category=shoes)
    ProductFactory(name="e", category=None)
    ProductFactory(name="f", category=shirts, is_active=False)

    assert ids(api_client.get(PRODUCTS, {"category": "clothing"})) == [
        in_root.pk,
        in_child.pk,
        in_grandchild.pk,
    ]
    assert ids(api_client.get(PRODUCTS, {"category": "shirts"})) == [in_child.pk, in_grandchild.pk]
    assert ids(api_client.get(PRODUCTS, {"category": "flannel"})) == [in_grandchild.pk]


def test_category_filter_with_an_empty_category_is_an_empty_page(api_client: APIClient):
    CategoryFactory(slug="empty")
    ProductFactory()

    response = api_client.get(PRODUCTS, {"category": "empty"})

    assert response.json() == {"next": None, "previous": None, "results": []}


def test_price_filters_are_inclusive(api_client: APIClient):
    cheap = ProductFactory(name="a", price=Decimal("5.00"))
    middle = ProductFactory(name="b", price=Decimal("10.00"))
    dear = ProductFactory(name="c", price=Decimal("20.00"))

    assert ids(api_client.get(PRODUCTS, {"min_price": "10"})) == [middle.pk, dear.pk]
    assert ids(api_client.get(PRODUCTS, {"max_price": "10.00"})) == [cheap.pk, middle.pk]
    assert ids(api_client.get(PRODUCTS, {"min_price": "5.01", "max_price": "19.99"})) == [middle.pk]
    assert ids(api_client.get(PRODUCTS, {"min_price": "10", "max_price": "10"})) == [middle.pk]


def test_in_stock_filter(api_client: APIClient):
    available = ProductFactory(name="a", stock=1)
    sold_out = ProductFactory(name="b", stock=0)

    assert ids(api_client.get(PRODUCTS, {"in_stock": "true"})) == [available.pk]
    assert ids(api_client.get(PRODUCTS, {"in_stock": "false"})) == [sold_out.pk]
    assert ids(api_client.get(PRODUCTS)) == [available.pk, sold_out.pk]


def test_filters_combine(api_client: APIClient):
    home = CategoryFactory(slug="home")
    match = ProductFactory(name="a", category=home, price=Decimal("15"), stock=2)
    ProductFactory(name="b", category=home, price=Decimal("15"), stock=0)
    ProductFactory(name="c", category=home, price=Decimal("50"), stock=2)
    ProductFactory(name="d", price=Decimal("15"), stock=2)

    response = api_client.get(PRODUCTS, {"category": "home", "max_price": "20", "in_stock": "true"})

    assert ids(response) == [match.pk]


# --- full-text search (PostgreSQL tsvector) -----------------------------------------------


@pytest.fixture
def searchable() -> dict[str, Product]:
    return {
        "kettle": ProductFactory(
            name="Stovetop Kettle", sku="KT-100", description="Brushed steel, whistling lid."
        ),
        "knife": ProductFactory(
            name="Chef Knife", sku="KN-200", description="Forged carbon steel blade."
        ),
        "boots": ProductFactory(
            name="Hiking Boots", sku="HB-300", description="Waterproof leather uppers."
        ),
        "hidden": ProductFactory(
            name="Hidden Kettle", sku="KT-999", description="steel", is_active=False
        ),
    }


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ("kettle", ["kettle"]),  # name
        ("KETTLES", ["kettle"]),  # stemmed, case-insensitive
        ("kn-200", ["knife"]),  # sku
        ("waterproof", ["boots"]),  # description
        ("steel", ["knife", "kettle"]),  # ordered by name
        ("steel -knife", ["kettle"]),  # web-search "not"
        ('"carbon steel"', ["knife"]),  # phrase
        ("kettle or boots", ["boots", "kettle"]),
        ("steel leather", []),  # every word must match
        ("nothing-like-it", []),
        ("the", []),  # only a stop word
        ("'\":*&|!() <-> \\", []),  # tsquery syntax is not interpreted
    ],
)
def test_search_matches_name_sku_and_description(
    api_client: APIClient, searchable: dict[str, Product], q: str, expected: list[str]
):
    response = api_client.get(PRODUCTS, {"q": q})

    assert response.status_code == 200
    assert ids(response) == [searchable[key].pk for key in expected]


def test_search_document_follows_updates(api_client: APIClient, searchable: dict[str, Product]):
    Product.objects.filter(pk=searchable["boots"].pk).update(description="Now with a kettle.")

    assert ids(api_client.get(PRODUCTS, {"q": "kettle"})) == [
        searchable["boots"].pk,
        searchable["kettle"].pk,
    ]


def test_search_combines_with_filters(api_client: APIClient, searchable: dict[str, Product]):
    response = api_client.get(PRODUCTS, {"q": "steel", "in_stock": "true", "ordering": "-name"})

    assert ids(response) == [searchable["kettle"].pk, searchable["knife"].pk]


# --- ordering --------------------------------------------------------------------------------


@pytest.fixture
def ordered() -> list[Product]:
    # Created in this order (created_at one minute apart); names and prices shuffled, with
    # a tie on price so the id tie-breaker shows.
    return [
        ProductFactory(name="charlie", price=Decimal("20.00")),
        ProductFactory(name="alpha", price=Decimal("30.00")),
        ProductFactory(name="delta", price=Decimal("10.00")),
        ProductFactory(name="bravo", price=Decimal("20.00")),
    ]


@pytest.mark.parametrize(
    ("ordering", "expected"),
    [
        (None, [1, 3, 0, 2]),
        ("name", [1, 3, 0, 2]),
        ("-name", [2, 0, 3, 1]),
        ("price", [2, 0, 3, 1]),
        ("-price", [1, 3, 0, 2]),
        ("newest", [3, 2, 1, 0]),
        ("oldest", [0, 1, 2, 3]),
    ],
)
def test_ordering(
    api_client: APIClient, ordered: list[Product], ordering: str | None, expected: list[int]
):
    params = {"ordering": ordering} if ordering else {}

    response = api_client.get(PRODUCTS, params)

    assert response.status_code == 200
    assert ids(response) == [ordered[i].pk for i in expected]


def test_unknown_ordering_is_400(api_client: APIClient):
    response = api_client.get(PRODUCTS, {"ordering": "stock"})

    assert_problem(
        response,
        400,
        "validation-error",
        errors=[
            {
                "field": "ordering",
                "code": "invalid_choice",
                "message": '"stock" is not a valid choice.',
            }
        ],
    )


# --- keyset pagination -----------------------------------------------------------------------


@pytest.fixture
def seven() -> list[Product]:
    """Seven products; by price (two ties on price broken by id): p0 .. p6."""
    prices = ["1.00", "2.00", "2.00", "3.00", "4.00", "4.00", "5.00"]
    return [ProductFactory(name=f"n{9 - i}", price=Decimal(p)) for i, p in enumerate(prices)]


def page(client: APIClient, url: str, **params: str):
    response = client.get(url, params) if params else client.get(url)
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.parametrize("ordering", ["price", "-price", "name", "-name", "newest", "oldest"])
def test_pages_walk_forward_and_back_in_every_ordering(
    api_client: APIClient, seven: list[Product], ordering: str
):
    everything = [item["id"] for item in page(api_client, PRODUCTS, ordering=ordering)["results"]]
    assert sorted(everything) == sorted(p.pk for p in seven)

    first = page(api_client, PRODUCTS, ordering=ordering, page_size="3")
    second = page(api_client, first["next"])
    third = page(api_client, second["next"])
    back = page(api_client, third["previous"])
    front = page(api_client, back["previous"])

    assert [item["id"] for item in first["results"]] == everything[0:3]
    assert first["previous"] is None
    assert [item["id"] for item in second["results"]] == everything[3:6]
    assert [item["id"] for item in third["results"]] == everything[6:7]
    assert third["next"] is None
    assert third["previous"] is not None
    assert back["results"] == second["results"]
    assert back["next"] is not None
    assert front["results"] == first["results"]
    assert front["previous"] is None
    assert page(api_client, front["next"])["results"] == second["results"]


def test_next_link_keeps_filters_and_page_size(api_client: APIClient, seven: list[Product]):
    first = page(api_client, PRODUCTS, ordering="price", min_price="2", page_size="2")

    link = urlsplit(first["next"])
    assert (link.scheme, link.path) == ("https", PRODUCTS)
    query = parse_qs(link.query)
    assert {name: query[name] for name in ("min_price", "ordering", "page_size")} == {
        "min_price": ["2"],
        "ordering": ["price"],
        "page_size": ["2"],
    }
    assert [item["id"] for item in first["results"]] == [seven[1].pk, seven[2].pk]
    second = page(api_client, first["next"])
    assert [item["id"] for item in second["results"]] == [seven[3].pk, seven[4].pk]


def test_a_page_that_ends_exactly_at_the_last_row_has_no_next(
    api_client: APIClient, seven: list[Product]
):
    first = page(api_client, PRODUCTS, ordering="price", page_size="4")
    last = page(api_client, first["next"])

    assert len(last["results"]) == 3
    assert last["next"] is None


def test_page_size_default_is_20(api_client: APIClient):
    ProductFactory.create_batch(21)

    first = page(api_client, PRODUCTS)

    assert len(first["results"]) == 20
    assert first["next"] is not None
    assert len(page(api_client, first["next"])["results"]) == 1


@pytest.mark.parametrize(("size", "expected"), [("1", 1), ("100", 100), ("101", 100)])
def test_page_size_bounds(api_client: APIClient, size: str, expected: int):
    ProductFactory.create_batch(101)

    assert len(page(api_client, PRODUCTS, page_size=size)["results"]) == expected


@pytest.mark.parametrize("size", ["0", "-1", "ten", "2.5", ""])
def test_invalid_page_size_is_400(api_client: APIClient, size: str):
    response = api_client.get(PRODUCTS, {"page_size": size})

    body = assert_problem(response, 400, "validation-error")
    assert [item["field"] for item in body["errors"]] == ["page_size"]


def cursor(payload: object) -> str:
    raw = json.dumps(payload).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "value",
    [
        "garbage!",
        "e30",  # {}
        cursor(["price", ["1.00", 1], False]),
        cursor({"o": "price", "k": ["one", 1], "r": False}),
        cursor({"o": "price", "k": ["1.00"], "r": False}),
        cursor({"o": "price", "k": ["1.00", "x"], "r": False}),
        cursor({"o": "price", "k": ["1.00", 1], "r": "no"}),
        cursor({"o": "price", "k": [None, 1], "r": False}),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_malformed_cursor_is_400(api_client: APIClient, value: str):
    ProductFactory()

    response = api_client.get(PRODUCTS, {"ordering": "price", "cursor": value})

    assert_problem(
        response,
        400,
        "validation-error",
        errors=[{"field": "cursor", "code": "invalid", "message": "Invalid cursor."}],
    )


@pytest.mark.parametrize(
    ("ordering", "key"),
    [
        ("name", ["Lamp\u0000", 1]),  # PostgreSQL refuses NUL in text: was a 500
        ("newest", ["2026-01-01T10:00:00", 1]),  # no offset: was a naive-datetime warning
        ("price", [1.5, 1]),  # links carry strings
        ("price", ["1.00", True]),
    ],
)
def test_cursor_values_links_never_make_are_400(api_client: APIClient, ordering: str, key):
    ProductFactory()

    value = cursor({"o": ordering, "k": key, "r": False})
    response = api_client.get(PRODUCTS, {"ordering": ordering, "cursor": value})

    assert_problem(
        response,
        400,
        "validation-error",
        errors=[{"field": "cursor", "code": "invalid", "message": "Invalid cursor."}],
    )


def test_cursor_of_another_ordering_is_400(api_client: APIClient, seven: list[Product]):
    first = page(api_client, PRODUCTS, ordering="price", page_size="2")
    token = first["next"].split("cursor=")[1].split("&")[0]

    response = api_client.get(PRODUCTS, {"ordering": "-price", "cursor": token})

    assert_problem(
        response,
        400,
        "validation-error",
        errors=[{"field": "cursor", "code": "invalid", "message": "Invalid cursor."}],
    )


def test_a_cursor_past_the_end_is_an_empty_page(api_client: APIClient):
    token = cursor({"o": "price", "k": ["999.00", 10**9], "r": False})
    ProductFactory(price=Decimal("1.00"))

    response = api_client.get(PRODUCTS, {"ordering": "price", "cursor": token})

    assert response.json() == {"next": None, "previous": None, "results": []}


# --- detail ----------------------------------------------------------------------------------


def test_detail_by_id_and_by_slug(api_client: APIClient):
    category = CategoryFactory()
    product = ProductFactory(slug="oxford-shirt", description="Blue.", category=category)

    by_id = api_client.get(f"{PRODUCTS}{product.pk}")
    by_slug = api_client.get(f"{PRODUCTS}by-slug/oxford-shirt")

    assert by_id.status_code == 200
    assert by_id.json() == product_json(product, detail=True)
    assert by_slug.status_code == 200
    assert by_slug.json() == by_id.json()


@pytest.mark.parametrize("path", ["999999", "by-slug/no-such-product"])
def test_unknown_product_is_404(api_client: APIClient, path: str):
    response = api_client.get(f"{PRODUCTS}{path}")

    assert_problem(response, 404, "not-found", detail="No resource matches the request.", errors=[])


@pytest.mark.parametrize("by", ["id", "slug"])
def test_inactive_product_is_404_for_anonymous_and_users_200_for_staff(
    api_client: APIClient, user_client: APIClient, staff_client: APIClient, by: str
):
    product = ProductFactory(slug="retired", is_active=False)
    url = f"{PRODUCTS}{product.pk}" if by == "id" else f"{PRODUCTS}by-slug/retired"

    assert_problem(api_client.get(url), 404, "not-found", errors=[])
    assert_problem(user_client.get(url), 404, "not-found", errors=[])
    response = staff_client.get(url)
    assert response.status_code == 200
    assert response.json() == product_json(product, detail=True)
    assert response.json()["is_active"] is False


def test_reads_do_not_verify_a_token_they_do_not_need(api_client: APIClient):
    # Public reads are lazy: a stale token on a public page is not a 401 (the gateway and
    # the writes check it); only an inactive product makes the view look at the user.
    product = ProductFactory()
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")

    assert api_client.get(f"{PRODUCTS}{product.pk}").status_code == 200
    assert api_client.get(PRODUCTS).status_code == 200
    inactive = ProductFactory(is_active=False)
    assert_problem(api_client.get(f"{PRODUCTS}{inactive.pk}"), 401, "token-not-valid")


# --- writes: permissions ---------------------------------------------------------------------


def write_requests(product: Product) -> list[tuple[str, str, dict[str, object] | None]]:
    return [
        ("post", PRODUCTS, {"sku": "NEW-1", "name": "New", "price": "1.00"}),
        ("patch", f"{PRODUCTS}{product.pk}", {"name": "Renamed"}),
        ("post", f"{PRODUCTS}{product.pk}/deactivate", None),
    ]


def test_product_writes_need_a_token_then_staff(api_client: APIClient, user_client: APIClient):
    product = ProductFactory(name="Original")
    for method, url, body in write_requests(product):
        anonymous = getattr(api_client, method)(url, body)
        user = getattr(user_client, method)(url, body)

        assert_problem(anonymous, 401, "not-authenticated", errors=[])
        assert anonymous["WWW-Authenticate"] == 'Bearer realm="api"'
        assert_problem(user, 403, "permission-denied", errors=[])
    assert list(Product.objects.values_list("name", "is_active")) == [("Original", True)]


# --- writes: staff ---------------------------------------------------------------------------


def test_staff_creates_a_product_with_defaults(staff_client: APIClient):
    response = staff_client.post(PRODUCTS, {"sku": "KT-1", "name": "Kettle", "price": "24.50"})

    assert response.status_code == 201
    product = Product.objects.get()
    assert response["Location"] == f"{PRODUCTS}{product.pk}"
    assert response.json() == product_json(product, detail=True)
    assert (product.slug, product.currency, product.stock, product.is_active) == (
        "kettle-kt-1",
        "EUR",
        0,
        True,
    )
    assert product.description == ""
    assert product.category is None
    assert not product.movements.exists()


def test_staff_creates_a_product_with_every_field(staff_client: APIClient):
    CategoryFactory(slug="kitchen")

    response = staff_client.post(
        PRODUCTS,
        {
            "sku": "KT-2",
            "name": "Kettle",
            "slug": "the-kettle",
            "description": "Whistles.",
            "price": "24.5",
            "currency": "USD",
            "category": "kitchen",
            "stock": 12,
            "is_active": False,
        },
    )

    assert response.status_code == 201
    product = Product.objects.get()
    assert response.json() == product_json(product, detail=True)
    assert response.json()["price"] == "24.50"
    assert (product.slug, product.currency, product.stock, product.is_active) == (
        "the-kettle",
        "USD",
        12,
        False,
    )
    assert product.category.slug == "kitchen"
    # The initial stock is the ledger's first movement, by the staff member.
    assert list(product.movements.values_list("delta", "stock_after", "reason", "actor")) == [
        (12, 12, "initial", "user:7d0c6f7e-5b1a-4a43-9d64-0a1f6f1b0001")
    ]


def test_staff_updates_a_product(staff_client: APIClient):
    CategoryFactory(slug="kitchen")
    product = ProductFactory(name="Old", price=Decimal("1.00"), stock=4)

    response = staff_client.patch(
        f"{PRODUCTS}{product.pk}", {"name": "New", "price": "2.25", "category": "kitchen"}
    )

    assert response.status_code == 200
    product.refresh_from_db()
    assert (product.name, product.price, product.category.slug, product.stock) == (
        "New",
        Decimal("2.25"),
        "kitchen",
        4,
    )
    assert response.json() == product_json(product, detail=True)


def test_staff_update_cannot_touch_stock(staff_client: APIClient):
    product = ProductFactory(stock=4)

    response = staff_client.patch(f"{PRODUCTS}{product.pk}", {"stock": 100})

    assert_problem(
        response,
        400,
        "validation-error",
        errors=[{"field": "stock", "code": "unknown_field", "message": "Unknown field."}],
    )
    product.refresh_from_db()
    assert product.stock == 4


def test_products_cannot_be_deleted_through_the_api_only_deactivated(staff_client: APIClient):
    """A deletion would emit nothing, and orders would keep accepting the product."""
    product = ProductFactory()

    response = staff_client.delete(f"{PRODUCTS}{product.pk}")

    assert_problem(response, 405, "method-not-allowed")
    assert Product.objects.filter(pk=product.pk, is_active=True).exists()


def test_staff_deactivates_a_product_idempotently(staff_client: APIClient, api_client: APIClient):
    product = ProductFactory()
    url = f"{PRODUCTS}{product.pk}/deactivate"

    first = staff_client.post(url)
    second = staff_client.post(url)

    assert first.status_code == second.status_code == 200
    product.refresh_from_db()
    assert product.is_active is False
    assert first.json()["is_active"] is False
    assert second.json() == product_json(product, detail=True)
    assert ids(api_client.get(PRODUCTS)) == []


def test_staff_reactivates_a_product(staff_client: APIClient, api_client: APIClient):
    product = ProductFactory(is_active=False)

    response = staff_client.patch(f"{PRODUCTS}{product.pk}", {"is_active": True})

    assert response.status_code == 200
    assert ids(api_client.get(PRODUCTS)) == [product.pk]


@pytest.mark.parametrize("method", ["patch", "post"])
def test_writes_on_an_unknown_product_are_404(staff_client: APIClient, method: str):
    url = f"{PRODUCTS}999999" + ("/deactivate" if method == "post" else "")

    assert_problem(getattr(staff_client, method)(url, {}), 404, "not-found", errors=[])
