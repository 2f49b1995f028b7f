"""The back office in a real browser (Playwright driving Debian's Chromium), through the gateway
of a platform started as `make up` starts it, with the demo accounts `make up` prints:

* a catalog editor signs in to the catalog admin with their users-service password, creates a
  product, adjusts its stock, and is refused by the orders admin;
* an order manager cancels a confirmed order in the orders admin and sees its stock come back
  in the catalog admin;
* support opens an order, whose page has no save and offers no action;
* a staff member deactivated in the users admin is signed out of the catalog admin within the
  re-check interval (SSO_RECHECK_SECONDS, short on the test platforms).

Each test keeps a screenshot of every step; when it fails they are written, with the page as it
was at the failure, under test-artifacts/<test>/ at the repository's root (ignored by git).
"""

from __future__ import annotations

import re
import secrets
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

from conftest import (
    EVENTUALLY,
    ROOT,
    RUNNER,
    Platform,
    gateway_client,
    wait_products_known,
)

CHROMIUM = "/usr/bin/chromium"  # Debian's (bootstrap installs it), never a Playwright download
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "test-artifacts"
PAGE_TIMEOUT_MS = 60_000  # one navigation or click on a busy machine
PASSWORD = "browser-test-pw-1"


class Steps:
    """A test's steps: a screenshot after each, all written out when one fails."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.shots: list[tuple[str, bytes]] = []

    @contextmanager
    def __call__(self, page: Any, title: str) -> Iterator[None]:
        try:
            yield
        except BaseException:
            self.shots.append((f"{title}-FAILED", _screenshot(page)))
            self.write()
            raise
        self.shots.append((title, _screenshot(page)))

    def write(self) -> None:
        folder = ARTIFACTS / self.name
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for index, (title, png) in enumerate(self.shots, 1):
            slug = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
            (folder / f"{index:02d}-{slug}.png").write_bytes(png)


def _screenshot(page: Any) -> bytes:
    try:
        return page.screenshot(full_page=True)
    except Exception:  # a closed page: nothing to show
        return b""


# One platform suffices (the embedded one runs the same admin code): the local-services one,
# shared with the other system tests (conftest groups the tests by platform).
pytestmark = pytest.mark.parametrize("platform", ["local-services"], indirect=True)


@pytest.fixture
def local(platform: Platform) -> Platform:
    return platform


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser: Any, local: Platform) -> Iterator[Any]:
    """``new_page()``: a page in a browser context of its own (its own cookies: one person)."""
    contexts = []

    def make() -> Any:
        context = browser.new_context(base_url=local.gateway)
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def steps(request: pytest.FixtureRequest) -> Steps:
    return Steps(request.node.name)


def role_password(platform: Platform, email: str) -> str:
    """A demo role account's password, as `make up` keeps it (users' ensure_demo_roles)."""
    return (platform.var / "demo-accounts" / email).read_text().strip()


def sign_in(page: Any, service: str, email: str, password: str) -> None:
    page.goto(f"/admin/{service}/login/?next=/admin/{service}/")
    page.fill("#id_username", email)
    page.fill("#id_password", password)
    page.click("input[type=submit]")
    page.wait_for_load_state()


def test_a_catalog_editor_edits_the_catalog_and_is_refused_by_orders(local, new_page, steps):
    page = new_page()
    password = role_password(local, "catalog-editor@example.com")
    sku = f"BROWSER-{secrets.token_hex(3).upper()}"

    with steps(page, "sign in to the catalog admin"):
        sign_in(page, "catalog", "catalog-editor@example.com", password)
        assert page.url.endswith("/admin/catalog/")
        assert page.locator("a[href='/admin/catalog/catalog/product/add/']").count() == 1

    with steps(page, "create a product with 7 in stock"):
        page.goto("/admin/catalog/catalog/product/add/")
        page.fill("#id_sku", sku)
        page.fill("#id_name", f"Browser lamp {sku}")
        page.press("#id_name", "Tab")  # a change event: the admin's script fills the slug
        assert page.input_value("#id_slug") == f"browser-lamp-{sku.lower()}"  # prepopulated
        page.fill("#id_price", "12.50")
        page.fill("#id_currency", "EUR")
        page.fill("#id_stock_change", "7")
        page.click("input[name=_save]")
        assert "was added successfully" in page.inner_text(".messagelist")

    with steps(page, "remove 2 damaged units through the ledger"):
        page.goto(f"/admin/catalog/catalog/product/?q={sku}")
        page.click(f"text={sku}")
        assert page.inner_text(".field-stock .readonly") == "7"
        page.fill("#id_stock_change", "-2")
        page.select_option("#id_stock_reason", "damage")
        page.click("input[name=_continue]")
        assert page.inner_text(".field-stock .readonly") == "5"
        assert page.locator("#movements-group td.field-delta").all_inner_texts() == ["-2", "7"]

    with steps(page, "refused by the orders admin"):
        sign_in(page, "orders", "catalog-editor@example.com", password)
        assert "/admin/orders/login/" in page.url
        assert "not authorized to access this page" in page.inner_text("#content")


class Buyer:
    """A buyer placing an order through the gateway's API."""

    def __init__(self, platform: Platform) -> None:
        self.client = gateway_client(platform.gateway)
        email = f"browser-buyer-{secrets.token_hex(4)}@example.com"
        created = self.client.post(
            "/api/v1/auth/register", json={"email": email, "password": PASSWORD}
        )
        assert created.status_code == 201, created.text
        token = self.client.post("/api/v1/auth/token", json={"email": email, "password": PASSWORD})
        assert token.status_code == 200, token.text
        self.headers = {"Authorization": f"Bearer {token.json()['access']}"}

    def confirmed_order(self, product_id: int) -> str:
        placed = self.client.post(
            "/api/v1/orders/",
            headers={**self.headers, "Idempotency-Key": str(uuid.uuid4())},
            json={"lines": [{"product_id": product_id, "quantity": 2}]},
        )
        assert placed.status_code == 201, placed.text
        order_id = placed.json()["id"]
        deadline = time.monotonic() + EVENTUALLY
        while (status := self.status(order_id)) == "PENDING" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert status == "CONFIRMED"
        return str(order_id)

    def status(self, order_id: str) -> str:
        got = self.client.get(f"/api/v1/orders/{order_id}", headers=self.headers)
        assert got.status_code == 200, got.text
        return str(got.json()["status"])


def stocked_product(platform: Platform) -> tuple[int, str]:
    """A seeded product with stock to spare: its id and SKU."""
    wait_products_known(platform)
    rows = platform.sql(
        "catalog",
        "SELECT id, sku FROM catalog_product WHERE is_active AND stock >= 10 "
        "AND sku NOT LIKE 'BROWSER-%' ORDER BY id LIMIT 1",
    )
    return int(rows[0][0]), rows[0][1]


def catalog_stock(page: Any, product_id: int) -> str:
    page.goto(f"/admin/catalog/catalog/product/{product_id}/change/")
    return str(page.inner_text(".field-stock .readonly"))


def test_an_order_manager_cancels_an_order_and_its_stock_comes_back(local, new_page, steps):
    page = new_page()
    password = role_password(local, "order-manager@example.com")
    product_id, _ = stocked_product(local)
    buyer = Buyer(local)

    with steps(page, "the stock before the order, in the catalog admin"):
        sign_in(page, "catalog", "order-manager@example.com", password)
        before = int(catalog_stock(page, product_id))
        order_id = buyer.confirmed_order(product_id)
        assert catalog_stock(page, product_id) == str(before - 2)  # reserved

    with steps(page, "sign in to the orders admin"):
        sign_in(page, "orders", "order-manager@example.com", password)
        assert page.url.endswith("/admin/orders/")

    with steps(page, "cancel the order"):
        page.goto(f"/admin/orders/orders/order/?q={order_id}")
        page.check(f"input[name=_selected_action][value='{order_id}']")
        page.select_option("select[name=action]", "cancel_orders")
        page.click("button[name=index]")
        if page.locator("input[name=confirm]").count():  # the action's confirmation page
            page.click("input[name=confirm]")
        assert "1 order(s) changed." in page.inner_text(".messagelist")
        assert buyer.status(order_id) == "CANCELLED"

    with steps(page, "the stock comes back, in the catalog admin"):
        deadline = time.monotonic() + EVENTUALLY
        while catalog_stock(page, product_id) != str(before) and time.monotonic() < deadline:
            page.wait_for_timeout(300)
        assert catalog_stock(page, product_id) == str(before)


def test_support_opens_an_order_and_can_change_nothing(local, new_page, steps):
    page = new_page()
    product_id, _ = stocked_product(local)
    order_id = Buyer(local).confirmed_order(product_id)

    with steps(page, "sign in to the orders admin"):
        sign_in(page, "orders", "support@example.com", role_password(local, "support@example.com"))
        assert page.url.endswith("/admin/orders/")

    with steps(page, "the order list offers no action"):
        page.goto(f"/admin/orders/orders/order/?q={order_id}")
        assert page.locator("select[name=action] option[value=cancel_orders]").count() == 0

    with steps(page, "the order opens, with no save"):
        page.goto(f"/admin/orders/orders/order/{order_id}/change/")
        assert order_id in page.inner_text(".field-id .readonly")
        assert page.locator("input[name=_save]").count() == 0
        assert page.locator(".field-status .readonly").inner_text() == "Confirmed"


def staff_member(platform: Platform, email: str) -> None:
    """A catalog editor of users-service, made as an operator would (manage.py shell)."""
    code = (
        "from django.contrib.auth.models import Group; from users.models import User; "
        f"u = User.objects.create_user({email!r}, {PASSWORD!r}, is_staff=True); "
        "u.groups.add(Group.objects.get(name='catalog-editors'))"
    )
    subprocess.run(
        [sys.executable, RUNNER, "manage", "users", "shell", "-c", code],
        env=platform.env,
        check=True,
        capture_output=True,
        timeout=EVENTUALLY,
    )


def test_a_deactivated_staff_member_is_signed_out_of_the_catalog_admin(local, new_page, steps):
    email = f"leaver-{secrets.token_hex(3)}@example.com"
    staff_member(local, email)
    leaver, admin = new_page(), new_page()

    with steps(leaver, "the staff member signs in to the catalog admin"):
        sign_in(leaver, "catalog", email, PASSWORD)
        assert leaver.url.endswith("/admin/catalog/")

    with steps(admin, "a superuser deactivates them in the users admin"):
        sign_in(admin, "users", "admin@example.com", local.demo_password())
        admin.goto(f"/admin/users/users/user/?q={email}")
        admin.check("input[name=_selected_action]")
        admin.select_option("select[name=action]", "deactivate_users")
        admin.click("button[name=index]")
        if admin.locator("input[name=confirm]").count():  # the action's confirmation page
            admin.click("input[name=confirm]")
        assert "1 account(s) deactivated." in admin.inner_text(".messagelist")

    with steps(leaver, "signed out of the catalog admin within the interval"):
        deadline = time.monotonic() + EVENTUALLY
        while "/login/" not in leaver.url and time.monotonic() < deadline:
            leaver.wait_for_timeout(500)
            leaver.goto("/admin/catalog/catalog/product/")
        assert "/admin/catalog/login/" in leaver.url
