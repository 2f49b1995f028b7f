"""The load generator's pure logic (no Locust, no network): what infra/load/locustfile.py
counts and decides, kept here so it is unit-tested (infra/tests/test_load_logic.py).

- ``retry_after``: how long a 429 asks to wait (its ``Retry-After``).
- ``token_expires_at``: when an access token expires (its ``exp`` claim, read, not verified:
  the platform verifies; the client only needs to know when to refresh).
- ``OrderLedger``: every order a shopper placed, followed to its final status, with the
  client's POST -> final time.
- ``AccountPool``: shoppers' accounts, registered once and reused by later runs (a JSON file).
- ``summarize`` / ``render`` / ``exit_code``: the end-of-run summary and its verdict.
"""

from __future__ import annotations

import base64
import json
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FINAL = ("CONFIRMED", "REJECTED", "CANCELLED")
RETRY_AFTER_CAP = 65.0  # the gateway's windows are a minute: never more than one


def retry_after(headers: Mapping[str, str], default: float = 1.0) -> float:
    """Seconds a 429 asks the client to wait: ``Retry-After`` in seconds (the gateway and DRF
    both send it so), ``default`` when absent or not a number, at most a minute's window."""
    try:
        seconds = float(headers.get("Retry-After", headers.get("retry-after", default)))
    except (TypeError, ValueError):
        return default
    if math.isnan(seconds) or seconds < 0:
        return default
    return min(seconds, RETRY_AFTER_CAP)


def token_expires_at(token: str) -> float:
    """The ``exp`` claim (epoch seconds) of a JWT, 0.0 when it cannot be read."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return float(claims["exp"])
    except (IndexError, KeyError, TypeError, ValueError):
        return 0.0


def percentile(values: Iterable[float], q: float) -> float | None:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``; None when there are none."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass
class OrderLedger:
    """Orders placed in a run: status by id, POST -> final seconds of those seen final by a
    shopper's polling, and which were cancelled by the load."""

    status: dict[str, str] = field(default_factory=dict)
    placed_at: dict[str, float] = field(default_factory=dict)
    to_final: dict[str, float] = field(default_factory=dict)
    cancelled: set[str] = field(default_factory=set)

    def placed(self, order_id: str, status: str, sent_at: float) -> None:
        """A 201 (or its idempotent replay): the order exists, usually PENDING."""
        self.status[order_id] = status
        self.placed_at.setdefault(order_id, sent_at)

    def seen(self, order_id: str, status: str, now: float) -> None:
        """A poll saw ``status``; the first final one fixes the POST -> final time."""
        self.status[order_id] = status
        if status in FINAL and order_id not in self.to_final and order_id in self.placed_at:
            self.to_final[order_id] = now - self.placed_at[order_id]

    def cancel(self, order_id: str) -> None:
        """The load cancelled it (after it was CONFIRMED: its own final status came first)."""
        self.cancelled.add(order_id)
        self.status[order_id] = "CANCELLED"

    def pending(self) -> list[str]:
        return [order_id for order_id, status in self.status.items() if status not in FINAL]

    def counts(self) -> dict[str, int]:
        """placed, reached CONFIRMED (cancelled ones included: the load cancels only confirmed
        orders), REJECTED, cancelled, and still PENDING."""
        values = list(self.status.values())
        return {
            "placed": len(self.status),
            "confirmed": values.count("CONFIRMED") + len(self.cancelled),
            "rejected": values.count("REJECTED"),
            "cancelled": len(self.cancelled),
            "pending": len(self.pending()),
        }


class AccountPool:
    """Shoppers' accounts per gateway URL in a JSON file, reused from run to run: registering
    is limited per address (the gateway's 30 auth requests a minute, THROTTLE_REGISTER), so a
    run registers only the accounts the pool lacks. One account per simulated user at a time
    (its orders and per-account limits are its own)."""

    def __init__(self, path: Path, host: str) -> None:
        self.path, self.host = path, host.rstrip("/")
        self.in_use: set[str] = set()

    def _load(self) -> dict[str, list[dict[str, str]]]:
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def _save(self, data: dict[str, list[dict[str, str]]]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.chmod(temporary, 0o600)  # passwords of local test accounts, still nobody else's
        temporary.replace(self.path)

    def take(self) -> dict[str, str] | None:
        """A registered account no simulated user holds, or None (then register one)."""
        for account in self._load().get(self.host, []):
            if account["email"] not in self.in_use:
                self.in_use.add(account["email"])
                return account
        return None

    def add(self, account: dict[str, str]) -> None:
        """A newly registered account, held by the user that registered it."""
        data = self._load()
        data.setdefault(self.host, []).append(account)
        self._save(data)
        self.in_use.add(account["email"])

    def drop(self, email: str) -> None:
        """An account the platform no longer knows (a new database): forget it."""
        data = self._load()
        data[self.host] = [a for a in data.get(self.host, []) if a["email"] != email]
        self._save(data)
        self.in_use.discard(email)

    def release(self, email: str) -> None:
        self.in_use.discard(email)


@dataclass
class Endpoint:
    """One row of Locust's statistics (method + name), as the summary needs it."""

    method: str
    name: str
    requests: int
    failures: int
    p50: float | None
    p95: float | None
    p99: float | None


def summarize(
    endpoints: list[Endpoint],
    throttled: Mapping[str, int],
    ledger: OrderLedger,
    duration: float,
) -> dict[str, Any]:
    """The machine-readable summary (also written as JSON): per endpoint, totals, 429s by
    endpoint (waited out, not failures), the orders and their POST -> final times (ms)."""
    requests = sum(e.requests for e in endpoints)
    failures = sum(e.failures for e in endpoints)
    latencies = [seconds * 1000 for seconds in ledger.to_final.values()]
    return {
        "duration_s": round(duration, 1),
        "requests": requests,
        "failures": failures,
        "fail_ratio": failures / requests if requests else 0.0,
        "rps": round(requests / duration, 2) if duration > 0 else 0.0,
        "endpoints": [vars(e) for e in endpoints],
        "throttled": dict(sorted(throttled.items())),
        "orders": ledger.counts(),
        "post_to_final_ms": {
            "count": len(latencies),
            "p50": percentile(latencies, 50),
            "p99": percentile(latencies, 99),
        },
    }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def render(summary: Mapping[str, Any]) -> str:
    """The summary as the table printed at the end of a run."""
    lines = [f"{'endpoint':<44} {'reqs':>6} {'fails':>6} {'p50':>6} {'p95':>6} {'p99':>6} (ms)"]
    for e in summary["endpoints"]:
        name = f"{e['method']} {e['name']}"
        lines.append(
            f"{name:<44} {e['requests']:>6} {e['failures']:>6} "
            f"{_ms(e['p50']):>6} {_ms(e['p95']):>6} {_ms(e['p99']):>6}"
        )
    lines.append(
        f"{'total':<44} {summary['requests']:>6} {summary['failures']:>6}"
        f"   ({summary['rps']} requests/s over {summary['duration_s']} s)"
    )
    for name, count in summary["throttled"].items():
        lines.append(f"429 (waited out Retry-After, not failures): {name}: {count}")
    orders, final = summary["orders"], summary["post_to_final_ms"]
    lines.append(
        "orders: {placed} placed, {confirmed} confirmed, {rejected} rejected, "
        "{cancelled} cancelled, {pending} still pending".format(**orders)
    )
    lines.append(
        f"POST -> final status (client, {final['count']} orders): "
        f"p50 {_ms(final['p50'])} ms, p99 {_ms(final['p99'])} ms"
    )
    return "\n".join(lines)


def exit_code(summary: Mapping[str, Any], max_fail_ratio: float) -> int:
    """1 when nothing was sent, the failures exceed ``max_fail_ratio`` of the requests or an
    order was never seen final (the saga lost it, or it did not settle in time), else 0."""
    if not summary["requests"]:
        return 1
    if summary["failures"] and summary["fail_ratio"] > max_fail_ratio:
        return 1
    return 1 if summary["orders"]["pending"] else 0
