"""The order saga under rising load: where is the knee, and what does each part cost there?

It steps the offered rate up (``--steps``, orders per second, ``--step-seconds`` each, open
loop: each order is sent at its due time whatever the earlier ones are doing), then holds
``--sustain`` orders per second for ``--sustain-seconds`` (when a step of at least half that
rate kept up: otherwise its backlog would take minutes to drain). Every order is a
``POST /api/v1/orders/`` through the gateway with an ``Idempotency-Key``, for ``--lines``
distinct products (1 unit each) out of ``--products``, buyers in turn. After each step's
window it waits (up to ``--timeout``) until no order of the step is PENDING and reads them
all in bulk
(saga_client.py: no per-order polling). Per step it reports:

- offered, accepted (201) and CONFIRMED per second (confirmed orders over the time from the
  step's first POST to its last confirmation), errors (any answer but 201, or none);
- POST p50/p99; POST -> CONFIRMED p50/p99 (the order's ``updated_at`` minus when the POST
  was sent) and the saga alone (``updated_at - created_at``);
- the CPU of each process group (gateway, each service's web, worker and beat, PostgreSQL's
  backends, RabbitMQ, the runner's log relay, the client) in cores over the step, and per
  confirmed order; PostgreSQL commits and outbox events per order.

Before the steps it measures the machine's ceilings (ceilings.py: pgbench commits/s,
RabbitMQ confirmed publish + consume/s) and reports the saga's rate as a fraction of the bound
they give. The knee is the highest step that kept up (CONFIRMED >= 95 % of offered, no
error); stepping stops after two steps that did not. It checks at the end that the units
of every CONFIRMED order equal the stock taken.

The platform is its own, started as ``make up`` starts it (benchlib: temporary PLATFORM_VAR,
free ports, its own database prefix and vhost; rate limits raised in a copy of kong.yml, the
services' throttles and orders' per-account limits raised). Results: a table on stdout,
infra/bench/results/order_saga-<UTC time>.json/.md, order_saga-latest.md and its PNG chart.
A benchmark: nothing asserts a target; the targets table says PASS or MISS.

    make bench-saga                                          # about 8 minutes
    make bench-saga BENCH_ARGS="--steps 10,20 --step-seconds 5 --sustain 0"   # quick
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import httpx

import saga_cpu
import saga_report
from benchlib import (
    BenchError,
    CpuSampler,
    Platform,
    loadavg,
    platform_groups,
    start_platform,
    stop_platform,
    wait_ready,
)
from ceilings import pgbench_commits, rabbitmq_messages
from saga_client import (
    Account,
    create_products,
    outcomes,
    register_buyers,
    send_step,
    stocks,
    wait_final,
    wait_products_known,
)

SERVICE_THROTTLE = "1000000/min"
# Few accounts place every order of the run and confirmed orders stay open (nothing ships
# them): the per-account limits of orders (orders/limits.py) are raised out of the way.
ACCOUNT_LIMITS = {
    "ORDERS_MAX_OPEN_PER_ACCOUNT": "100000000",
    "ORDERS_MAX_OPEN_VALUE_PER_ACCOUNT": "*=9999999999999999",
    "ORDERS_MAX_LINES": "50",
}
KEPT_UP = 0.95  # CONFIRMED per second over offered, for a step that kept up


def start_saga_platform(var: Path) -> Platform:
    throttles = {
        f"THROTTLE_{scope}": SERVICE_THROTTLE
        for scope in ("LOGIN", "LOGIN_ACCOUNT", "REGISTER", "REFRESH", "PASSWORD", "ORDER_PLACE")
    }
    return start_platform(var, throttles | ACCOUNT_LIMITS)


def run_step(
    shop: dict, platform: Platform, rate: float, seconds: float, args: argparse.Namespace
) -> dict:
    """One step: send, wait for every order to be final, read them, account the CPU."""
    client, staff = shop["client"], shop["staff"]
    commits_before = saga_cpu.database_counts(platform)
    sampler = CpuSampler(platform_groups(platform, pg="all")).start()
    sent = send_step(
        client, shop["buyers"], shop["products"], rate=rate, duration=seconds,
        lines=args.lines, threads=args.threads, seed=int(rate * 1000 + seconds),
    )  # fmt: skip
    since = min(order.sent for order in sent) - 1
    drained = wait_final(client, staff, since, args.timeout)
    cpu = sampler.stop()
    commits_after = saga_cpu.database_counts(platform)
    found = outcomes(client, staff, since)
    figures = saga_report.step_figures(rate, seconds, sent, found, args.lines)
    figures["drain_s"] = round(drained, 1) if drained is not None else f">{args.timeout:g}"
    figures["cpu"] = saga_cpu.per_order_cpu(cpu, figures["confirmed"])
    figures["per_order"] = saga_cpu.per_order(commits_before, commits_after, figures["confirmed"])
    kept = figures["confirmed_per_s"] >= KEPT_UP * rate and not figures["errors"]
    figures["kept_up"] = bool(kept)
    print(saga_report.step_line(figures), flush=True)
    return figures


def benchmark(platform: Platform, args: argparse.Namespace) -> dict:
    limits = httpx.Limits(max_connections=args.threads + 4, max_keepalive_connections=args.threads)
    with httpx.Client(base_url=platform.gateway, timeout=30, limits=limits) as client:
        password = (platform.var / "demo-staff-password").read_text().strip()
        staff = Account("admin@example.com", password)
        products = create_products(client, staff, args.products, args.stock)
        buyers = register_buyers(client, args.buyers)
        wait_products_known(client, buyers[0], products)
        before = stocks(client, products)
        ceilings = {
            "postgresql": pgbench_commits(platform.prefix),
            "rabbitmq": rabbitmq_messages(platform.prefix),
        }
        print(f"ceilings: {ceilings}", flush=True)
        shop = {"client": client, "staff": staff, "buyers": buyers, "products": products}
        steps, missed = [], 0
        for rate in args.steps:
            steps.append(run_step(shop, platform, rate, args.step_seconds, args))
            missed = 0 if steps[-1]["kept_up"] else missed + 1
            if missed == 2:
                print("two steps in a row did not keep up: stepping stops", flush=True)
                break
        sustained = None
        kept = [step["offered_per_s"] for step in steps if step["kept_up"]]
        if args.sustain and max(kept, default=0) >= args.sustain / 2:
            sustained = run_step(shop, platform, args.sustain, args.sustain_seconds, args)
        elif args.sustain:  # its backlog would take minutes to drain and tell nothing more
            print(f"knee below {args.sustain / 2:g}/s: the {args.sustain:g}/s hold is not run")
        after = stocks(client, products)
    return {
        "ceilings": ceilings,
        "steps": steps,
        "sustained": sustained,
        "stock_taken": sum(before[p] - after[p] for p in products),
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    rates = lambda text: [float(r) for r in text.split(",") if r]  # noqa: E731
    parser.add_argument("--steps", type=rates, default=rates("10,25,50,75,100,125,150"),
                        help="offered rates, orders/s (10,25,50,75,100,125,150)")  # fmt: skip
    parser.add_argument("--step-seconds", type=float, default=20.0, help="per step (20)")
    parser.add_argument("--sustain", type=float, default=100.0, help="held rate, 0: none (100)")
    parser.add_argument("--sustain-seconds", type=float, default=60.0, help="held for (60)")
    parser.add_argument("--products", type=int, default=20, help="bench products (20, <= 50)")
    parser.add_argument("--lines", type=int, default=2, help="products per order (2)")
    parser.add_argument("--stock", type=int, default=1_000_000, help="units per product")
    parser.add_argument("--buyers", type=int, default=50, help="buyer accounts (50)")
    parser.add_argument("--threads", type=int, default=64, help="client threads sending (64)")
    parser.add_argument("--timeout", type=float, default=120.0, help="drain per step, s (120)")
    args = parser.parse_args()
    if not 1 <= args.products <= 50:  # the probe orders every product in one order
        parser.error("--products must be between 1 and 50 (ORDERS_MAX_LINES at its highest)")
    if not 1 <= args.lines <= args.products:
        parser.error("--lines must be between 1 and --products")
    return args


def main() -> None:
    args = parse_args()
    var = Path(tempfile.mkdtemp(prefix="bench-saga-"))
    platform = start_saga_platform(var)
    try:
        wait_ready(platform)
        load = loadavg()
        found = benchmark(platform, args)
        backing = saga_report.backing_services(platform.log.read_text())
    except BenchError as exc:
        sys.exit(f"benchmark failed: {exc} (platform log: {platform.log})")
    finally:
        stop_platform(platform)
    saga_report.publish(found, args, load, backing)


if __name__ == "__main__":
    main()
