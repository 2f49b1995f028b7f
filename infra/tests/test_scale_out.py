"""Scale-out on the running platform (`make up SCALE=...`): several web processes behind the
gateway and several workers per service, so several outbox relays (every process that commits
relays its rows) and several sweeps at once. Each event is still sent once and applied once.

Runs on the scaled platform only (three web and three worker processes per service); the saga
tests marked ``scaled`` in test_saga.py run there too (the oversell race, a duplicate delivery,
a worker killed mid-handler).
"""

from __future__ import annotations

import re
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from test_saga import (  # noqa: F401 - fixtures used by name
    FINAL,
    Shop,
    broker_permissions,
    rabbitmqctl,
    shop,
    staff_token,
    wait_for,
)

from conftest import EVENTUALLY, HTTP_TIMEOUT, REGISTRY, ROOT, RUNNER, Platform

ORDERS = 16
STOCK = 10
SWEEPERS = 4
UNSENT = "SELECT count(*) FROM chassis_events_outboxevent WHERE published_at IS NULL"
SWEEP = "from chassis.events.tasks import outbox_sweep\nprint('swept', outbox_sweep())"


def sweep(platform: Platform, service: str) -> int:
    """One outbox sweep in a process of its own (a relay like any other), as beat's would."""
    run = subprocess.run(
        [sys.executable, RUNNER, "manage", service, "shell", "-c", SWEEP],
        cwd=ROOT,
        env=platform.env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    found = re.search(r"^swept (\d+)$", run.stdout, flags=re.MULTILINE)
    assert found, run.stdout
    return int(found.group(1))


@pytest.mark.scaled
@pytest.mark.parametrize("platform", ["scaled"], indirect=True)  # the scaled platform only
def test_several_relays_and_sweeps_send_each_event_once(shop: Shop) -> None:  # noqa: F811
    """Orders placed while RabbitMQ refuses the platform pile up in orders' outbox (placed
    through the gateway, spread over the web processes); once it is back, four sweeps run at
    once beside the platform's own relays. Each order.placed is sent exactly once (the sweeps'
    counts add up to at most the pending rows and no consumer ever reports a duplicate), and
    the saga settles each order exactly once: as many confirmed as there was stock."""
    platform = shop.platform
    assert all(platform.scale(name) > 1 for name in REGISTRY)
    product = shop.product(stock=STOCK)
    buyer = shop.buyer()
    vhost = shop.vhost
    if not vhost:
        pytest.skip("needs rabbitmqctl: the platform runs in the shared default vhost")
    granted = broker_permissions(vhost)
    for user in granted:
        rabbitmqctl("clear_permissions", "-p", vhost, user)
    try:
        rabbitmqctl("close_all_connections", "-p", vhost, "system test: broker down")

        def place(_: int) -> httpx.Response:
            with httpx.Client(base_url=platform.gateway, timeout=HTTP_TIMEOUT) as client:
                return shop.place(buyer, [(product, 1)], client=client)

        with ThreadPoolExecutor(max_workers=ORDERS) as pool:
            answers = list(pool.map(place, range(ORDERS)))
        assert [(a.status_code, a.json()["status"]) for a in answers] == [(201, "PENDING")] * ORDERS
        ids = sorted(a.json()["id"] for a in answers)
        placed = (
            "SELECT id FROM chassis_events_outboxevent WHERE type = 'order.placed' "
            f"AND payload->>'order_id' IN ({', '.join(repr(i) for i in ids)})"
        )
        pending = f"SELECT count(*) FROM ({placed} AND published_at IS NULL) AS p"
        assert int(shop.orders_sql(pending)) == ORDERS  # none got through
        unsent = int(shop.orders_sql(UNSENT))
    finally:
        for user, (configure, write, read) in granted.items():
            rabbitmqctl("set_permissions", "-p", vhost, user, configure, write, read)

    with ThreadPoolExecutor(max_workers=SWEEPERS) as pool:
        swept = list(pool.map(lambda _: sweep(platform, "orders"), range(SWEEPERS)))
    # Rows are claimed with SKIP LOCKED and marked sent in the claiming transaction: a row
    # another relay holds or has sent is not sent again.
    assert sum(swept) <= unsent
    wait_for(
        lambda: all(o["status"] in FINAL for o in shop.orders_of(buyer)),
        EVENTUALLY,
        "orders still PENDING after the broker came back",
    )
    assert Counter(o["status"] for o in shop.orders_of(buyer)) == {
        "CONFIRMED": STOCK,
        "REJECTED": ORDERS - STOCK,
    }
    assert shop.stock(product) == 0
    assert [m["reason"] for m in shop.ledger(product)] == ["restock"] + ["reservation"] * STOCK
    assert int(shop.orders_sql(pending)) == 0
    events = shop.orders_sql(placed).split()
    replies = shop.catalog_sql(
        "SELECT id FROM chassis_events_outboxevent WHERE type IN "
        "('stock.reserved', 'stock.rejected') AND payload->>'order_id' IN "
        f"({', '.join(repr(i) for i in ids)})"
    ).split()
    assert len(events) == len(replies) == ORDERS  # one answer per order: applied once
    inbox = "SELECT count(*) FROM chassis_events_inboxevent WHERE event_id IN ({})"
    assert shop.catalog_sql(inbox.format(", ".join(repr(e) for e in events))) == str(ORDERS)
    assert shop.orders_sql(inbox.format(", ".join(repr(e) for e in replies))) == str(ORDERS)
    # Sent once: a second delivery of any of them would have been reported by its consumer.
    duplicates = [
        line
        for line in shop.log_lines("events.duplicate")
        if any(event in line for event in events + replies)
    ]
    assert duplicates == []
