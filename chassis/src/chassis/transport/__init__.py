"""The embedded broker: kombu's filesystem transport, safe with many processes on one folder.

``chassis.conf`` selects it for ``CELERY_BROKER_URL=filesystem://`` (the no-server default)
through ``CELERY_BROKER_TRANSPORT`` (Celery's ``broker_transport``, kombu's ``transport=``):

    Connection("filesystem://", transport=TRANSPORT, transport_options=options)

kombu's own filesystem transport (5.7) loses messages and kills workers when several
processes share the folder (kombu issue #1551):

- a publisher creates the message file under its final name and then writes it, so a reader
  polling the folder can take it empty or half written: ``JSONDecodeError`` raised into the
  worker's event loop, "Unrecoverable error", the message gone;
- a reader takes a file with ``shutil.move`` to the processed folder, by default the system
  temporary folder: on another file system that is copy + unlink, which two readers can
  both do (one message, two deliveries, or one reader reading the other's half-copied file);
- a taken message lives only in the reader's memory: a worker killed before its ack (late
  acks) loses it, and a requeue is re-published to every queue its routing key matches;
- the first binding of an exchange creates the table file and then writes it: a publisher
  reading it meanwhile fails on an empty file, and two first binders overwrite each other.

Here:

- visible only when complete: a message is written to a hidden temporary name
  (``.<name>.tmp``, which no reader's filter matches), then renamed to its final name
  (``<zero-padded monotonic ms>_<uuid>.<queue>.msg``, the shape kombu's reader looks for);
- exactly one reader: a reader claims a file by renaming it, in the same folder, to
  ``.<name>.<pid>.unacked``; of several readers renaming the same file, one succeeds;
- kept until acknowledged: the claim is deleted on ack (or moved to ``processed_folder``
  with ``store_processed``), renamed back to its name on requeue or when the channel closes
  unacknowledged, and renamed back by any reader once its owner process has died (checked
  by pid about once a second): delivery is at least once, as on RabbitMQ;
- a file that still cannot be decoded (empty, truncated, not JSON, not a kombu message: a
  crash of the machine during a write) is moved to ``corrupt_folder`` (default: ``corrupt``
  next to the queue folder) with a WARNING naming it and the reason, counted by
  :func:`corrupt_messages_total`, and the reader goes on with the next message;
- exchange tables are created without truncation and read and written under the file lock
  (a table still empty is an exchange without bindings); declared bindings are remembered
  per control folder, not per process.

Transport options beyond kombu's: ``corrupt_folder``, and ``fsync`` (default False; True
in ``chassis.conf``): the message and the rename are flushed to the disk before a publish
returns, so a power cut cannot lose a message whose outbox row was marked sent.

Decision, by measurement (``make bench-broker``, ``infra/bench/embedded_broker.py``; 1000
messages on this 2-core machine, ``infra/bench/results/embedded_broker-latest.md``):

==============================  =========  ==========  =========  ===========
msg/s, ms                       kombu fs   chassis fs  + fsync    sqla+sqlite
==============================  =========  ==========  =========  ===========
publish                         5194       3234        1267       412
drain a backlog                 3259       3231        2245       446
2 publishers + 2 consumers      2146       1694        1142       196
latency p50 / p99 (0.1 s poll)  51 / 100   53 / 99     53 / 100   107 / 208
topic event, other process      delivered  delivered   delivered  lost
==============================  =========  ==========  =========  ===========

kombu's SQLAlchemy transport on SQLite works with Celery 5.7 / kombu 5.7 only for direct
queues: it keeps exchange bindings in each process's memory, so an event a web process
publishes to the platform's topic exchange never reaches the queue a worker bound (lost);
it passes ``polling_interval`` to SQLAlchemy's ``create_engine`` (a TypeError: 1 s polls
unless subclassed), never deletes delivered rows (1000 left after 1000 acks), needs
SQLAlchemy as a new dependency and is 4-8x slower. The filesystem transport stays: the
chassis's costs ~0.2 ms more per publish than kombu's (a rename; ~0.5 ms with fsync), far
below the 100 ms polling interval that bounds every saga step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chassis.transport.files import corrupt_messages_total

#: The class path to give Celery (``broker_transport``) or kombu (``transport=``).
TRANSPORT = "chassis.transport.filesystem:FilesystemTransport"

__all__ = ["TRANSPORT", "broker_transport", "broker_transport_options", "corrupt_messages_total"]


def broker_transport(url: str) -> str | None:
    """The transport class for ``url`` when it is not kombu's own for the scheme: the
    embedded broker (``filesystem://``) runs on :mod:`chassis.transport`, which never lets a
    reader see a half-written message nor crashes a worker on a corrupt one. Celery reads it
    as ``broker_transport``; anyone opening a kombu ``Connection`` to ``CELERY_BROKER_URL``
    passes it as ``transport=``."""
    if url.startswith("filesystem://"):
        return TRANSPORT
    return None


def broker_transport_options(url: str, var_dir: Path) -> dict[str, Any]:
    """Publisher confirms on RabbitMQ (a publish returns once the broker has the message);
    the filesystem transport (the embedded default) needs folders under ``VAR_DIR``
    (``broker/queue``, ``processed``, ``control``, and ``corrupt`` where undecodable message
    files are set aside), and polls them: with one message in flight per worker (prefetch 1,
    late acks) it takes one message per polling interval, so kombu's default of 1 s would
    make every saga step (and the first product.changed events, one per seeded product)
    wait up to a second each. ``fsync`` is its publisher confirm: a publish returns once the
    message is on the disk, so the outbox never marks as sent an event a power cut loses
    (about 1,300 publishes/s instead of 3,200 here: infra/bench/embedded_broker.py)."""
    if url.startswith(("amqp://", "amqps://", "pyamqp://")):
        return {"confirm_publish": True}
    if not url.startswith("filesystem://"):
        return {}
    root = var_dir / "broker"
    for sub in ("queue", "processed", "control", "corrupt"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    return {
        "data_folder_in": str(root / "queue"),
        "data_folder_out": str(root / "queue"),
        "processed_folder": str(root / "processed"),
        "store_processed": False,
        "control_folder": str(root / "control"),
        "corrupt_folder": str(root / "corrupt"),
        "fsync": True,
        "polling_interval": 0.1,
    }
