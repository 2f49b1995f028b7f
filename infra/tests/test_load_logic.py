"""The load generator's pure logic (infra/load/shopstats.py, load_options.py): waits, token
expiry, the order ledger, the account pool, the summary and its exit code, the actions'
weights. No platform needed."""

from __future__ import annotations

import base64
import json
import sys
from pathlib import Path

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "infra" / "load"))
import load_options  # infra/load, just added
import shopstats


@pytest.mark.parametrize(
    ("headers", "seconds"),
    [
        ({"Retry-After": "7"}, 7.0),
        ({"retry-after": "2"}, 2.0),  # as Locust's case-insensitive headers may hand it over
        ({"Retry-After": "0"}, 0.0),
        ({}, 1.0),
        ({"Retry-After": "soon"}, 1.0),
        ({"Retry-After": "-3"}, 1.0),
        ({"Retry-After": "3600"}, 65.0),  # never more than one minute window
    ],
)
def test_retry_after(headers: dict[str, str], seconds: float) -> None:
    assert shopstats.retry_after(headers) == seconds


def jwt(claims: dict[str, object]) -> str:
    body = base64.urlsafe_b64encode(json.dumps(claims).encode()).decode().rstrip("=")
    return f"eyJhbGciOiJSUzI1NiJ9.{body}.c2lnbmF0dXJl"


def test_token_expires_at() -> None:
    assert shopstats.token_expires_at(jwt({"exp": 1_900_000_123, "sub": "7"})) == 1_900_000_123
    assert shopstats.token_expires_at(jwt({"sub": "7"})) == 0.0
    assert shopstats.token_expires_at("not-a-token") == 0.0
    assert shopstats.token_expires_at("a.%%%.c") == 0.0


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert shopstats.percentile(values, 50) == 50.0
    assert shopstats.percentile(values, 99) == 99.0
    assert shopstats.percentile(values, 100) == 100.0
    assert shopstats.percentile([3.0], 99) == 3.0
    assert shopstats.percentile([], 50) is None


def test_ledger_follows_orders_to_final() -> None:
    ledger = shopstats.OrderLedger()
    ledger.placed("a", "PENDING", sent_at=10.0)
    ledger.placed("b", "PENDING", sent_at=11.0)
    ledger.placed("c", "PENDING", sent_at=12.0)
    ledger.placed("a", "PENDING", sent_at=13.0)  # an idempotent replay keeps the first POST
    ledger.seen("a", "PENDING", now=10.5)
    ledger.seen("a", "CONFIRMED", now=10.8)
    ledger.seen("b", "REJECTED", now=11.3)
    ledger.seen("a", "CONFIRMED", now=20.0)  # a later look changes no latency
    ledger.cancel("a")
    assert ledger.pending() == ["c"]
    assert ledger.counts() == {
        "placed": 3,
        "confirmed": 1,
        "rejected": 1,
        "cancelled": 1,
        "pending": 1,
    }
    assert {k: round(v, 3) for k, v in ledger.to_final.items()} == {"a": 0.8, "b": 0.3}


def test_account_pool_reuses_accounts_per_host(tmp_path: Path) -> None:
    path = tmp_path / "load" / "accounts.json"
    pool = shopstats.AccountPool(path, "http://127.0.0.1:8000/")
    assert pool.take() is None
    pool.add({"email": "a@x", "password": "pa"})
    pool.add({"email": "b@x", "password": "pb"})
    assert pool.take() is None  # both held by the users that registered them
    pool.release("a@x")
    assert pool.take() == {"email": "a@x", "password": "pa"}
    assert path.stat().st_mode & 0o777 == 0o600

    later = shopstats.AccountPool(path, "http://127.0.0.1:8000")  # the next run
    assert [later.take(), later.take(), later.take()] == [
        {"email": "a@x", "password": "pa"},
        {"email": "b@x", "password": "pb"},
        None,
    ]
    later.drop("a@x")
    assert shopstats.AccountPool(path, "http://127.0.0.1:8000").take() == {
        "email": "b@x",
        "password": "pb",
    }
    assert shopstats.AccountPool(path, "http://127.0.0.1:9000").take() is None


def summary(failures: int, pending: bool = False) -> dict[str, object]:
    ledger = shopstats.OrderLedger()
    ledger.placed("a", "PENDING", sent_at=0.0)
    ledger.seen("a", "CONFIRMED", now=0.25)
    if pending:
        ledger.placed("b", "PENDING", sent_at=0.0)
    endpoints = [
        shopstats.Endpoint("GET", "/api/v1/catalog/products/ (list)", 150, failures, 9, 20, 31),
        shopstats.Endpoint("POST", "/api/v1/orders/", 50, 0, 40.0, 80.0, 120.0),
    ]
    return shopstats.summarize(endpoints, {"POST /api/v1/auth/token": 2}, ledger, 20.0)


def test_summary() -> None:
    result = summary(failures=2)
    assert result == {
        "duration_s": 20.0,
        "requests": 200,
        "failures": 2,
        "fail_ratio": 0.01,
        "rps": 10.0,
        "endpoints": [
            {
                "method": "GET",
                "name": "/api/v1/catalog/products/ (list)",
                "requests": 150,
                "failures": 2,
                "p50": 9,
                "p95": 20,
                "p99": 31,
            },
            {
                "method": "POST",
                "name": "/api/v1/orders/",
                "requests": 50,
                "failures": 0,
                "p50": 40.0,
                "p95": 80.0,
                "p99": 120.0,
            },
        ],
        "throttled": {"POST /api/v1/auth/token": 2},
        "orders": {"placed": 1, "confirmed": 1, "rejected": 0, "cancelled": 0, "pending": 0},
        "post_to_final_ms": {"count": 1, "p50": 250.0, "p99": 250.0},
    }
    text = shopstats.render(result)
    assert "orders: 1 placed, 1 confirmed, 0 rejected, 0 cancelled, 0 still pending" in text
    assert "POST -> final status (client, 1 orders): p50 250 ms, p99 250 ms" in text
    assert "429 (waited out Retry-After, not failures): POST /api/v1/auth/token: 2" in text


@pytest.mark.parametrize(
    ("failures", "pending", "max_ratio", "code"),
    [
        (0, False, 0.0, 0),
        (2, False, 0.01, 0),  # 1% of 200: at the threshold
        (3, False, 0.01, 1),
        (1, False, 0.0, 1),
        (0, True, 0.01, 1),  # an order never seen final
    ],
)
def test_exit_code(failures: int, pending: bool, max_ratio: float, code: int) -> None:
    assert shopstats.exit_code(summary(failures, pending), max_ratio) == code


def test_exit_code_of_a_run_that_sent_nothing() -> None:
    empty = shopstats.summarize([], {}, shopstats.OrderLedger(), 15.0)
    assert (empty["requests"], empty["fail_ratio"], empty["rps"]) == (0, 0.0, 0.0)
    assert shopstats.exit_code(empty, 0.01) == 1


def test_weights_change_one_action_at_a_time() -> None:
    assert load_options.weights([]) == load_options.WEIGHTS
    chosen = load_options.weights(["order=6", "cancel=0", "order=7"])
    assert chosen == {**load_options.WEIGHTS, "order": 7, "cancel": 0}
    for wrong in ("buy=3", "order", "order=-1", "order=many"):
        with pytest.raises(SystemExit, match="NAME=N"):
            load_options.weights([wrong])


def test_tasks_repeat_each_action_by_its_weight() -> None:
    class User:
        def __init__(self) -> None:
            self.done: list[str] = []

        def act(self, name: str) -> None:
            self.done.append(name)

    user = User()
    tasks = load_options.tasks({"browse": 2, "order": 1, "cancel": 0})
    assert [task.__name__ for task in tasks] == ["browse", "browse", "order"]
    for task in tasks:
        task(user)
    assert user.done == ["browse", "browse", "order"]
