"""chassis.checks: the consumed event types and the registered handlers are the same set."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.core.checks import Error
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from chassis.checks import consumed_events_match_handlers
from chassis.events import consumer
from chassis.testing import chassis_with
from tests import handlers


@pytest.fixture
def extra_handler() -> Iterator[None]:
    """A handler of ``test.extra`` registered for one test."""
    consumer.event_handler("test.extra")(handlers.record_happened)
    yield
    del consumer._handlers["test.extra"]


def test_the_test_project_consumes_exactly_what_it_handles():
    assert consumed_events_match_handlers() == []
    call_command("check", verbosity=0)


def test_a_consumed_type_without_a_handler_is_an_error():
    consumes = {"test.happened": "chassis", "test.failed": "chassis", "test.orphan": "chassis"}

    with override_settings(CHASSIS=chassis_with(EVENTS={"CONSUMES": consumes})):
        errors = consumed_events_match_handlers()

    assert errors == [
        Error(
            "The service consumes 'test.orphan' but registers no handler for it.",
            hint="Add an @event_handler in an app's handlers.py, or remove the type from "
            'CHASSIS["EVENTS"]["CONSUMES"] (EVENTS_CONSUMED).',
            id="chassis.E001",
        )
    ]


def test_a_handler_of_a_type_not_consumed_is_an_error(extra_handler):
    errors = consumed_events_match_handlers()

    assert errors == [
        Error(
            "A handler is registered for 'test.extra', which the service does not consume "
            "(its queue is not bound to it: the handler never runs).",
            hint='Add the type to CHASSIS["EVENTS"]["CONSUMES"] (EVENTS_CONSUMED), or remove '
            "the handler.",
            obj=handlers.record_happened,
            id="chassis.E002",
        )
    ]
    with pytest.raises(SystemCheckError, match=r"chassis\.E002"):
        call_command("check", verbosity=0)
