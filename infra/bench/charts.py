"""PNG charts beside the benchmarks' Markdown reports (matplotlib, no display needed).

``saga_chart``: the order saga's run on one figure: latency over time (each order's POST and
POST -> final as the client saw it, by send time), throughput (orders sent, accepted and
confirmed per second) and the distribution of the saga's PENDING -> final time (the order's
``updated_at - created_at``, by final status). ``series_chart``: the gateway benchmark's
requests per second and p99 latency per configuration. Each writes ``<name>-latest.png`` and
returns its path; the report links it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on benchmark machines
import matplotlib.pyplot as plt

__all__ = ["saga_chart", "series_chart"]

COLOURS = {"CONFIRMED": "tab:green", "REJECTED": "tab:red", "CANCELLED": "tab:grey"}


def _per_second(times: Iterable[float], start: float) -> tuple[list[int], list[int]]:
    counts = Counter(int(t - start) for t in times)
    seconds = list(range(max(counts, default=0) + 1))
    return seconds, [counts.get(s, 0) for s in seconds]


def saga_chart(orders: Sequence[Any], path: Path, *, title: str) -> Path:
    """``orders``: objects with ``sent``, ``answered``, ``final_seen`` (monotonic seconds, 0
    when it did not happen), ``status_code``, ``final_status`` and ``server_seconds``."""
    sent = [o for o in orders if o.sent]
    start = min((o.sent for o in sent), default=0.0)
    fig, (latency, throughput, saga) = plt.subplots(3, 1, figsize=(9, 11))
    fig.suptitle(title)

    latency.scatter(
        [o.sent - start for o in sent if o.answered],
        [(o.answered - o.sent) * 1000 for o in sent if o.answered],
        s=6, label="POST answered", color="tab:blue",
    )  # fmt: skip
    final = [o for o in sent if o.final_seen]
    latency.scatter(
        [o.sent - start for o in final],
        [(o.final_seen - o.sent) * 1000 for o in final],
        s=6, label="POST -> final seen by the client", color="tab:orange",
    )  # fmt: skip
    latency.set(xlabel="send time (s)", ylabel="ms", title="Latency over time")
    latency.legend(loc="upper left")

    for label, times in (
        ("sent", [o.sent for o in sent]),
        ("accepted (201)", [o.answered for o in sent if o.status_code == 201]),
        ("final seen", [o.final_seen for o in final]),
    ):
        seconds, counts = _per_second(times, start)
        throughput.step(seconds, counts, where="post", label=label)
    throughput.set(xlabel="time (s)", ylabel="orders per second", title="Throughput")
    throughput.legend(loc="lower center")

    by_status: dict[str, list[float]] = {}
    for order in final:
        if order.server_seconds is not None:
            by_status.setdefault(order.final_status, []).append(order.server_seconds * 1000)
    if by_status:
        saga.hist(
            list(by_status.values()),
            bins=40,
            stacked=True,
            label=[f"{status} ({len(v)})" for status, v in by_status.items()],
            color=[COLOURS.get(status, "tab:purple") for status in by_status],
        )
        saga.legend()
    saga.set(xlabel="ms", ylabel="orders", title="Saga: PENDING -> final (server side)")

    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def series_chart(rows: Sequence[tuple[str, float, float]], path: Path, *, title: str) -> Path:
    """``rows``: (configuration, requests per second, p99 latency in ms)."""
    names = [r[0] for r in rows]
    fig, (rate, p99) = plt.subplots(1, 2, figsize=(10, 4))
    fig.suptitle(title)
    rate.barh(names, [r[1] for r in rows], color="tab:blue")
    rate.set(xlabel="requests per second", title="Throughput")
    p99.barh(names, [r[2] for r in rows], color="tab:orange")
    p99.set(xlabel="ms", title="p99 latency")
    p99.set_yticks(range(len(names)), [""] * len(names))
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path
