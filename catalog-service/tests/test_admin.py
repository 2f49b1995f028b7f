"""The staff admin at /admin/catalog/: writes go through the services and the ledger."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from chassis.pytest_plugin import HTTPS
from chassis.testing import IdentityServer, TokenSigner, chassis_with
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import User
from django.test import Client

from catalog import services
from catalog.models import Category, Product, StockMovement
from tests.events import outbox
from tests.factories import CategoryFactory, ProductFactory
from tests.utils import assert_ledger_consistent

ADMIN = "/admin/catalog/"
PRODUCTS = f"{ADMIN}catalog/product/"
CATEGORIES = f"{ADMIN}catalog/category/"
MOVEMENTS = f"{ADMIN}catalog/stockmovement/"
INLINE = {
    "movements-TOTAL_FORMS": "0",
    "movements-INITIAL_FORMS": "0",
    "movements-MIN_NUM_FORMS": "0",
    "movements-MAX_NUM_FORMS": "1000",
}

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("collected_static")]


@pytest.fixture
def admin() -> Client:
    client = Client(**HTTPS)
    client.force_login(User.objects.create_superuser("root", "root@example.com", "unused-pw-1"))
    return client


def product_form(**values: str) -> dict[str, str]:
    return {
        "sku": "LAMP-1",
        "name": "Desk Lamp",
        "slug": "desk-lamp",
        "description": "",
        "price": "19.90",
        "currency": "EUR",
        "category": "",
        "is_active": "on",
        "stock_change": "",
        "stock_reason": "restock",
        **INLINE,
        **values,
    }


def names(response) -> list[str]:
    return [product.name for product in response.context["cl"].result_list]


# --- access ----------------------------------------------------------------------------------


def test_anonymous_is_sent_to_the_login_page(client: Client):
    response = client.get(PRODUCTS)

    assert response.status_code == 302
    assert response["Location"] == f"{ADMIN}login/?next={PRODUCTS}"


def test_staff_logs_in_with_a_local_superuser(client: Client):
    User.objects.create_superuser("root", "root@example.com", "a-Local-password-9")

    response = client.post(
        f"{ADMIN}login/?next={ADMIN}", {"username": "root", "password": "a-Local-password-9"}
    )

    assert response.status_code == 302
    assert response["Location"] == ADMIN
    index = client.get(ADMIN)
    assert index.status_code == 200
    assert b"catalog-service administration" in index.content


# --- login throttles (chassis.admin.LoginForm) ----------------------------------------------


@pytest.fixture
def identity(settings) -> Iterator[IdentityServer]:
    """users-service's token endpoint and keys, for the single sign-on; the gateway's
    network (10.0.0.0/24) trusted."""
    server = IdentityServer(TokenSigner.generate("sso"), {})
    settings.CHASSIS = chassis_with(
        JWT={"JWKS_URL": server.url, "ISSUER": "users", "JWKS_TIMEOUT_SECONDS": 1},
        SSO={"TOKEN_URL": server.token_url, "TIMEOUT_SECONDS": 1},
        TRUSTED_PROXIES=["10.0.0.0/24"],
    )
    yield server
    server.stop()


def login_messages(response) -> list[str]:
    return list(response.context["form"].non_field_errors())


def test_local_login_guesses_are_throttled(settings):
    User.objects.create_superuser("root", "root@example.com", "a-Local-password-9")
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "login": "2/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    client = Client(**HTTPS)

    guess = {"username": "root", "password": "guess"}
    guesses = [client.post(f"{ADMIN}login/", guess) for _ in range(2)]
    third = client.post(f"{ADMIN}login/", {"username": "root", "password": "a-Local-password-9"})

    assert [r.status_code for r in guesses] == [200, 200]
    assert third.status_code == 200
    [message] = login_messages(third)
    assert message.startswith("Too many attempts, try again in ")


def test_users_service_refusing_for_too_many_attempts_is_said_on_the_form(identity):
    """Staff sign in through the gateway: users-service hears of their real address and,
    when it throttles them, the form says so (not "enter the correct email and password")."""
    identity.retry_after = 37
    client = Client(REMOTE_ADDR="10.0.0.254", HTTP_X_FORWARDED_FOR="198.51.100.7", **HTTPS)

    response = client.post(
        f"{ADMIN}login/", {"username": "ed@example.com", "password": "the-right-one"}
    )

    assert response.status_code == 200
    assert login_messages(response) == ["Too many attempts, try again in 37 s."]
    assert identity.logins == [("ed@example.com", "198.51.100.7")]


# --- products --------------------------------------------------------------------------------


def test_product_changelist_with_filters_and_search(admin: Client):
    shoes = CategoryFactory(name="Shoes")
    ProductFactory(name="Boot", sku="B-1", category=shoes)
    ProductFactory(name="Sandal", sku="S-1", category=shoes, is_active=False)
    ProductFactory(name="Lamp", sku="L-1", currency="USD")

    assert names(admin.get(PRODUCTS)) == ["Boot", "Lamp", "Sandal"]
    assert names(admin.get(PRODUCTS, {"is_active__exact": "0"})) == ["Sandal"]
    assert names(admin.get(PRODUCTS, {"currency": "USD"})) == ["Lamp"]
    assert names(admin.get(PRODUCTS, {"category__id__exact": shoes.pk})) == ["Boot", "Sandal"]
    assert names(admin.get(PRODUCTS, {"q": "B-1"})) == ["Boot"]  # exact SKU
    assert names(admin.get(PRODUCTS, {"q": "amp"})) == ["Lamp"]  # name contains
    assert names(admin.get(PRODUCTS, {"q": "B-"})) == []  # SKU is exact only


def test_adding_a_product_with_a_stock_change_writes_the_ledger(admin: Client):
    category = CategoryFactory()

    response = admin.post(
        f"{PRODUCTS}add/", product_form(category=str(category.pk), stock_change="12")
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    product = Product.objects.get()
    assert (product.sku, product.price, product.category, product.stock) == (
        "LAMP-1",
        Decimal("19.90"),
        category,
        12,
    )
    assert list(product.movements.values_list("delta", "stock_after", "reason", "actor")) == [
        (12, 12, "restock", "admin:root")
    ]


def test_adding_a_product_without_stock_writes_no_movement(admin: Client):
    response = admin.post(f"{PRODUCTS}add/", product_form())

    assert response.status_code == 302
    assert Product.objects.get().stock == 0
    assert not StockMovement.objects.exists()


def test_adding_a_duplicate_sku_is_a_form_error(admin: Client):
    ProductFactory(sku="LAMP-1")

    response = admin.post(f"{PRODUCTS}add/", product_form())

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "sku": ["Product with this SKU already exists."]
    }
    assert Product.objects.count() == 1


def test_removing_more_stock_than_there_is_is_a_form_error(admin: Client):
    product = services.product_create(sku="LAMP-1", name="Lamp", price=Decimal("1"), stock=2)

    response = admin.post(
        f"{PRODUCTS}{product.pk}/change/",
        product_form(slug=product.slug, stock_change="-3", stock_reason="damage"),
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "stock_change": ["Stock is 2: cannot remove more."]
    }
    product.refresh_from_db()
    assert product.stock == 2


def test_changing_a_product_and_its_stock(admin: Client):
    product = services.product_create(sku="LAMP-1", name="Lamp", price=Decimal("1"), stock=2)

    response = admin.post(
        f"{PRODUCTS}{product.pk}/change/",
        product_form(slug=product.slug, name="Big Lamp", stock_change="-2", stock_reason="damage"),
    )

    assert response.status_code == 302
    product.refresh_from_db()
    assert (product.name, product.stock) == ("Big Lamp", 0)
    assert list(product.movements.order_by("id").values_list("delta", "reason")) == [
        (2, "initial"),
        (-2, "damage"),
    ]
    assert_ledger_consistent()


def test_changing_price_and_active_from_the_list(admin: Client):
    first = ProductFactory(name="a", price=Decimal("1.00"), stock=4)
    second = ProductFactory(name="b", price=Decimal("2.00"), stock=7)

    response = admin.post(
        PRODUCTS,
        {
            "form-TOTAL_FORMS": "2",
            "form-INITIAL_FORMS": "2",
            "form-0-id": str(first.pk),
            "form-0-price": "1.50",
            "form-0-is_active": "on",
            "form-1-id": str(second.pk),
            "form-1-price": "2.00",
            "_save": "Save",
        },
    )

    assert response.status_code == 302
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.price, first.is_active, first.stock) == (Decimal("1.50"), True, 4)
    assert (second.price, second.is_active, second.stock) == (Decimal("2.00"), False, 7)


def test_products_cannot_be_deleted_only_deactivated(admin: Client):
    """Deleting a product would emit nothing and orders' read model would keep accepting it:
    the admin offers no deletion (the view, the button, the bulk action), only deactivation."""
    product = ProductFactory(name="Lamp", stock=0)

    delete_view = admin.post(f"{PRODUCTS}{product.pk}/delete/", {"post": "yes"})
    bulk_delete = admin.post(
        PRODUCTS,
        {"action": "delete_selected", "_selected_action": [str(product.pk)], "post": "yes"},
    )

    assert delete_view.status_code == 403
    assert bulk_delete.status_code == 302  # back to the list: no such action, nothing done
    actions = admin.get(PRODUCTS).context["action_form"].fields["action"].choices
    assert [name for name, _label in actions] == ["", "deactivate_products", "adjust_stock"]
    assert admin.get(f"{PRODUCTS}{product.pk}/change/").context["has_delete_permission"] is False
    assert Product.objects.filter(pk=product.pk).exists()
    assert outbox("product.changed") == []


def test_deactivating_selected_products_announces_each_to_orders(admin: Client):
    kept = ProductFactory(name="kept", stock=2)
    first = ProductFactory(name="first", stock=1)
    second = ProductFactory(name="second", stock=0)

    response = admin.post(
        PRODUCTS,
        {
            "action": "deactivate_products",
            "_selected_action": [str(first.pk), str(second.pk)],
            "confirm": "yes",  # on the action's confirmation page
        },
    )

    assert response.status_code == 302
    active = dict(Product.objects.values_list("name", "is_active"))
    assert active == {"kept": True, "first": False, "second": False}
    changed = outbox("product.changed")
    assert sorted((e["product_id"], e["is_active"]) for e in changed) == sorted(
        [(first.pk, False), (second.pk, False)]
    )
    assert kept.pk not in [e["product_id"] for e in changed]


def test_the_ledger_inline_is_read_only(admin: Client):
    product = services.product_create(sku="LAMP-1", name="Lamp", price=Decimal("1"), stock=3)

    response = admin.get(f"{PRODUCTS}{product.pk}/change/")

    assert response.status_code == 200
    (inline,) = response.context["inline_admin_formsets"]
    assert inline.formset.prefix == "movements"
    assert (inline.has_add_permission, inline.has_change_permission) == (False, False)
    assert inline.formset.can_delete is False
    assert len(inline.formset.forms) == 1
    assert set(inline.readonly_fields) == {
        "created_at",
        "delta",
        "stock_after",
        "reason",
        "reference",
        "actor",
    }
    # Posting made-up inline rows changes nothing.
    admin.post(
        f"{PRODUCTS}{product.pk}/change/",
        product_form(
            slug=product.slug,
            name="Lamp",
            **{
                "movements-TOTAL_FORMS": "1",
                "movements-0-delta": "100",
                "movements-0-stock_after": "100",
                "movements-0-reason": "restock",
            },
        ),
    )
    product.refresh_from_db()
    assert product.stock == 3
    assert product.movements.count() == 1


# --- ledger ----------------------------------------------------------------------------------


def test_stock_movement_admin_is_view_only(admin: Client):
    product = services.product_create(sku="LAMP-1", name="Lamp", price=Decimal("1"), stock=3)
    movement = product.movements.get()

    assert admin.get(MOVEMENTS).status_code == 200
    assert admin.get(MOVEMENTS, {"q": "LAMP-1"}).context["cl"].result_list[0] == movement
    assert admin.get(f"{MOVEMENTS}{movement.pk}/change/").status_code == 200  # view only
    assert admin.get(f"{MOVEMENTS}add/").status_code == 403
    assert admin.post(f"{MOVEMENTS}add/", {"delta": "1"}).status_code == 403
    assert admin.post(f"{MOVEMENTS}{movement.pk}/change/", {"delta": "9"}).status_code == 403
    assert admin.post(f"{MOVEMENTS}{movement.pk}/delete/", {"post": "yes"}).status_code == 403
    movement.refresh_from_db()
    assert movement.delta == 3


# --- categories ------------------------------------------------------------------------------


def test_adding_and_moving_categories(admin: Client):
    added = admin.post(f"{CATEGORIES}add/", {"name": "Lighting", "slug": "lighting"})
    parent = CategoryFactory(slug="home")
    category = Category.objects.get(slug="lighting")
    moved = admin.post(
        f"{CATEGORIES}{category.pk}/change/",
        {"name": "Lights", "slug": "lighting", "parent": str(parent.pk)},
    )

    assert (added.status_code, moved.status_code) == (302, 302)
    category.refresh_from_db()
    assert (category.name, category.parent) == ("Lights", parent)


def test_moving_a_category_under_its_child_is_a_form_error(admin: Client):
    root = CategoryFactory(name="Root", slug="root")
    child = CategoryFactory(parent=root)

    response = admin.post(
        f"{CATEGORIES}{root.pk}/change/",
        {"name": "Root", "slug": "root", "parent": str(child.pk)},
    )

    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "parent": ["A category cannot be placed under itself or one of its sub-categories."]
    }
    root.refresh_from_db()
    assert root.parent is None


def test_an_action_asks_for_confirmation_first_and_changes_nothing(admin: Client):
    product = ProductFactory(name="Lamp", stock=2)

    page = admin.post(
        PRODUCTS, {"action": "deactivate_products", "_selected_action": [str(product.pk)]}
    )

    assert page.status_code == 200
    assert page.templates[0].name == "admin/chassis/confirm_action.html"
    assert [str(o) for o in page.context["objects"]] == [str(product)]
    assert 'name="confirm"' in page.content.decode()
    assert Product.objects.get(pk=product.pk).is_active is True
    assert outbox("product.changed") == []


def test_adjusting_stock_of_selected_products_goes_through_the_ledger_and_the_log(admin: Client):
    lamp = services.product_create(sku="LAMP-1", name="Lamp", price=Decimal("1"), stock=3)
    desk = services.product_create(sku="DESK-1", name="Desk", price=Decimal("1"), stock=1)
    chosen = {"action": "adjust_stock", "_selected_action": [str(lamp.pk), str(desk.pk)]}

    invalid = admin.post(PRODUCTS, {**chosen, "confirm": "yes", "stock_change": "x"})
    response = admin.post(
        PRODUCTS,
        {**chosen, "confirm": "yes", "stock_change": "-2", "stock_reason": "damage"},
        follow=True,
    )

    assert invalid.context["form"].errors == {
        "stock_change": ["Enter a whole number."],
        "stock_reason": ["This field is required."],
    }
    messages = [str(m) for m in response.context["messages"]]
    assert messages[0] == "Stock adjusted for 1 product(s)."
    assert messages[1].startswith("Desk")  # 1 in stock: cannot remove 2
    assert dict(Product.objects.values_list("sku", "stock")) == {"LAMP-1": 1, "DESK-1": 1}
    assert list(lamp.movements.order_by("id").values_list("delta", "reason", "actor")) == [
        (3, "initial", ""),
        (-2, "damage", "admin:root"),
    ]
    logged = LogEntry.objects.get()
    assert (logged.object_id, logged.action_flag) == (str(lamp.pk), CHANGE)
    assert "stock_change=-2" in logged.get_change_message()
    assert_ledger_consistent()


def test_the_index_shows_low_stock_products_and_links_every_admin(admin: Client, settings):
    settings.CATALOG_LOW_STOCK = 2
    ProductFactory(stock=2)
    ProductFactory(stock=3)
    ProductFactory(stock=0, is_active=False)

    page = admin.get(ADMIN)
    listed = admin.get(f"{PRODUCTS}?low_stock=yes&is_active__exact=1")

    panel = page.context["attention"][0]
    assert (panel.title, panel.count) == ("Products at or below 2 in stock", 1)
    html = page.content.decode()
    assert f'href="{panel.url.replace("&", "&amp;")}"' in html
    for name in ("users", "catalog", "orders"):
        assert f'href="/admin/{name}/"' in html
    assert listed.context["cl"].result_count == 1
