import signal
import time
from types import SimpleNamespace

import psycopg
import pytest
from celery import signals
from django.conf import settings
from django.db import OperationalError
from kombu.asynchronous import Hub

from chassis.celery import PromptEventLoop, make_celery


def test_reliability_defaults_and_django_settings():
    app = make_celery("chassis", "tests.settings")

    conf = app.conf
    assert conf.broker_url == settings.CELERY_BROKER_URL
    assert conf.broker_transport_options == settings.CELERY_BROKER_TRANSPORT_OPTIONS
    assert (conf.task_serializer, conf.result_serializer) == ("json", "json")
    assert conf.accept_content == ["json"]
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_default_queue == "chassis"
    assert conf.task_ignore_result is True
    assert conf.worker_hijack_root_logger is False
    assert PromptEventLoop in app.steps["consumer"]


def test_connects_to_the_configured_broker():
    app = make_celery("chassis", "tests.settings")

    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=5)
        assert connection.connected is True
        assert connection.transport_cls == "amqp"


def _hub_with_prompt_loop() -> tuple[Hub, PromptEventLoop]:
    hub = Hub()
    hub.call_later(60, lambda: None)  # a distant timer: each poll lasts seconds
    step = PromptEventLoop(SimpleNamespace())
    step.register_with_event_loop(None, hub)
    return hub, step


def test_a_callback_queued_by_a_callback_runs_without_waiting_out_the_poll():
    # What a worker does with a late ack: the task runs in a queued callback (the AMQP
    # reader draining the next delivery) and queues its ack with call_soon.
    hub, step = _hub_with_prompt_loop()

    def ack() -> None:
        hub.stop()  # queued too: the loop ends on its next turn

    hub.call_soon(lambda: hub.call_soon(ack))
    started = time.monotonic()
    try:
        hub.run_forever()
    finally:
        step.shutdown(None)
        hub.close()
    assert time.monotonic() - started < 1


def test_a_shutdown_signal_wakes_the_poll():
    hub, step = _hub_with_prompt_loop()

    def on_alarm(*args: object) -> None:  # what celery's SIGTERM handler does, then sets a flag
        signals.worker_shutting_down.send(sender="w", sig="SIGTERM", how="Warm", exitcode=0)

    previous = signal.signal(signal.SIGALRM, on_alarm)
    loop = hub.create_loop()
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        started = time.monotonic()
        next(loop)  # a turn: timers, then a poll of seconds unless woken
        elapsed = time.monotonic() - started
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        step.shutdown(None)
        hub.close()
    assert elapsed < 1


# --- database connections between tasks ---------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_worker_keeps_its_database_connection_from_task_to_task():
    """Celery's Django fixup closes every connection around every task unless told to reuse
    them: each event would then cost a new PostgreSQL backend."""
    from celery.fixups.django import DjangoWorkerFixup
    from django.db import connection

    from chassis.celery import DB_REUSE_MAX
    from tests.celery_app import app

    fixup = DjangoWorkerFixup(app)
    assert fixup.db_reuse_max == DB_REUSE_MAX
    connection.ensure_connection()
    before = connection.connection
    for _ in range(3):
        signals.task_prerun.send(sender=None, task_id="t", task=None)
        fixup.close_database()
        connection.cursor().execute("SELECT 1")
        fixup.close_database()
        signals.task_postrun.send(sender=None, task_id="t", task=None)
    assert connection.connection is before


@pytest.mark.django_db(transaction=True)
def test_a_broken_connection_is_closed_after_the_task_so_the_retry_gets_a_new_one():
    from django.db import connection

    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    with psycopg.connect(**connection.get_connection_params()) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    with pytest.raises(OperationalError):
        connection.cursor().execute("SELECT 1")
    signals.task_postrun.send(sender=None, task_id="t", task=None)
    assert connection.connection is None  # closed: the next task connects again
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        assert cursor.fetchone() == (1,)


@pytest.mark.django_db
def test_a_task_run_eagerly_leaves_the_callers_connection_alone():
    from django.db import connection

    connection.ensure_connection()
    before = connection.connection
    task = SimpleNamespace(request=SimpleNamespace(is_eager=True))
    signals.task_postrun.send(sender=None, task_id="t", task=task)
    assert connection.connection is before
