"""A plain task of the test project: records its number in ``$CHASSIS_TEST_STATE/numbers``
(tests/test_transport.py runs it in a worker on the embedded broker)."""

from celery import shared_task

from tests.handlers import state


@shared_task(name="tests.record_number")
def record_number(number: int) -> None:
    with (state() / "numbers").open("a") as log:
        log.write(f"{number}\n")
