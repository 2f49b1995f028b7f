"""What this process knows of the broker's reachability, learnt without asking it per probe.

The outbox relay records the outcome of every publish it attempts (confirmed: reachable; an
error: unreachable) in :data:`broker_state`. Readers (the ``/readyz`` body, a metrics gauge,
the relay's own cooldown after a failure) read the latest observation. When nothing was
observed for a while (an idle process, or a failure that may have healed since),
:meth:`BrokerState.refresh_if_stale` runs one check (a single connection attempt) on a
background thread and returns at once: a process opens at most one such connection per
``max_age`` seconds, none while its publishes keep the state fresh, and the caller never
waits on the broker.

The state is per process (each gunicorn worker, each Celery worker keeps its own) and holds
no I/O; module import opens nothing.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["CHECK", "PUBLISH", "BrokerState", "Observation", "broker_state"]

logger = logging.getLogger(__name__)

PUBLISH = "publish"  # observed by the outbox relay
CHECK = "check"  # observed by the background check


@dataclass(frozen=True)
class Observation:
    """One outcome: ``error`` is empty when the broker was reachable. ``monotonic`` dates it
    for ages and cooldowns, ``wall`` (seconds since the epoch) for display."""

    reachable: bool
    source: str
    error: str
    monotonic: float
    wall: float


class BrokerState:
    """The latest :class:`Observation` of the broker, thread-safe. Clocks are injectable."""

    def __init__(
        self,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self._monotonic = monotonic
        self._wall = wall
        self._lock = threading.Lock()
        self._last: Observation | None = None
        self._checking = False

    @property
    def last(self) -> Observation | None:
        return self._last

    def record(self, *, reachable: bool, source: str, error: str = "") -> None:
        """Remember an outcome; a change of reachability is logged once, not per outcome."""
        observation = Observation(
            reachable, source, "" if reachable else error[:200], self._monotonic(), self._wall()
        )
        with self._lock:
            previous, self._last = self._last, observation
        if previous is None or previous.reachable != reachable:
            log = logger.info if reachable else logger.warning
            log(
                "events.broker_reachable" if reachable else "events.broker_unreachable",
                extra={"source": source, "error": observation.error},
            )

    def failed_within(self, seconds: float) -> bool:
        """Whether the latest outcome is a failure less than ``seconds`` old."""
        last = self._last
        return (
            last is not None and not last.reachable and self._monotonic() - last.monotonic < seconds
        )

    def refresh_if_stale(self, max_age: float, check: Callable[[], object]) -> bool:
        """Start ``check`` (raising when the broker is unreachable) on a daemon thread if
        nothing was observed for ``max_age`` seconds and no check is running; return whether
        one started. ``max_age <= 0`` disables checks (only publishes inform the state)."""
        if max_age <= 0:
            return False
        with self._lock:
            last = self._last
            fresh = last is not None and self._monotonic() - last.monotonic < max_age
            if fresh or self._checking:
                return False
            self._checking = True
        threading.Thread(
            target=self._run_check, args=(check,), name="broker-check", daemon=True
        ).start()
        return True

    def _run_check(self, check: Callable[[], object]) -> None:
        try:
            check()
        except Exception as exc:  # the outcome is the observation; nothing to raise to
            self.record(reachable=False, source=CHECK, error=f"{type(exc).__name__}: {exc}")
        else:
            self.record(reachable=True, source=CHECK)
        finally:
            with self._lock:
                self._checking = False

    @property
    def checking(self) -> bool:
        return self._checking

    def reset(self) -> None:
        """Forget every observation (tests; a process starts with nothing known)."""
        with self._lock:
            self._last = None


broker_state = BrokerState()
