"""`make load` against a running platform: the real Locust, headless, a short bounded run of
five shoppers (16 actions each) through the gateway (infra/load/locustfile.py), judged by its
JSON summary.

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


def load(platform: Platform, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """Every shopper does each action once (``--tour``), then by weight, 16 actions in all
    (``--actions``: the run ends when all have, whatever a busy machine makes a login cost;
    ``--run-time`` is only the ceiling): short think times, tokens refreshed after 6 s (they
    last 5 minutes), at most 2 open orders a shopper (then it cancels one), no failure
    allowed."""
    options = {
        "--host": platform.gateway,
        "--users": SHOPPERS,
        "--spawn-rate": SHOPPERS,
        "--run-time": "150s",
        "--actions": 16,
        "--refresh-after": 6,
        "--max-open-orders": 2,
        "--max-fail-ratio": 0,
        "--accounts-file": tmp_path / "accounts.json",
        "--summary-json": tmp_path / "summary.json",
    }
    return subprocess.run(
        [
            LOCUST,
            "-f",
            ROOT / "infra" / "load" / "locustfile.py",
            "--headless",
            "--only-summary",
            "--tour",
            *("--think-time", "0.2", "1"),
            *(str(item) for option in options.items() for item in option),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=400,  # the run's ceiling, then PENDING orders followed (--settle-timeout, 120 s)
        check=False,
    )


def test_load_shoppers_through_the_gateway(platform: Platform, tmp_path: Path) -> None:
    # given room in the gateway's auth quota (30 a minute per address, shared by every test):
    # 5 registrations, 5 logins and about 10 refreshes; a 429 would be waited out anyway
    gateway_quota_wait(platform.gateway, "/api/v1/auth/token", needed=25)

    # when five shoppers do 16 actions each, the first 8 one of each
    run = load(platform, tmp_path)

    # then nothing failed, and the exit code says so
    print(run.stdout[-3000:])  # the figures of the run (pytest -s shows them)
    assert run.returncode == 0, f"{run.stdout[-4000:]}\n{run.stderr[-4000:]}"
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["failures"] == 0, summary["endpoints"]
    assert summary["requests"] == sum(e["requests"] for e in summary["endpoints"])
    # every action's endpoints were called
    called = {f"{e['method']} {e['name']}" for e in summary["endpoints"] if e["requests"]}
    assert ENDPOINTS - called == set(), summary["endpoints"]
    # orders were placed, and every one was followed to its final status
    orders = summary["orders"]
    assert orders["placed"] >= SHOPPERS  # one in each tour at least
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
