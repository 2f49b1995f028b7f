"""`make load` against a running platform: the real Locust, headless, a short bounded run of
five shoppers (30 s) through the gateway (infra/load/locustfile.py), judged by its JSON summary.

What it would catch: a shopper's step the platform refuses (any failure: a changed route,
body or status), orders never placed or never seen final (the saga, or the load's following
of it), an action whose endpoints are no longer called, 429s counted as failures, the account
pool not kept, the exit code not reflecting the summary. Nothing here is timed: the figures of
a run are printed, never asserted.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from conftest import ROOT, Platform, gateway_quota_wait

pytestmark = pytest.mark.parametrize("platform", ["local-services"], indirect=True)

LOCUST = ROOT / "var" / "tools" / "bin" / "locust"
SHOPPERS = 5
# Every action of the shoppers' mix, by its statistics name (method and path or its pattern).
ENDPOINTS = {
    "GET /api/v1/catalog/products/ (list)",
    "GET /api/v1/catalog/products/ (next page)",
    "GET /api/v1/catalog/products/ (filter)",
    "GET /api/v1/catalog/products/ (search)",
    "GET /api/v1/catalog/products/<id>",
    "GET /api/v1/catalog/categories/",
    "POST /api/v1/auth/register",
    "POST /api/v1/auth/token",
    "POST /api/v1/auth/token/refresh",
    "GET /api/v1/users/me",
    "GET /api/v1/orders/ (mine)",
    "POST /api/v1/orders/",
    "GET /api/v1/orders/<id>",
    "POST /api/v1/orders/<id>/cancel",
}


def load(platform: Platform, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    """A run of 30 s (a login takes seconds on a busy machine): short think times, tokens
    refreshed after 10 s (they last 5 minutes), more orders and cancels than the default mix,
    at most 2 open orders a shopper (then it cancels one), no failure allowed."""
    return subprocess.run(
        [
            LOCUST,
            "-f",
            ROOT / "infra" / "load" / "locustfile.py",
            "--headless",
            "--only-summary",
            "--host",
            platform.gateway,
            "--users",
            str(SHOPPERS),
            "--spawn-rate",
            str(SHOPPERS),
            "--run-time",
            "30s",
            "--think-time",
            "0.2",
            "1",
            "--refresh-after",
            "10",
            "--max-open-orders",
            "2",
            "--weight",
            "order=8",
            "--weight",
            "cancel=3",
            "--max-fail-ratio",
            "0",
            "--accounts-file",
            tmp_path / "accounts.json",
            "--summary-json",
            tmp_path / "summary.json",
            *extra,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,  # 30 s of load, then PENDING orders followed (--settle-timeout, 120 s)
        check=False,
    )


def test_load_shoppers_through_the_gateway(platform: Platform, tmp_path: Path) -> None:
    # given room in the gateway's auth quota (30 a minute per address, shared by every test):
    # 5 registrations, 5 logins and up to 15 refreshes; a 429 would be waited out anyway
    gateway_quota_wait(platform.gateway, "/api/v1/auth/token", needed=25)

    # when five shoppers shop for 30 seconds
    run = load(platform, tmp_path)

    # then nothing failed, and the exit code says so
    summary = json.loads((tmp_path / "summary.json").read_text())
    print(run.stdout[-3000:])
    assert run.returncode == 0, f"{run.stdout[-4000:]}\n{run.stderr[-4000:]}"
    assert summary["failures"] == 0, summary["endpoints"]
    assert summary["requests"] == sum(e["requests"] for e in summary["endpoints"])
    # every action's endpoints were called
    called = {f"{e['method']} {e['name']}" for e in summary["endpoints"] if e["requests"]}
    assert ENDPOINTS - called == set(), summary["endpoints"]
    # orders were placed, and every one was followed to its final status
    orders = summary["orders"]
    assert orders["placed"] >= 1
    assert orders["pending"] == 0
    assert orders["confirmed"] + orders["rejected"] == orders["placed"]
    assert 1 <= orders["cancelled"] <= orders["confirmed"]
    assert summary["post_to_final_ms"]["count"] == orders["placed"]
    # one account per shopper, registered and kept for the next run
    accounts = json.loads((tmp_path / "accounts.json").read_text())
    assert list(accounts) == [platform.gateway]
    assert len({a["email"] for a in accounts[platform.gateway]}) == SHOPPERS
    assert "orders: " in run.stdout
    assert "POST -> final status (client" in run.stdout
