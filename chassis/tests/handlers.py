"""Event handlers of the test project (a service keeps them in an app's handlers.py, found by
chassis.events' autodiscovery). They run in the test process or in a worker process, so
their effects go to files under ``$CHASSIS_TEST_STATE``: one line per applied event in
``seen``, and a ``broken`` file that makes ``test.failed`` fail while it exists."""

import json
import os
from pathlib import Path

from django_guid import get_guid

from chassis.events.consumer import event_handler
from chassis.events.envelope import Envelope


def state() -> Path:
    return Path(os.environ["CHASSIS_TEST_STATE"])


def seen() -> list[list]:
    path = state() / "seen"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def _record(event: Envelope) -> None:
    with (state() / "seen").open("a") as log:
        log.write(json.dumps([str(event.id), event.payload["n"], get_guid()]) + "\n")


@event_handler("test.happened")
def record_happened(event: Envelope) -> None:
    _record(event)


@event_handler("test.failed")
def fail_while_broken(event: Envelope) -> None:
    if (state() / "broken").exists():
        raise RuntimeError("handler is broken")
    _record(event)
