"""The files of the embedded broker: names, atomic writes, claims, exchange tables.

A queue folder holds, per message, one of:

- ``.<name>.tmp``: being written by a publisher (no reader looks at it);
- ``<name>``, i.e. ``<zero-padded monotonic ms>_<uuid>.<queue>.msg``: ready (what kombu's
  reader filter matches: everything after the first dot is ``<queue>.msg``);
- ``.<name>.<pid>.unacked``: delivered to process ``pid``, not yet acknowledged.

Every step from one to the next is a ``rename`` within the folder: atomic, and of several
processes renaming the same file exactly one succeeds.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

from kombu.exceptions import ChannelError
from kombu.transport.filesystem import exchange_queue_t
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

__all__ = [
    "alive",
    "claim_name",
    "corrupt_messages_total",
    "count_corrupt",
    "exchange_queue_t",
    "is_message_of",
    "message_name",
    "parse_claim",
    "read_table",
    "temp_name",
    "unclaim",
    "update_table",
    "write_then_rename",
]

TEMP_SUFFIX = ".tmp"
CLAIM_SUFFIX = ".unacked"

_corrupt_lock = threading.Lock()
_corrupt_total = 0


def corrupt_messages_total() -> int:
    """How many message files this process has moved aside as undecodable."""
    return _corrupt_total


def count_corrupt() -> None:
    global _corrupt_total
    with _corrupt_lock:
        _corrupt_total += 1


def message_name(queue: str) -> str:
    """A new message's final name: sorts in publish order across processes (the monotonic
    clock is system-wide), and matches kombu's reader filter for ``queue``."""
    return f"{round(time.monotonic() * 1000):014d}_{uuid.uuid4()}.{queue}.msg"


def is_message_of(name: str, queue: str) -> bool:
    """kombu's reader filter; temporary and claimed names can never match it."""
    return name.partition(".")[2] == f"{queue}.msg"


def temp_name(name: str) -> str:
    return f".{name}{TEMP_SUFFIX}"


def claim_name(name: str, pid: int) -> str:
    return f".{name}.{pid}{CLAIM_SUFFIX}"


def parse_claim(entry: str) -> tuple[str, int] | None:
    """``(message name, owner pid)`` of a claim's file name, else None."""
    if not (entry.startswith(".") and entry.endswith(CLAIM_SUFFIX)):
        return None
    name, _, pid = entry[1 : -len(CLAIM_SUFFIX)].rpartition(".")
    return (name, int(pid)) if name and pid.isdigit() and int(pid) > 0 else None


def unclaim(claim: str) -> None:
    """Make a claimed message ready again, under its own name."""
    parsed = parse_claim(os.path.basename(claim))
    if parsed is not None:
        os.rename(claim, os.path.join(os.path.dirname(claim), parsed[0]))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def write_then_rename(temp: str, final: str, data: bytes, *, fsync: bool) -> None:
    """Write ``data`` to ``temp``, then rename it to ``final``: readers see all or nothing."""
    try:
        with open(temp, "xb") as file:
            file.write(data)
            if fsync:
                file.flush()
                os.fsync(file.fileno())
        os.rename(temp, final)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    if fsync:  # the rename itself
        folder = os.open(os.path.dirname(final) or ".", os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def read_table(file: str) -> list[exchange_queue_t]:
    """An exchange's bindings (none when its file does not exist yet)."""
    try:
        with open(file, "rb") as table:
            fcntl.flock(table.fileno(), fcntl.LOCK_SH)  # released by close
            raw = table.read()
    except FileNotFoundError:
        return []
    except OSError as exc:
        raise ChannelError(f"Cannot open {file}") from exc
    return _decode_table(raw, file)


def update_table(
    file: str, change: Callable[[list[exchange_queue_t]], bool], *, create: bool
) -> None:
    """Apply ``change`` to an exchange's bindings under the file's lock; it returns whether
    it changed anything. Never truncates on open: another binder may have just written."""
    try:
        fd = os.open(file, os.O_RDWR | (os.O_CREAT if create else 0), 0o644)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise ChannelError(f"Cannot open {file}") from exc
    with os.fdopen(fd, "r+b") as table:
        fcntl.flock(table.fileno(), fcntl.LOCK_EX)  # released by close
        entries = _decode_table(table.read(), file)
        if change(entries):
            table.seek(0)
            table.write(str_to_bytes(dumps(entries)))
            table.truncate()
            table.flush()


def _decode_table(raw: bytes, file: Any) -> list[exchange_queue_t]:
    if not raw.strip():  # just created by a binder that has not written it yet
        return []
    try:
        return [exchange_queue_t(*entry) for entry in loads(bytes_to_str(raw))]
    except (ValueError, TypeError) as exc:
        raise ChannelError(f"Corrupt exchange table {file}: {exc}") from exc
