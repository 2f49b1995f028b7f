"""The order saga under a steady load: orders placed through the gateway, each followed until
it is final.

What it measures: ``POST /api/v1/orders/`` (with an ``Idempotency-Key``, as a client sends it)
at a fixed rate (``--rate`` orders per second for ``--duration`` seconds, open loop: each
order is sent at its scheduled time whatever the previous ones are doing), spread over
``--buyers`` accounts, each order for ``--lines`` distinct products (1 unit each) out of
``--products`` bench products. Each placed order is then polled (``GET /api/v1/orders/<id>``
every ``--poll`` seconds) until it is CONFIRMED, REJECTED or ``--timeout`` passes. It reports:

- accepted orders per second (201 answers over the sending window) next to the rate asked;
- the POST's own latency (p50/p99);
- POST -> CONFIRMED, p50/p99: from sending the POST to the first poll that saw CONFIRMED (the
  client's view: includes up to one poll interval), and the same from the service's own
  timestamps (the order's ``updated_at`` - ``created_at``: the saga alone, order.placed ->
  catalog's reservation -> stock.reserved -> CONFIRMED, exact);
- how many were REJECTED (none unless ``--stock`` is set low), failed (any other answer than
  201) or still PENDING at the timeout.

How: it starts its own isolated platform with ``infra/local/runner.py up`` (temporary
PLATFORM_VAR, free ports, its own database prefix and RabbitMQ vhost, dropped at the end), as
``make up`` runs it (2 gunicorn workers per service, one Celery worker with concurrency 1 per
service). The gateway is rendered from a copy of gateway-config/kong.yml whose rate-limiting
``minute`` values are raised to 10,000,000 (a load from one address would otherwise hit the
600/minute of orders-api); counting still runs. The services' own throttles (order placement
per account, login, registration) are raised the same way, and so are orders' limits per
account (``ORDERS_MAX_OPEN_*``: a few buyers place every order of the run) and per order
(``ORDERS_MAX_LINES`` to its highest, 50: the probe orders every product at once). The demo
staff account creates the bench products (``--stock`` units each) through the gateway; the
run starts once orders' read model knows them (a probe order is accepted). Platform stopped
with Ctrl-C (SIGINT) even on error.

Run it (``make bench-saga`` runs the bootstrap first):

    var/tools/bin/python infra/bench/order_saga.py                        # 20/s for 30 s
    var/tools/bin/python infra/bench/order_saga.py --rate 10 --duration 5  # quick

Results: a table on stdout, and infra/bench/results/order_saga-<UTC time>.json / .md plus
order_saga-latest.md. This is a benchmark: nothing asserts a target.
"""

from __future__ import annotations

import argparse
import random
import secrets
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from charts import saga_chart

from benchlib import (
    RESULTS,
    BenchError,
    Platform,
    loadavg,
    provenance,
    start_platform,
    stop_platform,
    wait_ready,
    write_reports,
)

SERVICE_THROTTLE = "1000000/min"
# Few accounts place every order of the run and confirmed orders stay open (nothing ships
# them): the per-account limits of orders (orders/limits.py) are raised out of the way.
ACCOUNT_LIMITS = {
    "ORDERS_MAX_OPEN_PER_ACCOUNT": "100000000",
    "ORDERS_MAX_OPEN_VALUE_PER_ACCOUNT": "*=9999999999999999",
    "ORDERS_MAX_LINES": "50",
}
TOKEN_REFRESH_SECONDS = 240  # access tokens live 5 minutes
FINAL = {"CONFIRMED", "REJECTED", "CANCELLED"}


@dataclass
class Order:
    """One order of the run: when it was sent, what the POST answered, when it was final."""

    scheduled: float
    sent: float = 0.0
    answered: float = 0.0
    status_code: int = 0
    order_id: str = ""
    final_status: str = ""
    final_seen: float = 0.0  # monotonic time of the poll that saw the final status
    server_seconds: float | None = None  # updated_at - created_at of the final order
    error: str = ""


@dataclass
class Buyer:
    email: str
    password: str
    token: str = ""
    token_at: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)


# --- the isolated platform -----------------------------------------------------------------


def start_saga_platform(var: Path) -> Platform:
    throttles = {
        f"THROTTLE_{scope}": SERVICE_THROTTLE
        for scope in ("LOGIN", "LOGIN_ACCOUNT", "REGISTER", "REFRESH", "PASSWORD", "ORDER_PLACE")
    }
    return start_platform(var, throttles | ACCOUNT_LIMITS)


def backing_services(platform: Platform) -> str:
    """What the runner chose, as it printed it (database, broker, cache)."""
    text = platform.log.read_text()
    block = text.split("Platform backing services:\n", 1)[-1].split("Reach it", 1)[0]
    return ", ".join(" ".join(line.split()) for line in block.splitlines() if line.strip())


# --- set-up through the gateway ------------------------------------------------------------


def login(client: httpx.Client, email: str, password: str) -> str:
    answer = client.post("/api/v1/auth/token", json={"email": email, "password": password})
    if answer.status_code != 200:
        raise BenchError(f"login answered {answer.status_code}: {answer.text}")
    return answer.json()["access"]


def create_products(client: httpx.Client, staff: str, count: int, stock: int) -> list[int]:
    auth = {"Authorization": f"Bearer {staff}"}
    category = client.get("/api/v1/catalog/categories/").json()["results"][0]["slug"]
    ids = []
    for index in range(count):
        created = client.post(
            "/api/v1/catalog/products/",
            headers=auth,
            json={
                "sku": f"BENCH-{secrets.token_hex(3)}-{index}",
                "name": f"Bench product {index}",
                "price": "9.90",
                "category": category,
            },
        )
        if created.status_code != 201:
            raise BenchError(f"product create answered {created.status_code}: {created.text}")
        product = created.json()["id"]
        stocked = client.post(
            f"/api/v1/catalog/products/{product}/stock",
            headers=auth,
            json={"mode": "set", "quantity": stock, "reason": "restock"},
        )
        if stocked.status_code != 200:
            raise BenchError(f"stock set answered {stocked.status_code}: {stocked.text}")
        ids.append(product)
    return ids


def register_buyers(client: httpx.Client, count: int) -> list[Buyer]:
    buyers = []
    for _ in range(count):
        buyer = Buyer(f"bench-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(18))
        created = client.post(
            "/api/v1/auth/register", json={"email": buyer.email, "password": buyer.password}
        )
        if created.status_code != 201:
            raise BenchError(f"register answered {created.status_code}: {created.text}")
        buyer.token, buyer.token_at = login(client, buyer.email, buyer.password), time.monotonic()
        buyers.append(buyer)
    return buyers


def token(client: httpx.Client, buyer: Buyer) -> str:
    with buyer.lock:
        if time.monotonic() - buyer.token_at > TOKEN_REFRESH_SECONDS:
            buyer.token, buyer.token_at = (
                login(client, buyer.email, buyer.password),
                time.monotonic(),
            )
        return buyer.token


def wait_products_known(client: httpx.Client, buyer: Buyer, products: list[int]) -> None:
    """orders learns of products from product.changed events: a probe order of every
    product is accepted (not 422 unknown-product) once they have arrived; it is followed
    until final, so the stock read after it is the run's baseline."""
    lines = [{"product_id": p, "quantity": 1} for p in products]
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        probe = client.post(
            "/api/v1/orders/",
            headers={
                "Authorization": f"Bearer {buyer.token}",
                "Idempotency-Key": str(uuid.uuid4()),
            },
            json={"lines": lines},
        )
        if probe.status_code == 201:
            auth = {"Authorization": f"Bearer {buyer.token}"}
            while time.monotonic() < deadline:
                got = client.get(f"/api/v1/orders/{probe.json()['id']}", headers=auth)
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
    raise BenchError("orders' read model did not learn of the bench products in 60 s")


# --- the run -------------------------------------------------------------------------------


def parse_time(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def follow(
    client: httpx.Client, buyer: Buyer, order: Order, lines: list[int], args: argparse.Namespace
) -> Order:
    """Send one order at its scheduled time, then poll it until final or the timeout."""
    delay = order.scheduled - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    auth = {"Authorization": f"Bearer {token(client, buyer)}"}
    order.sent = time.monotonic()
    try:
        answer = client.post(
            "/api/v1/orders/",
            headers={**auth, "Idempotency-Key": str(uuid.uuid4())},
            json={"lines": [{"product_id": p, "quantity": 1} for p in lines]},
        )
    except httpx.HTTPError as exc:
        order.error = f"{type(exc).__name__}: {exc}"
        return order
    order.answered, order.status_code = time.monotonic(), answer.status_code
    if answer.status_code != 201:
        order.error = answer.text[:300]
        return order
    order.order_id = answer.json()["id"]
    deadline = order.sent + args.timeout
    while time.monotonic() < deadline:
        time.sleep(args.poll)
        try:
            got = client.get(f"/api/v1/orders/{order.order_id}", headers=auth)
        except httpx.HTTPError:
            continue
        body = got.json() if got.status_code == 200 else {}
        if body.get("status") in FINAL:
            order.final_status, order.final_seen = body["status"], time.monotonic()
            created, updated = parse_time(body["created_at"]), parse_time(body["updated_at"])
            order.server_seconds = (updated - created).total_seconds()
            return order
    order.final_status = "PENDING"
    return order


def run(platform: Platform, args: argparse.Namespace) -> tuple[list[Order], dict[str, Any]]:
    limits = httpx.Limits(max_connections=args.threads, max_keepalive_connections=args.threads)
    with httpx.Client(base_url=platform.gateway, timeout=30, limits=limits) as client:
        password = (platform.var / "demo-staff-password").read_text().strip()
        staff = login(client, "admin@example.com", password)
        products = create_products(client, staff, args.products, args.stock)
        buyers = register_buyers(client, args.buyers)
        wait_products_known(client, buyers[0], products)
        before = {p: client.get(f"/api/v1/catalog/products/{p}").json()["stock"] for p in products}
        print(
            f"{len(products)} products ({args.stock} units each), {len(buyers)} buyers; "
            f"placing {args.rate}/s for {args.duration}s",
            flush=True,
        )
        total = int(args.rate * args.duration)
        start = time.monotonic() + 0.5
        orders = [Order(scheduled=start + i / args.rate) for i in range(total)]
        rng = random.Random(20261122)  # noqa: S311 - which products each order takes, reproducibly
        picks = [rng.sample(products, args.lines) for _ in range(total)]
        with ThreadPoolExecutor(max_workers=args.threads) as pool:
            done = list(
                pool.map(
                    lambda i: follow(client, buyers[i % len(buyers)], orders[i], picks[i], args),
                    range(total),
                )
            )
        stocks = {p: client.get(f"/api/v1/catalog/products/{p}").json()["stock"] for p in products}
    return done, {"products": products, "stocks_before": before, "stocks_after": stocks}


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def summarise(orders: list[Order], args: argparse.Namespace, extra: dict[str, Any]) -> dict:
    accepted = [o for o in orders if o.status_code == 201]
    sent = [o.sent for o in orders if o.sent]
    window = (max(sent) - min(sent)) if len(sent) > 1 else 0.0
    window += 1 / args.rate  # the last order's slot
    confirmed = [o for o in accepted if o.final_status == "CONFIRMED"]
    client_ms = [(o.final_seen - o.sent) * 1000 for o in confirmed]
    server_ms = [o.server_seconds * 1000 for o in confirmed if o.server_seconds is not None]
    post_ms = [(o.answered - o.sent) * 1000 for o in orders if o.answered]
    lateness_ms = [(o.sent - o.scheduled) * 1000 for o in orders if o.sent]
    units = len(confirmed) * args.lines
    before, after = extra["stocks_before"], extra["stocks_after"]
    stock_taken = sum(before[p] - after[p] for p in before)

    def ms(value: float | None) -> float | None:
        return None if value is None else round(value, 1)

    return {
        "rate_asked": args.rate,
        "duration_s": args.duration,
        "orders_sent": len(orders),
        "accepted": len(accepted),
        "accepted_per_s": round(len(accepted) / window, 2) if window else None,
        "failed": len(orders) - len(accepted),
        "confirmed": len(confirmed),
        "rejected": sum(o.final_status == "REJECTED" for o in accepted),
        "pending_at_timeout": sum(o.final_status == "PENDING" for o in accepted),
        "post_p50_ms": ms(percentile(post_ms, 50)),
        "post_p99_ms": ms(percentile(post_ms, 99)),
        "confirmed_p50_ms": ms(percentile(client_ms, 50)),
        "confirmed_p99_ms": ms(percentile(client_ms, 99)),
        "confirmed_max_ms": ms(max(client_ms, default=None)),
        "saga_p50_ms": ms(percentile(server_ms, 50)),
        "saga_p99_ms": ms(percentile(server_ms, 99)),
        "send_lateness_p99_ms": ms(percentile(lateness_ms, 99)),
        "units_confirmed": units,
        "stock_taken": stock_taken,
        "errors": sorted({o.error for o in orders if o.error})[:5],
    }


# --- report --------------------------------------------------------------------------------


def report(figures: dict, meta: dict) -> str:
    rows = [
        ("orders asked", f"{figures['rate_asked']}/s for {figures['duration_s']} s "
         f"({figures['orders_sent']} orders)"),
        ("accepted (201) per second", figures["accepted_per_s"]),
        ("accepted / failed", f"{figures['accepted']} / {figures['failed']}"),
        ("CONFIRMED / REJECTED / still PENDING", f"{figures['confirmed']} / "
         f"{figures['rejected']} / {figures['pending_at_timeout']}"),
        ("POST latency p50 / p99 (ms)", f"{figures['post_p50_ms']} / {figures['post_p99_ms']}"),
        ("POST -> CONFIRMED seen by the client, p50 / p99 / max (ms)",
         f"{figures['confirmed_p50_ms']} / {figures['confirmed_p99_ms']} / "
         f"{figures['confirmed_max_ms']}"),
        ("saga alone (order updated_at - created_at), p50 / p99 (ms)",
         f"{figures['saga_p50_ms']} / {figures['saga_p99_ms']}"),
        ("units confirmed / stock taken (must match)",
         f"{figures['units_confirmed']} / {figures['stock_taken']}"),
        ("sending lateness p99 (ms; the open loop kept its schedule when small)",
         figures["send_lateness_p99_ms"]),
    ]  # fmt: skip
    lines = [
        "# Order saga: orders placed at a steady rate through the gateway, followed to final",
        "",
        *(f"- {key}: {value}" for key, value in meta.items()),
        "",
        "| figure | value |",
        "|---|---|",
        *(f"| {name} | {value} |" for name, value in rows),
    ]
    if figures["errors"]:
        lines += ["", "Errors (first 5 distinct):", *(f"- {e}" for e in figures["errors"])]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=20.0, help="orders per second (20)")
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of sending (30)")
    parser.add_argument("--products", type=int, default=20, help="bench products (20, <= 50)")
    parser.add_argument("--lines", type=int, default=2, help="products per order (2)")
    parser.add_argument("--stock", type=int, default=100_000, help="units per product")
    parser.add_argument("--buyers", type=int, default=10, help="buyer accounts (10)")
    parser.add_argument("--poll", type=float, default=0.05, help="poll interval, s (0.05)")
    parser.add_argument("--timeout", type=float, default=30.0, help="per order, s (30)")
    parser.add_argument("--threads", type=int, default=64, help="client threads (64)")
    args = parser.parse_args()
    if not 1 <= args.products <= 50:  # the probe orders every product in one order
        parser.error("--products must be between 1 and 50 (ORDERS_MAX_LINES at its highest)")
    if not 1 <= args.lines <= args.products:
        parser.error("--lines must be between 1 and --products")

    var = Path(tempfile.mkdtemp(prefix="bench-saga-"))
    platform = start_saga_platform(var)
    try:
        wait_ready(platform)
        load = loadavg()
        orders, extra = run(platform, args)
        figures = summarise(orders, args, extra)
        backing = backing_services(platform)
    except BenchError as exc:
        sys.exit(f"benchmark failed: {exc} (platform log: {platform.log})")
    finally:
        stop_platform(platform)

    meta = {
        **provenance(load),
        "backing_services": backing,
        "platform": "as `make up` runs it: 2 gunicorn sync workers per service, one Celery "
        "worker (concurrency 1, with beat) per service, HAProxy gateway",
        "orders": f"{args.lines} products x 1 unit each, {args.buyers} buyers round-robin, "
        f"an Idempotency-Key each; polled every {args.poll * 1000:.0f} ms",
        "note": "rate limits raised to 10,000,000/minute in the gateway's copy of kong.yml and "
        "the services' own throttles and orders' per-account limits raised (one client "
        "address, few buyers); counting still runs",
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    chart = saga_chart(
        orders,
        RESULTS / "order_saga-latest.png",
        title=f"Order saga: {args.rate}/s for {args.duration:g} s through the gateway",
    )
    text = report(figures, meta) + f"\n![latency, throughput, saga time]({chart.name})\n"
    print("\n" + text)
    write_reports("order_saga", {"meta": meta, "args": vars(args), "figures": figures}, text)


if __name__ == "__main__":
    main()
