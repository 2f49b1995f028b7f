from django.conf import settings

from chassis.celery import make_celery


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


def test_connects_to_the_configured_broker():
    app = make_celery("chassis", "tests.settings")

    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=5)
        assert connection.connected is True
        assert connection.transport_cls == "amqp"
