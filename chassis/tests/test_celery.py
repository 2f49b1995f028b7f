import signal
import time
from types import SimpleNamespace

from celery import signals
from django.conf import settings
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
