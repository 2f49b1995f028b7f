"""A Celery application configured for reliability, the same way in every service."""

from __future__ import annotations

import contextlib
import os
import socket
from typing import Any

from celery import Celery, bootsteps, signals

from chassis import metrics
from chassis.events import relay
from chassis.tracing import flush_tracing, setup_tracing

__all__ = ["PromptEventLoop", "make_celery"]


def make_celery(service: str, settings_module: str = "config.settings") -> Celery:
    """Create the service's Celery app, configured from Django's ``CELERY_*`` settings.

    Reliability defaults: JSON only, late acks, requeue when a worker dies, prefetch of one,
    UTC. Tasks are discovered in the installed apps.
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", settings_module)
    app = Celery(service)
    app.conf.update(
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=service,
        broker_connection_retry_on_startup=True,
        # A publish from a web request (the outbox relay) must not hang on a dead broker.
        broker_connection_timeout=2,
        task_ignore_result=True,
        enable_utc=True,
        worker_hijack_root_logger=False,  # keep Django's LOGGING: JSON lines with correlation id
        worker_redirect_stdouts=False,
        # Celery's Django fixup closes every database connection before and after every task
        # unless told to reuse them: a new PostgreSQL backend per event (several ms of the
        # database's CPU each). Connections are kept as a web request keeps them
        # (_connections_as_requests_do) and Celery closes them itself only this rarely.
        CELERY_DB_REUSE_MAX=DB_REUSE_MAX,
    )
    app.steps["consumer"].add(PromptEventLoop)
    _connections_as_requests_do()
    metrics.instrument_celery()
    _trace_after_fork(service)
    app.config_from_object("django.conf:settings", namespace="CELERY")
    app.autodiscover_tasks()
    return app


DB_REUSE_MAX = 10_000  # tasks between Celery's own closes of the database connections


def _close_old_connections(task: Any = None, **kwargs: Any) -> None:
    from django.db import close_old_connections

    if not getattr(getattr(task, "request", None), "is_eager", False):  # eager: the caller's
        close_old_connections()


def _connections_as_requests_do() -> None:
    """Before and after each task, what Django does around each request: a connection is
    closed when it is older than ``CONN_MAX_AGE``, broken (an error occurred and it no
    longer answers) or left in a transaction; otherwise the next task reuses it."""
    signals.task_prerun.connect(_close_old_connections, weak=False)
    signals.task_postrun.connect(_close_old_connections, weak=False)


def _trace_after_fork(service: str) -> None:
    """Start traces (chassis.tracing) in each process that runs tasks, after its fork: the
    prefork pool's children; the worker itself with the solo or thread pool; beat."""

    def in_pool_process(**kwargs: Any) -> None:
        setup_tracing(service)
        relay.enable()

    def in_worker(sender: Any = None, **kwargs: Any) -> None:
        # Sent before the pool class is resolved: a name ("prefork", "solo", a "module:Class"
        # path) or a class. The prefork pool's children start their own (above).
        pool = getattr(sender, "pool_cls", "prefork")
        name = pool if isinstance(pool, str) else f"{pool.__module__}.{pool.__name__}"
        if "prefork" not in name:
            setup_tracing(service)
            relay.enable()

    signals.worker_process_init.connect(in_pool_process, weak=False)
    signals.worker_process_shutdown.connect(flush_tracing, weak=False)
    signals.worker_init.connect(in_worker, weak=False)
    signals.beat_init.connect(in_pool_process, weak=False)


class PromptEventLoop(bootsteps.StartStopStep):
    """Keep the worker's event loop from sleeping while callbacks are waiting to run.

    Celery 5.7 acknowledges a late-acked task with ``hub.call_soon(message.ack)``, and the
    AMQP reader re-queues itself with ``call_soon`` after each delivery. kombu 5.7's hub only
    runs such callbacks on its next turn, and does not shorten the ``poll()`` in between
    when they were queued from the loop itself: a task that ran inside one of them (the
    solo pool, a burst of messages, a message in the first 0.1 s after start) keeps its ack
    for the whole poll timeout, up to 10 s (1-2 s with worker heartbeats), and with a
    prefetch of one the broker sends nothing meanwhile. Before each poll, this step wakes
    the poll at once when callbacks are pending (what the hub's own waker does for other
    threads). It also wakes it on SIGTERM/SIGQUIT, whose handler only sets a flag that the
    loop reads after the poll: a worker stops in milliseconds, not seconds.
    """

    label = "prompt event loop"

    def __init__(self, parent: Any, **kwargs: Any) -> None:
        self._hub: Any = None
        self._reader: socket.socket | None = None
        self._writer: socket.socket | None = None
        super().__init__(parent, **kwargs)

    def register_with_event_loop(self, parent: Any, hub: Any) -> None:
        """Called each time the consumer (re)starts its event loop (not with gevent etc.)."""
        if self._reader is None:
            self._reader, self._writer = socket.socketpair()
            self._reader.setblocking(False)
            self._writer.setblocking(False)
            signals.worker_shutting_down.connect(self._wake, weak=False)
        self._hub = hub
        hub.add_reader(self._reader, self._drain)
        hub.on_tick.add(self._before_poll)

    def _before_poll(self) -> None:
        if getattr(self._hub, "_ready", None):
            self._wake()

    def _wake(self, **kwargs: Any) -> None:
        if self._writer is not None:
            with contextlib.suppress(OSError):  # a full buffer: a wakeup is pending anyway
                self._writer.send(b"\0")

    def _drain(self) -> None:
        if self._reader is not None:
            with contextlib.suppress(OSError):
                self._reader.recv(4096)

    def shutdown(self, parent: Any) -> None:
        signals.worker_shutting_down.disconnect(self._wake)
        if self._hub is not None and self._reader is not None:
            self._hub.remove_reader(self._reader)
            self._hub.on_tick.discard(self._before_poll)
        for sock in (self._reader, self._writer):
            if sock is not None:
                sock.close()
        self._reader = self._writer = self._hub = None
