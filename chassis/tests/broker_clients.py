"""Publisher and consumer processes on the embedded broker, for tests/test_transport.py.

    python -m tests.broker_clients publish OPTIONS_JSON QUEUE FIRST COUNT
    python -m tests.broker_clients consume OPTIONS_JSON QUEUE OUT_FILE [--no-ack-hold]

A publisher sends ``{"id": FIRST..FIRST+COUNT-1}``; a consumer appends each message's id to
OUT_FILE (one line each, flushed) and then acknowledges it, until SIGTERM; with
``--no-ack-hold`` it records the first message it gets and then holds it unacknowledged
forever (a consumer to kill). ``CHASSIS_TEST_TRANSPORT`` names the transport class
(default: the chassis's; ``filesystem`` shows kombu's own transport failing the tests).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from typing import Any

from kombu import Connection

from chassis.transport import TRANSPORT


def transport_under_test() -> str:
    return os.environ.get("CHASSIS_TEST_TRANSPORT", TRANSPORT)


def connect(options: dict[str, Any]) -> Connection:
    return Connection("filesystem://", transport=transport_under_test(), transport_options=options)


def publish(options: dict[str, Any], queue: str, first: int, count: int) -> None:
    with connect(options) as connection:
        simple = connection.SimpleQueue(queue)
        for number in range(first, first + count):
            simple.put({"id": number})
        simple.close()


def consume(options: dict[str, Any], queue: str, out_file: str, *, hold: bool = False) -> None:
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    with connect(options) as connection, open(out_file, "a") as out:
        simple = connection.SimpleQueue(queue)
        while not stopping:
            try:
                message = simple.get(timeout=0.2)
            except simple.Empty:
                continue
            out.write(f"{message.payload['id']}\n")
            out.flush()
            if hold:
                while True:
                    time.sleep(1)
            message.ack()
        simple.close()


if __name__ == "__main__":
    command, options, queue, *rest = sys.argv[1:]
    if command == "publish":
        publish(json.loads(options), queue, int(rest[0]), int(rest[1]))
    else:
        consume(json.loads(options), queue, rest[0], hold="--no-ack-hold" in rest)
