"""The order saga on the running platform, with its real broker and workers.

Through the gateway, as clients and staff use it: orders placed with an Idempotency-Key are
CONFIRMED (or REJECTED) by catalog's stock reservation, cancelling gives the stock back, and
the stock never oversells. Then the failures the design is for, caused from outside the
services: an event delivered twice, RabbitMQ unreachable while orders are placed, a worker
killed in the middle of a handler, an event whose handler keeps failing (parked after its
retries, redriven from the admin once the cause is gone), and an event forged by another
service's broker user (parked, never applied). Deactivating an account or a product stops
orders for it.

The saga, its rejection, the oversell race and redelivery run in both modes (the machine's
PostgreSQL and RabbitMQ; the embedded SQLite and filesystem transport); the failures caused
from outside need the real servers (``needs_servers``).
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from conftest import EVENTUALLY, HTTP_TIMEOUT, REGISTRY, ROOT, RUNNER, Platform, gateway_client

sys.path.insert(0, str(ROOT / "chassis" / "src"))
from chassis.testing import WorkerProcess

FINAL = {"CONFIRMED", "REJECTED", "CANCELLED"}
PASSWORD = "a long and unusual passphrase"


@pytest.fixture(scope="module")
def staff_token(platform: Platform) -> str:
    """The demo staff account's access token (5 minutes: the saga tests take about two)."""
    return login(platform.users, "admin@example.com", platform.demo_password())


@pytest.fixture
def needs_servers(platform: Platform) -> None:
    """The failures caused from outside need the real servers: a RabbitMQ vhost whose
    permissions can be withdrawn, PostgreSQL row locks and triggers, Celery remote control
    over AMQP. The saga itself runs in both modes."""
    if platform.mode == "embedded":
        pytest.skip("needs RabbitMQ and PostgreSQL (the platform's own vhost and databases)")


@pytest.fixture
def shop(platform: Platform, staff_token: str) -> Iterator[Shop]:
    with gateway_client(platform.gateway) as client:
        yield Shop(platform, client, staff_token)


def login(base: str, email: str, password: str) -> str:
    with gateway_client(base) as client:
        token = client.post("/api/v1/auth/token", json={"email": email, "password": password})
    assert token.status_code == 200, token.text
    return token.json()["access"]


class Shop:
    """The platform as its users see it (through the gateway), plus a look at its databases.

    Buyers of the failure tests are registered at users-service directly: the gateway allows
    30 auth requests a minute per address, which the whole system suite would exceed; the
    saga's own test registers and logs in through the gateway.
    """

    def __init__(self, platform: Platform, client: httpx.Client, staff_token: str) -> None:
        self.platform = platform
        self.client = client
        self.staff = {"Authorization": f"Bearer {staff_token}"}

    # --- catalog -----------------------------------------------------------------------

    def product(self, stock: int, price: str = "10.00") -> int:
        """A new product with ``stock`` units, once orders' read model knows it."""
        category = self.client.get("/api/v1/catalog/categories/").json()["results"][0]["slug"]
        created = self.client.post(
            "/api/v1/catalog/products/",
            headers=self.staff,
            json={
                "sku": f"SAGA-{secrets.token_hex(4)}",
                "name": "Saga test product",
                "price": price,
                "category": category,
            },
        )
        assert created.status_code == 201, created.text
        product_id = created.json()["id"]
        if stock:
            set_to = self.client.post(
                f"/api/v1/catalog/products/{product_id}/stock",
                headers=self.staff,
                json={"mode": "set", "quantity": stock, "reason": "restock"},
            )
            assert set_to.status_code == 200, set_to.text
        wait_for(
            lambda: (
                self.orders_sql(f"SELECT count(*) FROM orders_product WHERE id = {product_id}")
                == "1"
            ),
            EVENTUALLY,
            f"orders never learnt of product {product_id} (product.changed)",
        )
        return product_id

    def stock(self, product_id: int) -> int:
        return self.client.get(f"/api/v1/catalog/products/{product_id}").json()["stock"]

    def ledger(self, product_id: int) -> list[dict[str, Any]]:
        """The product's stock movements, oldest first."""
        page = self.client.get(
            f"/api/v1/catalog/products/{product_id}/stock-movements",
            headers=self.staff,
            params={"page_size": 100},
        )
        assert page.status_code == 200, page.text
        assert page.json()["next"] is None
        return list(reversed(page.json()["results"]))

    # --- orders ------------------------------------------------------------------------

    def buyer(self, through_gateway: bool = False) -> dict[str, str]:
        base = self.platform.gateway if through_gateway else self.platform.users
        email = f"buyer-{secrets.token_hex(4)}@example.com"
        with gateway_client(base) as client:
            created = client.post(
                "/api/v1/auth/register", json={"email": email, "password": PASSWORD}
            )
        assert created.status_code == 201, created.text
        return {"Authorization": f"Bearer {login(base, email, PASSWORD)}"}

    def place(
        self,
        buyer: dict[str, str],
        lines: list[tuple[int, int]],
        key: str | None = None,
        client: httpx.Client | None = None,
    ) -> httpx.Response:
        return (client or self.client).post(
            "/api/v1/orders/",
            headers={**buyer, "Idempotency-Key": key or str(uuid.uuid4())},
            json={"lines": [{"product_id": p, "quantity": q} for p, q in lines]},
        )

    def order(self, buyer: dict[str, str], order_id: str) -> dict[str, Any]:
        got = self.client.get(f"/api/v1/orders/{order_id}", headers=buyer)
        assert got.status_code == 200, got.text
        return got.json()

    def final(
        self, buyer: dict[str, str], order_id: str, timeout: float = EVENTUALLY
    ) -> dict[str, Any]:
        """The order once final (or as it is when the deadline passes)."""
        deadline = time.monotonic() + timeout
        while True:
            order = self.order(buyer, order_id)
            if order["status"] in FINAL or time.monotonic() > deadline:
                return order
            time.sleep(0.05)

    def orders_of(self, buyer: dict[str, str]) -> list[dict[str, Any]]:
        page = self.client.get("/api/v1/orders/", headers=buyer, params={"page_size": 100})
        assert page.status_code == 200, page.text
        return page.json()["results"]

    # --- inside the services (what only staff and operators see) ------------------------

    @property
    def vhost(self) -> str:
        """The platform's RabbitMQ vhost; the runner falls back to the default one when
        rabbitmqctl is missing (RabbitMQ in a container, as in GitHub's service containers)."""
        return self.platform.vhost if shutil.which("rabbitmqctl") else ""

    def orders_sql(self, query: str) -> str:
        return "\n".join("|".join(row) for row in self.platform.sql("orders", query))

    def catalog_sql(self, query: str) -> str:
        return "\n".join("|".join(row) for row in self.platform.sql("catalog", query))

    def service_env(self, service: str) -> dict[str, str]:
        """What the runner gives a service's processes (its database, the platform's vhost)."""
        return {
            **self.platform.env,
            "SECRET_KEY": f"saga-test-{secrets.token_hex(16)}",
            "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{self.platform.database(service)}",
            "CELERY_BROKER_URL": f"amqp://guest:guest@127.0.0.1:5672/{self.vhost}",
            "VAR_DIR": str(self.platform.var),
            "LOG_FORMAT": "json",
            # Required in production settings (chassis 0.3.0); what the runner gives them.
            "JWKS_URL": f"{self.platform.users}/.well-known/jwks.json",
            "USERS_TOKEN_URL": f"{self.platform.users}/api/v1/auth/token",
        }

    def broker_url(self, service: str) -> str:
        """The broker URL the runner gives ``service``: its own broker user in the platform's
        vhost when there is one (a consumer checks that events come from their producer's
        user, and accepts its own retries), else guest."""
        if not self.vhost:
            return f"amqp://guest:guest@127.0.0.1:5672/{self.vhost}"
        password = (self.platform.var / "secrets" / f"broker-{service}").read_text().strip()
        return f"amqp://{self.vhost}.{service}:{password}@127.0.0.1:5672/{self.vhost}"

    def manage(self, service: str, *args: str) -> str:
        """The service's manage.py with the environment the runner gives it (its database, its
        own broker user), in either mode."""
        run = subprocess.run(
            [sys.executable, RUNNER, "manage", service, *args],
            cwd=ROOT,
            env=self.platform.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert run.returncode == 0, run.stdout + run.stderr
        return run.stdout

    def republish(self, service: str, event_id: str) -> None:
        """Send an outbox row of ``service`` to the exchange again, as a relay that crashed
        between the broker's confirm and its commit would (same event, same id)."""
        self.manage(
            service,
            "shell",
            "-c",
            "from chassis.events.models import OutboxEvent\n"
            "from chassis.events.outbox import envelope_of, send\n"
            f"send(envelope_of(OutboxEvent.objects.get(pk='{event_id}')))",
        )

    def outbox_id(self, service: str, event_type: str, order_id: str) -> str:
        query = (
            f"SELECT id FROM chassis_events_outboxevent WHERE type = '{event_type}' "
            f"AND payload->>'order_id' = '{order_id}'"
        )
        sql = self.orders_sql if service == "orders" else self.catalog_sql
        rows = sql(query).splitlines()
        assert len(rows) == 1, rows
        return str(uuid.UUID(rows[0]))  # SQLite keeps UUIDs as 32 hex digits

    def db_uuid(self, value: str) -> str:
        """A UUID as the service's database stores it (in SQL literals)."""
        return value.replace("-", "") if self.platform.mode == "embedded" else value

    def log_lines(self, *markers: str) -> list[str]:
        return [
            line
            for line in self.platform.log.read_text().splitlines()
            if all(marker in line for marker in markers)
        ]


def wait_for(condition: Any, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(message)
        time.sleep(0.1)


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=300)


# --- the saga ------------------------------------------------------------------------------


def test_an_order_is_confirmed_and_cancelling_restores_the_stock(
    shop: Shop,
) -> None:
    lamp, cable = shop.product(stock=10, price="49.90"), shop.product(stock=5, price="4.50")
    buyer = shop.buyer(through_gateway=True)
    key = str(uuid.uuid4())

    placed = shop.place(buyer, [(lamp, 3), (cable, 2)], key=key)
    assert placed.status_code == 201, placed.text
    assert placed.json()["status"] == "PENDING"
    order = shop.final(buyer, placed.json()["id"])  # how fast: infra/bench/order_saga.py

    assert order["status"] == "CONFIRMED", order
    assert (order["total"], order["currency"]) == ("158.70", "EUR")
    assert (shop.stock(lamp), shop.stock(cable)) == (7, 3)
    replayed = shop.place(buyer, [(lamp, 3), (cable, 2)], key=key)  # a client's retry
    assert (replayed.status_code, replayed.json()["id"]) == (201, order["id"])
    assert replayed.headers["idempotent-replayed"] == "true"
    assert [o["id"] for o in shop.orders_of(buyer)] == [order["id"]]

    cancelled = shop.client.post(
        f"/api/v1/orders/{order['id']}/cancel", headers=buyer, json={"reason": "changed my mind"}
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "CANCELLED"
    wait_for(
        lambda: (shop.stock(lamp), shop.stock(cable)) == (10, 5), EVENTUALLY, "stock not released"
    )

    for product, quantity, stock in ((lamp, 3, 10), (cable, 2, 5)):
        moves = [
            (m["reason"], m["delta"], m["stock_after"], m["reference"])
            for m in shop.ledger(product)
        ]
        assert moves == [
            ("restock", stock, stock, ""),
            ("reservation", -quantity, stock - quantity, order["id"]),
            ("release", quantity, stock, order["id"]),
        ]


def test_an_order_beyond_the_stock_is_rejected_with_reasons_and_takes_nothing(
    shop: Shop,
) -> None:
    scarce, plenty = shop.product(stock=2), shop.product(stock=50)
    buyer = shop.buyer()

    placed = shop.place(buyer, [(scarce, 3), (plenty, 1)])
    assert placed.status_code == 201, placed.text
    order = shop.final(buyer, placed.json()["id"])

    assert order["status"] == "REJECTED", order
    assert order["rejection_reasons"] == [
        {"product_id": scarce, "code": "insufficient-stock", "requested": 3, "available": 2}
    ]
    assert (shop.stock(scarce), shop.stock(plenty)) == (2, 50)  # all or nothing
    assert [m["reason"] for m in shop.ledger(plenty)] == ["restock"]


@pytest.mark.scaled
def test_fifty_concurrent_orders_for_twenty_units_confirm_exactly_twenty(shop: Shop) -> None:
    product = shop.product(stock=20)
    buyer = shop.buyer()

    def place(_: int) -> httpx.Response:
        with gateway_client(shop.platform.gateway) as client:
            return shop.place(buyer, [(product, 1)], client=client)

    with ThreadPoolExecutor(max_workers=50) as pool:
        answers = list(pool.map(place, range(50)))
    assert [a.status_code for a in answers] == [201] * 50
    ids = {a.json()["id"] for a in answers}
    assert len(ids) == 50

    def settled() -> bool:
        return all(o["status"] in FINAL for o in shop.orders_of(buyer))

    wait_for(settled, EVENTUALLY, "orders still PENDING")
    statuses = Counter(o["status"] for o in shop.orders_of(buyer))
    assert statuses == {"CONFIRMED": 20, "REJECTED": 30}
    assert shop.stock(product) == 0

    moves = shop.ledger(product)
    assert [m["reason"] for m in moves] == ["restock"] + ["reservation"] * 20
    assert sum(m["delta"] for m in moves) == 0
    assert [m["stock_after"] for m in moves] == list(range(20, -1, -1))
    confirmed = {o["id"] for o in shop.orders_of(buyer) if o["status"] == "CONFIRMED"}
    assert {m["reference"] for m in moves[1:]} == confirmed
    reservations = shop.catalog_sql(
        "SELECT status, count(*) FROM catalog_reservation WHERE order_id IN "
        f"({', '.join(repr(shop.db_uuid(i)) for i in sorted(ids))}) GROUP BY status ORDER BY status"
    )
    assert reservations.splitlines() == ["rejected|30", "reserved|20"]


# --- failures ------------------------------------------------------------------------------


@pytest.mark.scaled
def test_an_event_delivered_twice_changes_nothing(shop: Shop) -> None:
    product = shop.product(stock=10)
    buyer = shop.buyer()
    placed = shop.place(buyer, [(product, 4)])
    order = shop.final(buyer, placed.json()["id"])
    assert order["status"] == "CONFIRMED"
    placed_event = shop.outbox_id("orders", "order.placed", order["id"])
    reserved_event = shop.outbox_id("catalog", "stock.reserved", order["id"])

    shop.republish("orders", placed_event)  # catalog would reserve a second time...
    shop.republish("catalog", reserved_event)  # ...orders would confirm a second time

    for event_id in (placed_event, reserved_event):  # each consumer says it saw it before
        wait_for(
            lambda event_id=event_id: shop.log_lines("events.duplicate", event_id),
            EVENTUALLY,
            f"no consumer reported {event_id} as a duplicate",
        )
    assert shop.stock(product) == 6
    assert [m["reason"] for m in shop.ledger(product)] == ["restock", "reservation"]
    assert shop.order(buyer, order["id"])["updated_at"] == order["updated_at"]
    inbox = "SELECT count(*) FROM chassis_events_inboxevent WHERE event_id = '{}'"
    assert shop.catalog_sql(inbox.format(shop.db_uuid(placed_event))) == "1"
    assert shop.orders_sql(inbox.format(shop.db_uuid(reserved_event))) == "1"


@pytest.mark.usefixtures("needs_servers")
def test_orders_are_accepted_while_the_broker_is_unreachable_and_settle_once_it_is_back(
    shop: Shop,
) -> None:
    """RabbitMQ refuses the platform (its services' broker users lose their permissions on
    its vhost, their connections are closed): other users of the broker are not disturbed.
    Orders are accepted meanwhile (the outbox holds their events); every instance stays ready
    (an outage must not take every instance out of the load balancer) and orders reports the
    broker unreachable, then reachable once it is back; the orders settle."""
    if not shop.vhost:
        pytest.skip("needs rabbitmqctl: the platform runs in the shared default vhost")
    product = shop.product(stock=3)
    buyer = shop.buyer()
    vhost = shop.vhost
    granted = broker_permissions(vhost)
    assert sorted(granted) == sorted(f"{vhost}.{s}" for s in REGISTRY)
    for user in granted:
        rabbitmqctl("clear_permissions", "-p", vhost, user)
    try:
        rabbitmqctl("close_all_connections", "-p", vhost, "system test: broker down")
        answers = [shop.place(buyer, [(product, 1)]) for _ in range(5)]
        assert [(a.status_code, a.json()["status"]) for a in answers] == [(201, "PENDING")] * 5
        wait_for(
            lambda: orders_report_the_broker(shop, "unreachable"),
            EVENTUALLY,  # the worker that published knows at once; the other by its check
            "orders never reported the broker unreachable after its publishes failed",
        )
        assert {o["status"] for o in shop.orders_of(buyer)} == {"PENDING"}
        pending = "SELECT count(*) FROM chassis_events_outboxevent WHERE published_at IS NULL"
        assert int(shop.orders_sql(pending)) >= 5  # kept in the outbox
        for service in REGISTRY:
            ready = httpx.get(f"{shop.platform.urls[service]}/readyz", timeout=HTTP_TIMEOUT)
            assert ready.status_code == 200, (service, ready.text)
    finally:
        for user, (configure, write, read) in granted.items():
            rabbitmqctl("set_permissions", "-p", vhost, user, configure, write, read)

    wait_for(
        lambda: all(o["status"] in FINAL for o in shop.orders_of(buyer)),
        EVENTUALLY,
        "orders still PENDING after the broker came back",
    )
    assert Counter(o["status"] for o in shop.orders_of(buyer)) == {"CONFIRMED": 3, "REJECTED": 2}
    assert shop.stock(product) == 0
    # Every web worker of orders sees it back (a publish, or its next background check):
    # ten probes in a row, spread over the workers, report it reachable.
    wait_for(
        lambda: all(orders_report_the_broker(shop, "ok") for _ in range(10)),
        EVENTUALLY,
        "orders still reports the broker unreachable after it came back",
    )


def orders_report_the_broker(shop: Shop, status: str) -> bool:
    """Whether orders' /readyz reports the broker in ``status``; it is ready whatever it says
    of the broker."""
    ready = httpx.get(f"{shop.platform.urls['orders']}/readyz", timeout=HTTP_TIMEOUT)
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert (body["status"], body["checks"]) == ("ok", {"database": "ok", "migrations": "ok"})
    return bool(body["broker"]["status"] == status)


def broker_permissions(vhost: str) -> dict[str, tuple[str, str, str]]:
    """The platform's service users and their (configure, write, read) permissions."""
    listed = subprocess.run(
        ["rabbitmqctl", "-q", "list_permissions", "-p", vhost, "--no-table-headers"],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    ).stdout
    rows = [line.split("\t") for line in listed.splitlines() if line.strip()]
    return {row[0]: (row[1], row[2], row[3]) for row in rows if row[0].startswith(f"{vhost}.")}


PUBLISH = """
from kombu import Connection
from chassis.events.conf import events_exchange
from django.conf import settings
for key in {keys!r}:
    with Connection(settings.CELERY_BROKER_URL, transport_options={{"confirm_publish": True}}) as c:
        try:
            c.Producer().publish({{}}, exchange=events_exchange, routing_key=key, declare=[])
            print(key, "published")
        except Exception as exc:
            print(key, "refused", type(exc).__name__)
"""


@pytest.mark.usefixtures("needs_servers")
def test_a_service_publishes_only_its_own_event_types(shop: Shop) -> None:
    """Each service connects to RabbitMQ as its own user, whose topic permissions on the events
    exchange name its own event types: catalog cannot forge an order.placed or a
    user.deactivated. The probes' routing keys reach no queue (nothing consumes them)."""
    if not shop.vhost:
        pytest.skip("needs rabbitmqctl: the platform runs as guest in the default vhost")
    keys = [
        "product.systest-probe",
        "stock.systest-probe",
        "order.placed",
        "user.deactivated",
        "user.erased",
    ]
    run = subprocess.run(  # catalog's manage.py with the environment the runner gives it
        [
            sys.executable,
            RUNNER,
            "manage",
            "catalog",
            "shell",
            "--no-imports",
            "-c",
            PUBLISH.format(keys=keys),
        ],
        cwd=ROOT,
        env=shop.platform.env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.splitlines() == [
        "product.systest-probe published",
        "stock.systest-probe published",
        "order.placed refused AccessRefused",
        "user.deactivated refused AccessRefused",
        "user.erased refused AccessRefused",
    ]


FORGE = """
from celery import current_app
from django.conf import settings
from kombu import Connection
from chassis.events.envelope import Envelope
for label, properties in {cases!r}:
    event = Envelope(type="user.deactivated", producer="users", payload={{"user_id": {user!r}}})
    headers, props, body, _ = current_app.amqp.as_task_v2(
        str(event.id), "chassis.events.consume", args=[event.to_dict()]
    )
    with Connection(settings.CELERY_BROKER_URL, transport_options={{"confirm_publish": True}}) as c:
        try:
            c.Producer().publish(
                body, exchange="", routing_key="orders.events", headers=headers,
                serializer="json", declare=[], retry=False, **props, **properties,
            )
            print(label, "published", event.id)
        except Exception as exc:
            print(label, "refused", type(exc).__name__)
"""


@pytest.mark.usefixtures("needs_servers")
def test_a_forged_user_deactivated_is_parked_by_orders_not_applied(shop: Shop) -> None:
    """catalog's broker user cannot publish user.deactivated on the events exchange (topic
    permissions), but it may write to the default exchange (its retries go through it), so
    it can put a message straight into orders' queue: an envelope claiming users as its
    producer, to cancel a customer's orders. orders checks the publisher RabbitMQ verified
    (the AMQP user_id: catalog's user, or none) and parks the event; claiming users' broker
    user as user_id is refused by RabbitMQ itself."""
    if not shop.vhost:
        pytest.skip("needs rabbitmqctl: the platform runs as guest in the default vhost")
    product = shop.product(stock=5)
    buyer = shop.buyer()
    order = shop.final(buyer, shop.place(buyer, [(product, 1)]).json()["id"])
    assert order["status"] == "CONFIRMED", order
    cases = [
        ("no-user-id", {}),
        ("own-user-id", {"user_id": f"{shop.vhost}.catalog"}),
        ("users-user-id", {"user_id": f"{shop.vhost}.users"}),
    ]

    out = shop.manage(
        "catalog", "shell", "--no-imports", "-c", FORGE.format(cases=cases, user=order["user_id"])
    )

    outcomes = [line.split() for line in out.splitlines()]
    assert [(o[0], o[1]) for o in outcomes] == [
        ("no-user-id", "published"),
        ("own-user-id", "published"),
        ("users-user-id", "refused"),
    ], out
    assert outcomes[2][2] == "PreconditionFailed"
    forged = [shop.db_uuid(o[2]) for o in outcomes[:2]]
    ids = f"('{forged[0]}', '{forged[1]}')"
    parked = (
        "SELECT count(*) FROM chassis_events_parkedevent WHERE error LIKE 'UnverifiedProducer:%' "
        f"AND event_id IN {ids}"
    )
    wait_for(lambda: shop.orders_sql(parked) == "2", EVENTUALLY, "orders did not park them")
    inbox = f"SELECT count(*) FROM chassis_events_inboxevent WHERE event_id IN {ids}"
    assert shop.orders_sql(inbox) == "0"
    assert shop.order(buyer, order["id"])["status"] == "CONFIRMED"


def test_a_deactivated_account_cannot_order_and_its_open_orders_are_cancelled(
    shop: Shop,
) -> None:
    """Staff deactivate an account: users publishes user.deactivated (from its own broker
    user: orders trusts it), orders cancels the account's open orders and refuses its new
    ones, although its access token is still valid (403 account-deactivated)."""
    product = shop.product(stock=5)
    buyer = shop.buyer()
    order = shop.final(buyer, shop.place(buyer, [(product, 2)]).json()["id"])
    assert order["status"] == "CONFIRMED", order

    deactivated = shop.client.post(
        f"/api/v1/users/{order['user_id']}/deactivate", headers=shop.staff
    )
    assert deactivated.status_code == 200, deactivated.text

    wait_for(
        lambda: shop.order(buyer, order["id"])["status"] == "CANCELLED",
        EVENTUALLY,
        "orders never cancelled the deactivated account's order",
    )
    assert shop.order(buyer, order["id"])["cancel_reason"] == "The account was deactivated."
    refused = shop.place(buyer, [(product, 1)])
    assert refused.status_code == 403, refused.text
    assert refused.json()["type"] == "urn:problem-type:account-deactivated"
    wait_for(lambda: shop.stock(product) == 5, EVENTUALLY, "catalog kept the reservation")


def test_a_product_deactivated_in_the_catalog_admin_is_refused_by_orders(shop: Shop) -> None:
    """Products are deactivated, never deleted: the admin's action emits product.changed and
    orders' read model refuses the product from then on."""
    product = shop.product(stock=5)
    buyer = shop.buyer()
    admin = staff_admin_session(shop)
    listing = admin.get("/admin/catalog/catalog/product/")
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', listing.text).group(1)

    done = admin.post(
        "/admin/catalog/catalog/product/",
        data={
            "csrfmiddlewaretoken": csrf,
            "action": "deactivate_products",
            "_selected_action": str(product),
            "confirm": "yes",  # on the action's confirmation page (chassis.backoffice)
        },
    )
    assert done.status_code == 302, done.text[-2000:]

    inactive = f"SELECT is_active FROM orders_product WHERE id = {product}"
    wait_for(lambda: shop.orders_sql(inactive) in ("f", "0"), EVENTUALLY, "orders never heard")
    refused = shop.place(buyer, [(product, 1)])
    assert refused.status_code == 422, refused.text
    assert refused.json()["errors"][0]["code"] == "inactive-product"


def node_names(shop: Shop, service: str) -> str:
    """Every worker's Celery node name of ``service`` (``-d`` of celery control), once all
    have started: ``<service>.<platform id>[.<instance>]@<host>``."""
    pattern = rf"\b({service}\.[0-9a-f]{{8}}(?:\.[0-9]+)?@\S+) ready\."
    found: set[str] = set()

    def all_ready() -> bool:
        found.update(re.findall(pattern, shop.platform.log.read_text()))
        return len(found) == shop.platform.scale(service)

    wait_for(all_ready, EVENTUALLY, f"{service}'s workers' node names not in the platform log")
    return ",".join(sorted(found))


def celery_control(shop: Shop, service: str, *args: str) -> str:
    part = ROOT / REGISTRY[service].dir
    run = subprocess.run(
        [part / ".venv/bin/celery", "-A", "config", "control", *args],
        cwd=part,
        env=shop.service_env(service),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "OK" in run.stdout, run.stdout + run.stderr
    return run.stdout


class RowLock:
    """``SELECT ... FOR UPDATE`` on a catalog row in a transaction held open by psql, as a
    long-running staff operation would hold it; handlers that need the row wait for it."""

    def __init__(self, database: str, table: str, pk: int) -> None:
        self.psql = subprocess.Popen(
            ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-qtA"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.psql.stdin
        assert self.psql.stdout
        self.psql.stdin.write(f"BEGIN;\nSELECT 'locked' FROM {table} WHERE id = {pk} FOR UPDATE;\n")
        self.psql.stdin.flush()
        assert self.psql.stdout.readline().strip() == "locked"

    def release(self) -> None:
        if self.psql.poll() is None:
            assert self.psql.stdin
            self.psql.stdin.write("ROLLBACK;\n")
            self.psql.stdin.close()
            self.psql.wait(timeout=10)


@pytest.mark.scaled
@pytest.mark.usefixtures("needs_servers")
def test_a_worker_killed_in_the_middle_of_a_handler_leaves_it_to_be_applied_once(
    shop: Shop, tmp_path: Path
) -> None:
    """The platform's catalog worker stops consuming its events queue (celery control), a
    worker of our own takes the order.placed and blocks in the reservation (the product row is
    locked), and is SIGKILLed there; the broker redelivers the event to the platform's worker
    once it consumes again, and the reservation is applied exactly once."""
    product = shop.product(stock=10)
    buyer = shop.buyer()
    catalog_nodes = node_names(shop, "catalog")  # every platform worker stops consuming events
    # Waits for every node's answer (a scaled platform has several), so none consumes after.
    replies = celery_control(
        shop, "catalog", "--timeout", "60", "cancel_consumer", "catalog.events", "-d", catalog_nodes
    )
    assert replies.count("OK") == shop.platform.scale("catalog"), replies
    worker = WorkerProcess(
        "config",
        queues=["catalog.events"],
        # catalog's own broker user, as the runner gives it: the events it takes were
        # published by orders' user, which a worker connected as guest would not trust.
        env={**shop.service_env("catalog"), "CELERY_BROKER_URL": shop.broker_url("catalog")},
        cwd=str(ROOT / "catalog-service"),
        log_path=str(tmp_path / "catalog-worker.log"),
        celery=str(ROOT / "catalog-service/.venv/bin/celery"),
        name_prefix="catalog.",
    )
    lock = None
    try:
        worker.start()
        lock = RowLock(shop.platform.database("catalog"), "catalog_product", product)
        placed = shop.place(buyer, [(product, 3)])
        assert placed.status_code == 201, placed.text
        order_id = placed.json()["id"]
        waiting = (
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE '%catalog_product%FOR UPDATE%'"
        )
        wait_for(lambda: shop.catalog_sql(waiting) == "1", EVENTUALLY, "the handler never blocked")
        assert "chassis.events.consume" in worker.output()

        worker.kill()  # SIGKILL, in the middle of the handler's transaction
        lock.release()
        assert shop.order(buyer, order_id)["status"] == "PENDING"  # nobody consumes now
        assert shop.stock(product) == 10  # the killed transaction left nothing
    finally:
        worker.kill()
        if lock is not None:
            lock.release()
        celery_control(shop, "catalog", "add_consumer", "catalog.events", "-d", catalog_nodes)

    order = shop.final(buyer, order_id)
    assert order["status"] == "CONFIRMED", order
    assert shop.stock(product) == 7
    moves = [(m["reason"], m["delta"], m["reference"]) for m in shop.ledger(product)]
    assert moves == [("restock", 10, ""), ("reservation", -3, order_id)]


@pytest.mark.usefixtures("needs_servers")
def test_a_poison_event_is_parked_after_its_retries_and_redriven_from_the_admin(
    shop: Shop,
) -> None:
    """catalog's database refuses the reservation's writes for one product (a trigger stands
    in for an operator-side fault, such as a permission lost in a migration): the handler
    fails, is retried with backoff (1+2+4+8+16 s), and the event is parked. Staff see it in
    catalog's admin; once the fault is fixed, the redrive action applies it, once."""
    product = shop.product(stock=10)
    buyer = shop.buyer()
    trigger = f"systest_refuse_{product}"
    shop.catalog_sql(
        f"CREATE FUNCTION {trigger}() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'permission denied for table catalog_stockmovement'; END $$; "
        f"CREATE TRIGGER {trigger} BEFORE INSERT ON catalog_stockmovement FOR EACH ROW "
        f"WHEN (NEW.product_id = {product}) EXECUTE FUNCTION {trigger}()"
    )
    try:
        placed = shop.place(buyer, [(product, 2)])
        order_id = placed.json()["id"]
        event_id = shop.outbox_id("orders", "order.placed", order_id)
        parked = (
            f"SELECT id, attempts FROM chassis_events_parkedevent WHERE event_id = '{event_id}'"
        )
        # 1+2+4+8+16 s of backoff, then parked
        wait_for(lambda: shop.catalog_sql(parked), 60 + EVENTUALLY, "the event was not parked")
        parked_id, attempts = shop.catalog_sql(parked).split("|")
        assert attempts == "6"  # the first try and 5 retries
        assert len(shop.log_lines("events.retry", event_id)) == 5
        assert shop.order(buyer, order_id)["status"] == "PENDING"
        assert shop.stock(product) == 10
    finally:
        shop.catalog_sql(
            f"DROP TRIGGER IF EXISTS {trigger} ON catalog_stockmovement; "
            f"DROP FUNCTION IF EXISTS {trigger}()"
        )

    admin = staff_admin_session(shop)
    listing = admin.get("/admin/catalog/chassis_events/parkedevent/")
    assert listing.status_code == 200
    assert event_id in listing.text
    detail = admin.get(f"/admin/catalog/chassis_events/parkedevent/{parked_id}/change/")
    assert "permission denied for table catalog_stockmovement" in detail.text
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', listing.text).group(1)
    redriven = admin.post(
        "/admin/catalog/chassis_events/parkedevent/",
        data={
            "csrfmiddlewaretoken": csrf,
            "action": "redrive_events",
            "_selected_action": parked_id,
            "index": "0",
        },
    )
    if redriven.status_code != 302:  # the service's own account of the failure
        marker = redriven.headers.get("x-request-id", "")
        pytest.fail("\n".join([redriven.text[-2000:], *shop.log_lines(marker)])[-8000:])

    order = shop.final(buyer, order_id)
    assert order["status"] == "CONFIRMED", order
    assert shop.stock(product) == 8
    assert [m["reason"] for m in shop.ledger(product)] == ["restock", "reservation"]
    redriven_at = (
        f"SELECT redriven_at IS NOT NULL FROM chassis_events_parkedevent WHERE id = {parked_id}"
    )
    assert shop.catalog_sql(redriven_at) == "t"


def staff_admin_session(shop: Shop) -> httpx.Client:
    """The demo staff account signed in to catalog's admin (single sign-on) through the
    gateway."""
    admin = gateway_client(shop.platform.gateway)
    form = admin.get("/admin/catalog/login/", params={"next": "/admin/catalog/"})
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text).group(1)
    signed_in = admin.post(
        "/admin/catalog/login/?next=/admin/catalog/",
        data={
            "csrfmiddlewaretoken": csrf,
            "username": "admin@example.com",
            "password": shop.platform.demo_password(),
        },
    )
    assert signed_in.status_code == 302, signed_in.text[-2000:]
    return admin


@pytest.mark.usefixtures("needs_servers")
def test_an_erased_buyer_keeps_the_orders_but_no_personal_data(shop: Shop) -> None:
    """A buyer erases their account (DELETE /api/v1/users/me with the password, through the
    gateway): users anonymises it and publishes user.erased; orders keeps the order but
    replaces the buyer's address with a placeholder, and the account can no longer log in."""
    product = shop.product(stock=5)
    email = f"leaving-{secrets.token_hex(4)}@example.com"
    created = shop.client.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert created.status_code == 201, created.text
    buyer = {"Authorization": f"Bearer {login(shop.platform.gateway, email, PASSWORD)}"}
    order = shop.final(buyer, shop.place(buyer, [(product, 1)]).json()["id"])
    assert order["status"] == "CONFIRMED", order

    wrong = shop.client.request(
        "DELETE", "/api/v1/users/me", headers=buyer, json={"password": "not the password"}
    )
    erased = shop.client.request(
        "DELETE", "/api/v1/users/me", headers=buyer, json={"password": PASSWORD}
    )

    assert (wrong.status_code, wrong.json()["errors"][0]["field"]) == (400, "password")
    assert erased.status_code == 204, erased.text
    address = f"SELECT user_email FROM orders_order WHERE id = '{order['id']}'"
    wait_for(
        lambda: shop.orders_sql(address) == "erased@erased.invalid",
        EVENTUALLY,
        "orders kept the erased buyer's address",
    )
    status = f"SELECT status FROM orders_order WHERE id = '{order['id']}'"
    assert shop.orders_sql(status) == "CANCELLED"  # open orders of an erased account end
    again = shop.client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
    assert again.status_code == 401
