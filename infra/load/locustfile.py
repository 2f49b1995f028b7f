"""Shoppers through the gateway: the load `make load` runs (infra/load/README.md).

Each simulated user holds one shopper account (from the account pool: registered once, reused
by later runs; load_session.py), logs in, refreshes its access token before it expires and,
between think times, does what shoppers do, by weight (load_options.WEIGHTS): browses the
catalog (following the keyset cursors the API gives), filters it by category and price,
searches it, opens products, places orders of products in stock with an Idempotency-Key and
follows each to its final status (light polling), reads its orders and /users/me, and
sometimes cancels a CONFIRMED order (a buyer may cancel their own PENDING or CONFIRMED
orders). A user keeps fewer than ``--max-open-orders`` orders open (orders limits them per
account: ORDERS_MAX_OPEN_PER_ACCOUNT and its value) by cancelling its oldest CONFIRMED one
first.

When the run stops, orders still PENDING are followed until final (``--settle-timeout``). The
summary (shopstats.render) is printed and written as JSON (``--summary-json``); the exit code
is 1 when failures exceed ``--max-fail-ratio`` of the requests or an order never became final.
"""

from __future__ import annotations

import json
import random
import sys
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import gevent
from locust import constant_throughput, events, log
from locust.env import Environment
from locust.exception import StopUser

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load_options  # this directory, just added (ruff's isort knows it)
import load_session
import shopstats

PRODUCTS = "/api/v1/catalog/products/"
CATEGORIES = "/api/v1/catalog/categories/"
ORDERS = "/api/v1/orders/"
ME = "/api/v1/users/me"
POLL_FIRST, POLL_MAX = 0.5, 3.0  # seconds between a shopper's looks at a PENDING order
FOLLOW_FOR = 60.0  # a shopper watches its order this long; the rest is left to the settling


events.init_command_line_parser.add_listener(load_options.add_arguments)


@events.init.add_listener
def _init(environment: Environment, **_: Any) -> None:
    load_session.ShopperSession.shop = load_session.Run(environment)
    if environment.parsed_options is not None:
        chosen = load_options.weights(environment.parsed_options.weight)
        Shopper.tasks = load_options.tasks(chosen)


@events.test_start.add_listener
def _start(**_: Any) -> None:
    load_session.ShopperSession.shop.started = time.monotonic()


@events.test_stop.add_listener
def _stop(**_: Any) -> None:
    """The users have stopped: follow every order still PENDING to its final status."""
    run = load_session.ShopperSession.shop
    run.stopped = time.monotonic()
    deadline = run.stopped + run.options.settle_timeout
    while run.ledger.pending() and time.monotonic() < deadline:
        for order_id in run.ledger.pending():
            run.owners[order_id].order_look(order_id)
        time.sleep(POLL_FIRST)


@events.quitting.add_listener
def _summary(environment: Environment, **_: Any) -> None:
    """The summary (JSON) and the exit code; printed after Locust's own tables (``quit``)."""
    run = load_session.ShopperSession.shop
    if environment.runner is not None:
        environment.runner.stop()  # Ctrl-C comes here first: settle the orders (test_stop)
    endpoints = [
        shopstats.Endpoint(
            entry.method or "",
            entry.name,
            entry.num_requests,
            entry.num_failures,
            *(
                entry.get_response_time_percentile(q) if entry.num_requests else None
                for q in (0.5, 0.95, 0.99)
            ),
        )
        for (name, _method), entry in sorted(environment.stats.entries.items())
        if not name.endswith(" [429]")
    ]
    run.summary = shopstats.summarize(
        endpoints, run.throttled, run.ledger, run.stopped - run.started
    )
    path = Path(run.options.summary_json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(run.summary, indent=1))
    code = shopstats.exit_code(run.summary, run.options.max_fail_ratio)
    crashed = environment.runner is not None and environment.runner.exceptions
    environment.process_exit_code = 2 if crashed or log.unhandled_greenlet_exception else code


@events.quit.add_listener
def _print_summary(exit_code: int, **_: Any) -> None:
    run = load_session.ShopperSession.shop
    if run.summary is not None:
        print(f"\n{shopstats.render(run.summary)}", flush=True)
        print(f"summary: {run.options.summary_json}, exit code {exit_code}", flush=True)


def page_path(link: str) -> str:
    """A next/previous link's path and query (the cursor), against this run's host."""
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def open_limit(response: Any) -> bool:
    """A 422 naming a limit on an account's open orders (limit-open-orders: their number,
    limit-open-value: their value): the shopper cancels one and orders later."""
    if response.status_code != 422:
        return False
    problem = response.json().get("type", "")
    return problem.endswith(("limit-open-orders", "limit-open-value"))


class Shopper(load_session.ShopperSession):
    def wait_time(self) -> float:
        options = self.shop.options
        if options.actions_per_second > 0:  # each user its share, paced (task time included)
            users = max(self.environment.runner.user_count if self.environment.runner else 1, 1)
            return float(constant_throughput(options.actions_per_second / users)(self))
        return random.uniform(*options.think_time)

    def on_start(self) -> None:
        self.in_stock: dict[int, dict[str, Any]] = {}  # product id -> as last seen, stock > 0
        self.categories: list[str] = []
        self.words: list[str] = []
        self.open: list[str] = []  # own PENDING or CONFIRMED orders, oldest first
        self.actions = 0
        super().on_start()
        self.products_seen(self.call("GET", f"{PRODUCTS}?in_stock=true", f"{PRODUCTS} (list)"))
        if self.shop.options.tour:
            for name in load_options.WEIGHTS:
                self.act(name)
                time.sleep(self.wait_time())

    def act(self, name: str) -> None:
        """One action; the last one (``--actions``) stops the shopper, and the run once every
        shopper has stopped so."""
        getattr(self, name)()
        self.actions += 1
        if self.actions != self.shop.options.actions:
            return
        self.shop.finished += 1
        runner = self.environment.runner
        if runner is not None and self.shop.finished >= (runner.target_user_count or 0):
            gevent.spawn(runner.quit)  # not from this user's greenlet: quitting stops it
        raise StopUser

    def products_seen(self, page: dict[str, Any] | None) -> str | None:
        """Remember what a list page showed (products in stock, words to search); its next
        page's link."""
        for product in (page or {}).get("results", []):
            self.product_seen(product)
        return (page or {}).get("next")

    def product_seen(self, product: dict[str, Any] | None) -> None:
        if not product:
            return
        if product["stock"] > 0:
            self.in_stock[product["id"]] = product
        else:
            self.in_stock.pop(product["id"], None)
        self.words = (self.words + product["name"].lower().split()[:2])[-50:]

    # --- the catalog (anonymous reads) ------------------------------------------------------

    def browse(self) -> None:
        ordering = random.choice(["name", "-price", "price", "newest"])
        link = self.products_seen(
            self.call("GET", f"{PRODUCTS}?ordering={ordering}", f"{PRODUCTS} (list)")
        )
        for _ in range(random.choice([0, 0, 1, 2])):  # a few pages further, by the cursor
            if not link:
                break
            link = self.products_seen(self.call("GET", page_path(link), f"{PRODUCTS} (next page)"))

    def filter(self) -> None:
        if not self.categories:
            page = self.call("GET", CATEGORIES, CATEGORIES)
            self.categories = [c["slug"] for c in (page or {}).get("results", [])]
        query: dict[str, Any] = {"in_stock": "true", "ordering": "price"}
        if self.categories:
            query["category"] = random.choice(self.categories)
        if random.random() < 0.5:
            query["max_price"] = random.choice([50, 100, 250])
        self.products_seen(self.call("GET", PRODUCTS, f"{PRODUCTS} (filter)", params=query))

    def search(self) -> None:
        query = {"q": random.choice(self.words or ["lamp"])}
        self.products_seen(self.call("GET", PRODUCTS, f"{PRODUCTS} (search)", params=query))

    def product(self) -> None:
        if not self.in_stock:
            return self.browse()
        product_id = random.choice(list(self.in_stock))
        self.product_seen(self.call("GET", f"{PRODUCTS}{product_id}", f"{PRODUCTS}<id>"))

    # --- the shopper's own (behind the gateway's jwt) ---------------------------------------

    def me(self) -> None:
        if self.account:
            self.call("GET", ME, ME, auth=True)

    def my_orders(self) -> None:
        if self.account:
            self.call("GET", ORDERS, f"{ORDERS} (mine)", auth=True)

    def order(self) -> None:
        """Place an order of 1-3 products seen in stock, then watch it until it is final."""
        if not (self.account and self.in_stock):
            return
        if len(self.open) >= self.shop.options.max_open_orders and not self.cancel():
            return
        chosen = random.sample(list(self.in_stock.values()), min(len(self.in_stock), 3))
        chosen = [p for p in chosen if p["currency"] == chosen[0]["currency"]]
        lines = [
            {"product_id": p["id"], "quantity": min(p["stock"], random.choice([1, 1, 2]))}
            for p in chosen[: random.randint(1, 3)]
        ]
        sent = time.monotonic()
        key = {"Idempotency-Key": str(uuid.uuid4())}
        placed = self.call(
            "POST",
            ORDERS,
            ORDERS,
            201,
            auth=True,
            tolerate=open_limit,
            headers=key,
            json={"lines": lines},
        )
        if placed is None:
            if self.tolerated is not None:  # a limit of the shop: cancel one, order later
                self.cancel()
            return
        self.shop.ledger.placed(placed["id"], placed["status"], sent)
        self.shop.owners[placed["id"]] = self
        self.open.append(placed["id"])
        self.order_follow(placed["id"])

    def order_follow(self, order_id: str) -> None:
        pause, until = POLL_FIRST, time.monotonic() + FOLLOW_FOR
        while time.monotonic() < until:
            time.sleep(pause)
            if self.order_look(order_id) in shopstats.FINAL:
                return
            pause = min(pause * 1.5, POLL_MAX)

    def order_look(self, order_id: str) -> str | None:
        order = self.call("GET", f"{ORDERS}{order_id}", f"{ORDERS}<id>", auth=True)
        if order is None:
            return None
        self.shop.ledger.seen(order_id, order["status"], time.monotonic())
        if order["status"] not in ("PENDING", "CONFIRMED") and order_id in self.open:
            self.open.remove(order_id)
        return order["status"]

    def cancel(self) -> bool:
        """Cancel the oldest of the shopper's CONFIRMED orders (its own final status seen)."""
        ledger = self.shop.ledger
        confirmed = [order_id for order_id in self.open if ledger.status[order_id] == "CONFIRMED"]
        if not confirmed:
            return False
        order_id = confirmed[0]
        body = {"reason": "changed my mind"}
        cancelled = self.call(
            "POST", f"{ORDERS}{order_id}/cancel", f"{ORDERS}<id>/cancel", auth=True, json=body
        )
        if cancelled is None:
            return False
        ledger.cancel(order_id)
        self.open.remove(order_id)
        return True


Shopper.tasks = load_options.tasks(load_options.WEIGHTS)
