"""PNG charts beside the benchmarks' Markdown reports (matplotlib, no display needed).

``knee_chart``: the order saga benchmark's steps: offered, accepted and CONFIRMED orders per
second, and the POST and POST -> CONFIRMED p50/p99 of each step (log scale).
``series_chart``: the gateway benchmark's requests per second and p99 latency per
configuration. Each writes ``<name>-latest.png`` and returns its path; the report links it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display on benchmark machines
import matplotlib.pyplot as plt

__all__ = ["knee_chart", "series_chart"]


def knee_chart(runs: Sequence[tuple[str, dict[str, Any]]], path: Path) -> Path:
    """``runs``: (name, figures) of the saga benchmark's steps, each with ``offered_per_s``,
    ``accepted_per_s``, ``confirmed_per_s`` and the ``*_p50_ms``/``*_p99_ms`` latencies."""
    names = [f"{name}\n{run['offered_per_s']:g}/s" for name, run in runs]
    at = list(range(len(runs)))
    fig, (rate, latency) = plt.subplots(2, 1, figsize=(9, 8))
    fig.suptitle("Order saga through the gateway: offered load vs what the platform did")
    for label, key, marker in (
        ("offered", "offered_per_s", "o"),
        ("accepted (201)", "accepted_per_s", "s"),
        ("CONFIRMED", "confirmed_per_s", "^"),
    ):
        rate.plot(at, [run[key] for _, run in runs], marker=marker, label=label)
    rate.set(ylabel="orders per second", title="Throughput per step")
    rate.set_xticks(at, names)
    rate.legend(loc="upper left")
    for label, key, style in (
        ("POST p50", "post_p50_ms", "--"),
        ("POST p99", "post_p99_ms", "-"),
        ("POST -> CONFIRMED p50", "confirmed_p50_ms", "--"),
        ("POST -> CONFIRMED p99", "confirmed_p99_ms", "-"),
    ):
        values = [run[key] if run[key] else float("nan") for _, run in runs]
        latency.plot(at, values, style, marker="o", label=label)
    latency.set(ylabel="ms (log)", yscale="log", title="Latency per step")
    latency.set_xticks(at, names)
    latency.legend(loc="upper left")
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
