"""The outbox relay of a serving process: events sent by a background thread, in batches.

A request (or an event handler) that published events does not wait for the broker: after
commit, :func:`chassis.events.outbox.relay_after_commit` hands the new rows' ids to this
process's relay thread and returns. The thread takes every id waiting (up to
``RELAY_BATCH``), sends those rows with publisher confirms in one transaction
(:func:`chassis.events.outbox.relay_pending`) and marks them published. What it adds to
the guarantees: nothing is lost that the outbox did not already cover. A row whose id is
still queued when the process dies (SIGKILL, a recycled worker) stays pending in the
database and the periodic sweep sends it; a row the thread sent but whose ``published_at``
did not commit is sent again (consumers deduplicate by event id). The broker cooldown
(``BROKER_COOLDOWN_SECONDS``) applies as it does inline: while the broker is known down,
ids are dropped and the sweep sends their rows.

It runs only where it was enabled: :func:`enable` is called after fork in the processes
that serve (gunicorn's ``post_fork``, Celery's worker and pool processes: chassis.celery),
and the thread starts with the first event, when ``CHASSIS["EVENTS"]["RELAY_IN_BACKGROUND"]``
is true (the default). Everywhere else
(tests, management commands, a shell) the relay stays inline: the event is sent before
``on_commit`` returns. At a normal interpreter exit the thread is given a moment to send
what is queued.
"""

from __future__ import annotations

import atexit
import logging
import os
import queue
import threading
import time
from typing import Any

from django.db import connections

from chassis.settings import chassis_settings

__all__ = ["active", "enable", "flush", "submit"]

logger = logging.getLogger(__name__)

EXIT_FLUSH_SECONDS = 2.0  # at exit, what is queued gets this long; the sweep sends the rest
_CLOSE = object()  # queued by flush(): the thread closes its database connection


class _Relay:
    def __init__(self) -> None:
        self.ids: queue.Queue[Any] = queue.Queue()
        self.pid = os.getpid()
        self.thread = threading.Thread(target=self.run, name="outbox-relay", daemon=True)
        self.thread.start()

    def run(self) -> None:
        from chassis.events.outbox import relay_batch  # outbox imports this module

        while True:
            batch = [self.ids.get()]
            limit = int(chassis_settings.EVENTS["RELAY_BATCH"])
            while len(batch) < limit:
                try:
                    batch.append(self.ids.get_nowait())
                except queue.Empty:
                    break
            ids = [item for item in batch if item is not _CLOSE]
            failed = False
            try:
                if ids:
                    relay_batch(ids)
            except Exception:  # the rows stay pending; the sweep sends them
                failed = True
                logger.exception("events.relay_failed", extra={"events": len(ids)})
            finally:
                if failed or len(ids) < len(batch):  # a broken connection is not reused
                    connections.close_all()  # this thread's connections only
                for _ in batch:
                    self.ids.task_done()


_relay: _Relay | None = None
_enabled_in: int | None = None  # the pid of the process that enabled it (not a forked copy)
_lock = threading.Lock()


def enable() -> None:
    """Relay this process's events from a background thread (called after fork; reads no
    setting: Django may not be set up yet)."""
    global _enabled_in
    _enabled_in = os.getpid()


def active() -> bool:
    """Whether this process sends its events from the relay thread."""
    return _enabled_in == os.getpid() and bool(chassis_settings.EVENTS["RELAY_IN_BACKGROUND"])


def submit(event_id: Any) -> None:
    """Queue a committed outbox row for this process's relay thread (started on first use)."""
    global _relay
    relay = _relay
    if relay is None or relay.pid != os.getpid():  # a forked copy has no thread
        with _lock:
            if _relay is None or _relay.pid != os.getpid():
                _relay = _Relay()
            relay = _relay
    relay.ids.put(event_id)


def flush(timeout: float) -> bool:
    """Wait until every queued id was handled (sent, or left to the sweep) and the thread
    closed its database connection; False on timeout."""
    relay = _relay
    if relay is None or relay.pid != os.getpid():
        return True
    relay.ids.put(_CLOSE)
    deadline = time.monotonic() + timeout
    while relay.ids.unfinished_tasks:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


@atexit.register
def _at_exit() -> None:
    if not flush(EXIT_FLUSH_SECONDS):
        logger.warning("events.relay_exit_pending")
