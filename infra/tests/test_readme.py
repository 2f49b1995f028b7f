"""The README's API walk, run verbatim (bar the base URL) against a platform started by the
runner: the commands it shows must work and end as it says."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import httpx

from conftest import ROOT, Platform, eventually, gateway_quota_wait


def readme_walk() -> str:
    text = (ROOT / "README.md").read_text()
    section = text.split("## A walk through the API", 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def test_readme_walk_runs_as_documented(platform: Platform) -> None:
    assert_readme_walk(
        platform.gateway, platform.var / "demo-staff-password", platform.var / "mail"
    )


def assert_readme_walk(gateway: str, password_file: Path, mail_dir: Path) -> None:
    """Run the walk against the gateway at ``gateway`` and check every step's output, its
    mails read from ``mail_dir`` (the SMTP sink's folder); also run against the platform in
    containers (test_containers.py)."""
    script = readme_walk()
    assert "API=http://127.0.0.1:8000\n" in script
    assert "$(cat var/demo-staff-password)" in script
    script = script.replace("API=http://127.0.0.1:8000", f"API={gateway}")
    script = script.replace("var/demo-staff-password", str(password_file))
    assert " var/mail <<" in script  # the walk reads the platform's SMTP sink
    script = script.replace(" var/mail <<", f" {mail_dir} <<")
    # The gateway's auth limit (30 a minute per address) is shared with the tests around this
    # one, all from 127.0.0.1: start with room for every auth call the walk makes.
    gateway_quota_wait(gateway, "/api/v1/auth/token", script.count("/api/v1/auth/"))
    # Each response body on its own line, so the outputs can be told apart.
    prelude = 'set -euo pipefail\ncurl() { command curl "$@"; echo; }\n'
    run = subprocess.run(
        ["bash", "-c", prelude + script], capture_output=True, text=True, timeout=300, check=False
    )
    assert run.returncode == 0, run.stderr
    lines = [line for line in run.stdout.splitlines() if line.strip()]
    assert len(lines) == 21, run.stdout
    registered, verified, me, logout, refused, jwks, *catalog = lines[:11]
    placed, confirmed, confirmation_mail, lamp_stock, other_stock = lines[11:16]
    cancelled, lamp_restored, reset_asked, reset, logged_in = lines[16:]
    assert json.loads(registered)["email"] == "ann@example.com"
    assert verified == "204"  # with the token of the link mailed through the SMTP sink
    assert json.loads(me)["email_verified"] is True
    assert json.loads(me)["email"] == "ann@example.com"
    assert logout == "204"
    problem = json.loads(refused)
    assert problem["status"] == 401
    assert problem["type"] == "urn:problem-type:token-not-valid"
    assert problem["detail"] == "Refresh token is invalid, expired or revoked."
    assert len(json.loads(jwks)["keys"]) >= 2

    listed, anonymous_write, created, set_to, incremented = catalog
    products = json.loads(listed)["results"]
    assert len(products) == 2
    assert {p["category"]["slug"] for p in products} == {"lighting"}
    assert float(products[0]["price"]) <= float(products[1]["price"])
    assert anonymous_write == '{"message":"Unauthorized"}'
    product = json.loads(created)
    assert (product["sku"], product["stock"], product["category"]["slug"]) == (
        "LAMP-001",
        0,
        "lighting",
    )
    assert json.loads(set_to)["product"]["stock"] == 10
    change = json.loads(incremented)
    assert (change["product"]["stock"], change["product"]["in_stock"]) == (15, True)
    movement = change["movement"]
    assert (movement["delta"], movement["stock_after"], movement["reason"]) == (5, 15, "return")
    assert movement["actor"].startswith("user:")

    order = json.loads(placed)
    assert order["status"] == "PENDING"
    assert len(order["lines"]) == 2
    assert (order["lines"][0]["sku"], order["lines"][0]["quantity"]) == ("LAMP-001", 2)
    assert confirmed == "CONFIRMED"  # the walk waits for the saga (at most a minute)
    assert lamp_stock == "13"
    before, after = other_stock.split(" -> ")
    assert int(after) == int(before) - 1
    assert cancelled == "CANCELLED"
    assert lamp_restored == "15"
    assert (
        confirmation_mail
        == f"Your order {order['id']} is confirmed: the goods are reserved for you."
    )
    assert json.loads(reset_asked) == {
        "detail": "If an account uses this address, a password-reset link is on its way."
    }
    assert (reset, logged_in) == ("204", "200")  # the reset link's token, from the mail


def test_readme_forged_token_example_prints_what_it_says(platform: Platform) -> None:
    section = (ROOT / "README.md").read_text().split("## The gateway", 1)[1]
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    example = next(block for block in blocks if "Bearer not.a.token" in block)
    command, expected = example.strip().splitlines()
    command = command.replace("http://127.0.0.1:8000", platform.gateway)
    run = subprocess.run(
        ["bash", "-c", command], capture_output=True, text=True, timeout=120, check=False
    )
    assert run.stdout == expected.removeprefix("# ")


def test_after_the_walk_every_observed_metric_exists(platform: Platform) -> None:
    """After the walk above: each service's /metrics (its own port; the gateway does not route
    it) and the gateway's status /metrics hold every metric the alert rules and dashboards
    name (infra/observability/). Embedded mode has no Redis and no broker queues to measure:
    the cache and queue-depth series are only asked of the local-services platform."""
    from test_observability import expected_names, scrape

    status = f"http://127.0.0.1:{platform.env['GATEWAY_STATUS_PORT']}/metrics"
    urls = [f"{url}/metrics" for url in platform.urls.values()] + [status]
    absent_here = (
        {"cache_requests_total", "events_queue_messages"} if platform.mode == "embedded" else set()
    )
    wanted = {name for names in expected_names().values() for name in names} - absent_here
    missing: set[str] = set()

    def all_present() -> bool:  # the gauges come from a task every 15 s
        nonlocal missing
        names = scrape(urls)
        missing = {w for w in wanted if w not in names and f"{w}_bucket" not in names}
        return not missing

    eventually(all_present, "metrics never all present", timeout=90)
    assert missing == set()
    assert httpx.get(f"{platform.gateway}/metrics", timeout=30).status_code == 404
    orders = httpx.get(f"{platform.urls['orders']}/metrics", timeout=30).text
    assert re.search(r'^orders_saga_outcomes_total\{status="CONFIRMED"\} [1-9]', orders, re.M)
    assert re.search(
        r'^http_requests_total\{method="POST",route="api/v1/orders/",status="201"\} [1-9]',
        orders,
        re.M,
    )
