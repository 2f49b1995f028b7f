"""The staff admin at /admin/orders/: orders are read-only and change only through the
status machine (the cancel / ship actions); events have their own pages."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from chassis.events.models import InboxEvent, OutboxEvent, ParkedEvent
from chassis.pytest_plugin import HTTPS, STAFF_ID
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission, User
from django.test import Client

from orders.models import Order, Product, Status
from tests.events import outbox
from tests.factories import ProductFactory, order_with_lines

ADMIN = "/admin/orders/"
ORDERS = f"{ADMIN}orders/order/"
PRODUCTS = f"{ADMIN}orders/product/"
EVENTS = f"{ADMIN}chassis_events/"

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("collected_static")]


@pytest.fixture
def admin() -> Client:
    client = Client(**HTTPS)
    client.force_login(User.objects.create_superuser("root", "root@example.com", "unused-pw-1"))
    return client


def listed(response: Any) -> list[Any]:
    assert response.status_code == 200, response.content
    return list(response.context["cl"].result_list)


def messages(response: Any) -> list[tuple[str, str]]:
    return [(m.level_tag, m.message) for m in response.context["messages"]]


def act(client: Client, action: str, *orders: Order) -> Any:
    return client.post(
        ORDERS,
        # "confirm": on the action's confirmation page (chassis.backoffice)
        {"action": action, ACTION_CHECKBOX_NAME: [str(o.pk) for o in orders], "confirm": "yes"},
        follow=True,
    )


# --- access ---------------------------------------------------------------------------------


def test_anonymous_is_sent_to_the_login_page(client: Client):
    response = client.get(ORDERS)

    assert response.status_code == 302
    assert response["Location"] == f"{ADMIN}login/?next={ORDERS}"


def test_the_index_names_the_service(admin: Client):
    response = admin.get(ADMIN)

    assert response.status_code == 200
    assert b"orders-service administration" in response.content


def test_login_guesses_are_throttled_per_account(settings):
    """The admin login form is chassis.admin.LoginForm: 2/min for one account here, from any
    address, then the form says how long to wait."""
    User.objects.create_superuser("root", "root@example.com", "a-Local-password-9")
    rates = {**settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], "login-account": "2/min"}
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}

    def attempt(password: str, address: str):
        client = Client(REMOTE_ADDR=address, **HTTPS)
        return client.post(f"{ADMIN}login/", {"username": "root", "password": password})

    guesses = [attempt("guess", f"198.51.100.{n}") for n in range(2)]
    third = attempt("a-Local-password-9", "203.0.113.9")

    assert [r.status_code for r in guesses] == [200, 200]
    [message] = third.context["form"].non_field_errors()
    assert message.startswith("Too many attempts, try again in ")


# --- orders ---------------------------------------------------------------------------------


def test_the_changelist_filters_by_status(admin: Client, lamp: Product):
    pending = order_with_lines((lamp, 1))
    confirmed = order_with_lines((lamp, 1), status=Status.CONFIRMED)
    shipped = order_with_lines((lamp, 1), status=Status.SHIPPED)

    assert listed(admin.get(ORDERS)) == [shipped, confirmed, pending]
    assert listed(admin.get(ORDERS, {"status__exact": "PENDING"})) == [pending]
    assert listed(admin.get(ORDERS, {"status__exact": "SHIPPED"})) == [shipped]
    assert listed(admin.get(ORDERS, {"q": str(confirmed.pk)})) == [confirmed]
    assert listed(admin.get(ORDERS, {"q": "buyer@example"})) == [shipped, confirmed, pending]
    assert listed(admin.get(ORDERS, {"q": STAFF_ID})) == []


def test_the_detail_shows_the_lines_read_only(admin: Client, lamp: Product, kettle: Product):
    order = order_with_lines((lamp, 2), (kettle, 1))

    response = admin.get(f"{ORDERS}{order.pk}/change/")

    assert response.status_code == 200
    assert response.context["has_change_permission"] is False
    (inline,) = response.context["inline_admin_formsets"]
    assert inline.formset.prefix == "lines"
    assert (inline.has_add_permission, inline.has_change_permission) == (False, False)
    assert inline.has_delete_permission is False
    assert len(inline.formset.forms) == 2
    assert set(inline.readonly_fields) == {
        "product_id",
        "sku",
        "name",
        "unit_price",
        "quantity",
        "line_total",
    }
    assert b"LAMP-1" in response.content
    assert b"KETTLE-1" in response.content


def test_orders_cannot_be_added_edited_or_deleted(admin: Client, lamp: Product):
    order = order_with_lines((lamp, 1))

    assert admin.get(f"{ORDERS}add/").status_code == 403
    assert admin.post(f"{ORDERS}{order.pk}/change/", {"status": "SHIPPED"}).status_code == 403
    assert admin.post(f"{ORDERS}{order.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Order.objects.get().status == Status.PENDING


def test_the_cancel_action_cancels_open_orders_and_warns_for_closed_ones(
    admin: Client, lamp: Product
):
    pending = order_with_lines((lamp, 1))
    shipped = order_with_lines((lamp, 1), status=Status.SHIPPED)

    response = act(admin, "cancel_orders", pending, shipped)

    assert response.status_code == 200
    assert messages(response) == [
        ("info", "1 order(s) changed."),
        (
            "warning",
            f"order {shipped.pk} (SHIPPED): An order that is SHIPPED cannot become CANCELLED.",
        ),
    ]
    logged = LogEntry.objects.get()  # the admin log: the change made, not the one refused
    assert (logged.object_id, logged.action_flag) == (str(pending.pk), CHANGE)
    assert logged.get_change_message() == "Cancel the selected orders (releases their stock)"
    pending.refresh_from_db()
    assert (pending.status, pending.cancel_reason) == (
        Status.CANCELLED,
        "Cancelled by staff (root).",
    )
    assert Order.objects.get(pk=shipped.pk).status == Status.SHIPPED
    assert outbox("order.cancelled") == [
        {
            "order_id": str(pending.pk),
            "user_id": pending.user_id,
            "reason": "Cancelled by staff (root).",
        }
    ]


def test_the_ship_action_ships_confirmed_orders(admin: Client, lamp: Product):
    confirmed = order_with_lines((lamp, 1), status=Status.CONFIRMED)
    pending = order_with_lines((lamp, 1))

    response = act(admin, "ship_orders", confirmed, pending)

    assert messages(response) == [
        ("info", "1 order(s) changed."),
        (
            "warning",
            f"order {pending.pk} (PENDING): An order that is PENDING cannot become SHIPPED.",
        ),
    ]
    assert dict(Order.objects.values_list("pk", "status")) == {
        confirmed.pk: Status.SHIPPED,
        pending.pk: Status.PENDING,
    }


def test_staff_who_may_only_view_get_no_actions(lamp: Product):
    viewer = User.objects.create_user("viewer", "v@example.com", "unused-pw-1", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_order"))
    client = Client(**HTTPS)
    client.force_login(viewer)
    order = order_with_lines((lamp, 1))

    response = client.get(ORDERS)
    posted = act(client, "cancel_orders", order)

    assert listed(response) == [order]
    assert response.context["action_form"] is None
    assert posted.status_code == 200
    assert Order.objects.get().status == Status.PENDING


# --- the product read model -----------------------------------------------------------------


def test_the_read_model_is_view_only(admin: Client):
    product = ProductFactory(sku="LAMP-9", name="Lamp")

    assert listed(admin.get(PRODUCTS, {"q": "LAMP-9"})) == [product]
    assert admin.get(f"{PRODUCTS}{product.pk}/change/").status_code == 200
    assert admin.get(f"{PRODUCTS}add/").status_code == 403
    assert admin.post(f"{PRODUCTS}{product.pk}/change/", {"name": "x"}).status_code == 403
    assert Product.objects.get().name == "Lamp"


# --- events ---------------------------------------------------------------------------------


def test_the_event_pages_load(admin: Client):
    outboxed = OutboxEvent.objects.create(
        type="order.placed", producer="orders", payload={"order_id": "x"}
    )
    handled = InboxEvent.objects.create(
        event_id=uuid.uuid4(), type="stock.reserved", producer="catalog"
    )
    parked = ParkedEvent.objects.create(
        event_id=uuid.uuid4(),
        type="stock.reserved",
        envelope={"type": "stock.reserved"},
        error="KeyError: 'lines'",
        attempts=6,
    )

    assert listed(admin.get(f"{EVENTS}outboxevent/", {"published": "no"})) == [outboxed]
    assert listed(admin.get(f"{EVENTS}inboxevent/")) == [handled]
    response = admin.get(f"{EVENTS}parkedevent/")
    assert listed(response) == [parked]
    assert [name for name, _ in response.context["action_form"].fields["action"].choices] == [
        "",
        "redrive_events",
    ]
    assert admin.get(f"{EVENTS}parkedevent/{parked.pk}/change/").status_code == 200
