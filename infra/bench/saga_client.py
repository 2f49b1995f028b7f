"""The saga benchmark's client: the shop set up through the gateway, orders placed on an open
loop, their outcomes read in bulk from the orders' own timestamps.

The client does not follow each order: after a step's sending window it waits until no order
of the step is PENDING (one staff request every half second), then reads every order of the
step in pages of 200 (status, ``created_at``, ``updated_at``). POST -> CONFIRMED is the
order's ``updated_at`` (when orders-service confirmed it) minus the moment the client sent the
POST (one clock: same machine), so the client's own load stays a few requests per order.
"""

from __future__ import annotations

import random
import secrets
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

import httpx

from benchlib import BenchError

TOKEN_REFRESH_SECONDS = 240  # access tokens live 5 minutes
FINAL = {"CONFIRMED", "REJECTED", "CANCELLED"}


@dataclass
class Sent:
    """One POST of a step: when it was due and sent (wall clock), what it answered."""

    due: float
    sent: float = 0.0
    seconds: float = 0.0  # the POST's own latency
    status_code: int = 0
    order_id: str = ""
    error: str = ""


@dataclass
class Account:
    email: str
    password: str
    token: str = ""
    token_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bearer(self, client: httpx.Client) -> dict[str, str]:
        with self.lock:
            if not self.token or time.monotonic() - self.token_at > TOKEN_REFRESH_SECONDS:
                self.token = login(client, self.email, self.password)
                self.token_at = time.monotonic()
            return {"Authorization": f"Bearer {self.token}"}


def login(client: httpx.Client, email: str, password: str) -> str:
    answer = client.post("/api/v1/auth/token", json={"email": email, "password": password})
    if answer.status_code != 200:
        raise BenchError(f"login answered {answer.status_code}: {answer.text}")
    return str(answer.json()["access"])


def create_products(client: httpx.Client, staff: Account, count: int, stock: int) -> list[int]:
    category = client.get("/api/v1/catalog/categories/").json()["results"][0]["slug"]
    ids = []
    for index in range(count):
        created = client.post(
            "/api/v1/catalog/products/",
            headers=staff.bearer(client),
            json={"sku": f"BENCH-{secrets.token_hex(3)}-{index}", "name": f"Bench product {index}",
                  "price": "9.90", "category": category},
        )  # fmt: skip
        if created.status_code != 201:
            raise BenchError(f"product create answered {created.status_code}: {created.text}")
        product = created.json()["id"]
        stocked = client.post(
            f"/api/v1/catalog/products/{product}/stock",
            headers=staff.bearer(client),
            json={"mode": "set", "quantity": stock, "reason": "restock"},
        )
        if stocked.status_code != 200:
            raise BenchError(f"stock set answered {stocked.status_code}: {stocked.text}")
        ids.append(product)
    return ids


def register_buyers(client: httpx.Client, count: int) -> list[Account]:
    buyers = []
    for _ in range(count):
        buyer = Account(f"bench-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(18))
        created = client.post(
            "/api/v1/auth/register", json={"email": buyer.email, "password": buyer.password}
        )
        if created.status_code != 201:
            raise BenchError(f"register answered {created.status_code}: {created.text}")
        buyer.bearer(client)
        buyers.append(buyer)
    return buyers


def stocks(client: httpx.Client, products: list[int]) -> dict[int, int]:
    return {p: client.get(f"/api/v1/catalog/products/{p}").json()["stock"] for p in products}


def wait_products_known(client: httpx.Client, buyer: Account, products: list[int]) -> None:
    """orders learns of products from product.changed events: a probe order of every
    product is accepted (not 422 products-unavailable) once they have arrived; it is followed
    until final, so the stock read after it is the run's baseline."""
    lines = [{"product_id": p, "quantity": 1} for p in products]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        headers = {**buyer.bearer(client), "Idempotency-Key": str(uuid.uuid4())}
        probe = client.post("/api/v1/orders/", headers=headers, json={"lines": lines})
        if probe.status_code == 201:
            while time.monotonic() < deadline:
                url = f"/api/v1/orders/{probe.json()['id']}"
                got = client.get(url, headers=buyer.bearer(client))
                if got.json().get("status") in FINAL:
                    return
                time.sleep(0.1)
            break
        unknown = probe.status_code == 422 and probe.json().get("type", "").endswith(
            ":products-unavailable"
        )
        if not unknown:  # a limit (orders/limits.py) or anything else: not worth waiting
            raise BenchError(f"probe order answered {probe.status_code}: {probe.text}")
        time.sleep(0.2)
    raise BenchError("orders' read model did not learn of the bench products in 120 s")


def place(client: httpx.Client, buyer: Account, lines: list[int], order: Sent) -> Sent:
    """Send one order at its due time (open loop: whatever the earlier ones are doing)."""
    delay = order.due - time.time()
    if delay > 0:
        time.sleep(delay)
    headers = {**buyer.bearer(client), "Idempotency-Key": str(uuid.uuid4())}
    body = {"lines": [{"product_id": p, "quantity": 1} for p in lines]}
    order.sent = time.time()
    try:
        answer = client.post("/api/v1/orders/", headers=headers, json=body)
    except httpx.HTTPError as exc:
        order.error = f"{type(exc).__name__}: {exc}"
        return order
    order.seconds, order.status_code = time.time() - order.sent, answer.status_code
    if answer.status_code == 201:
        order.order_id = answer.json()["id"]
    else:
        order.error = f"{answer.status_code}: {answer.text[:200]}"
    return order


def send_step(
    client: httpx.Client,
    buyers: list[Account],
    products: list[int],
    *,
    rate: float,
    duration: float,
    lines: int,
    threads: int,
    seed: int,
) -> list[Sent]:
    """``rate`` orders per second for ``duration`` seconds, each of ``lines`` distinct
    products (1 unit), buyers in turn; returns every POST's record."""
    total = max(1, round(rate * duration))
    start = time.time() + 0.2
    orders = [Sent(due=start + i / rate) for i in range(total)]
    rng = random.Random(seed)  # noqa: S311 - which products each order takes, reproducibly
    picks = [rng.sample(products, lines) for _ in range(total)]
    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(
            pool.map(lambda i: place(client, buyers[i % len(buyers)], picks[i], orders[i]),
                     range(total))
        )  # fmt: skip


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def wait_final(client: httpx.Client, staff: Account, since: float, timeout: float) -> float | None:
    """Wait until no order created since ``since`` is PENDING; returns the seconds waited,
    or None when some still were after ``timeout`` (the step's figures count them)."""
    started = time.monotonic()
    query = {"status": "PENDING", "created_after": iso(since), "page_size": 1}
    while time.monotonic() - started < timeout:
        page = client.get("/api/v1/orders/", params=query, headers=staff.bearer(client))
        if page.status_code != 200:
            raise BenchError(f"orders list answered {page.status_code}: {page.text[:300]}")
        if not page.json()["results"]:
            return time.monotonic() - started
        time.sleep(0.5)
    return None


def outcomes(client: httpx.Client, staff: Account, since: float) -> dict[str, dict]:
    """Every order created since ``since``: id -> {status, created (s), updated (s)}."""
    found: dict[str, dict] = {}
    url: str | None = "/api/v1/orders/"
    params: dict | None = {"created_after": iso(since), "page_size": 200}
    while url:
        page = client.get(url, params=params, headers=staff.bearer(client))
        if page.status_code != 200:
            raise BenchError(f"orders list answered {page.status_code}: {page.text[:300]}")
        body = page.json()
        for order in body["results"]:
            found[order["id"]] = {
                "status": order["status"],
                "created": _epoch(order["created_at"]),
                "updated": _epoch(order["updated_at"]),
            }
        url, params = body.get("next"), None  # the next link carries the query and cursor
    return found


def _epoch(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
