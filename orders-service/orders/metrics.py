"""The saga's metrics (chassis.metrics serves them at /metrics): how long an order stays
PENDING before catalog's answer makes it CONFIRMED or REJECTED, and how many end each way.
Recorded by the worker that applies the answer, after its transaction commits (a rolled
back step is not an outcome)."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone
from prometheus_client import Counter, Histogram

__all__ = ["SAGA_OUTCOMES", "SAGA_SECONDS", "saga_finished"]

# From a few hundred milliseconds (both workers idle) to minutes (a broker outage the outbox
# rode out): the alert on the p99 sits at 30 s.
SAGA_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)

SAGA_SECONDS = Histogram(
    "orders_saga_duration_seconds",
    "Time from an order's placement (PENDING) to catalog's answer (CONFIRMED or REJECTED)",
    ["status"],
    buckets=SAGA_BUCKETS,
)
SAGA_OUTCOMES = Counter("orders_saga_outcomes", "Orders by the saga's final status", ["status"])


def saga_finished(*, status: str, placed_at: datetime) -> None:
    """Record, once the current transaction commits, that an order placed at ``placed_at``
    became ``status``."""
    seconds = max((timezone.now() - placed_at).total_seconds(), 0.0)

    def record() -> None:
        SAGA_SECONDS.labels(status).observe(seconds)
        SAGA_OUTCOMES.labels(status).inc()

    transaction.on_commit(record)
