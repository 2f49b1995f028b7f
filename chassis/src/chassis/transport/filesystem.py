"""kombu's filesystem transport with atomic publishing and claims kept until the ack.

See :mod:`chassis.transport` for what it fixes and :mod:`chassis.transport.files` for the
files it keeps.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import threading
import time
from queue import Empty
from typing import Any, ClassVar

from kombu.exceptions import ChannelError
from kombu.transport import filesystem, virtual
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads
from kombu.utils.objects import cached_property

from chassis.transport import files
from chassis.transport.files import exchange_queue_t

__all__ = ["FilesystemChannel", "FilesystemTransport"]

logger = logging.getLogger("chassis.transport")

ORPHAN_CHECK_SECONDS = 1.0
STALE_TEMP_SECONDS = 600.0  # a temporary file this old belongs to a publisher that died


class FilesystemChannel(filesystem.Channel):
    """kombu's filesystem channel with atomic publishing and claims kept until the ack."""

    def __init__(self, connection: Any, **kwargs: Any) -> None:
        self._claims: dict[Any, list[str]] = {}  # delivery tag -> claimed files
        self._claims_lock = threading.Lock()  # acks may come from other threads
        self._no_ack_queues: set[str] = set()
        self._next_orphan_check = 0.0
        super().__init__(connection, **kwargs)

    @cached_property
    def fsync(self) -> bool:
        return bool(self.transport_options.get("fsync", False))

    @cached_property
    def corrupt_folder(self) -> str:
        default = os.path.join(os.path.dirname(os.path.abspath(self.data_folder_in)), "corrupt")
        return str(self.transport_options.get("corrupt_folder", default))

    # --- messages ---------------------------------------------------------------------------

    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:  # type: ignore[override]
        name = files.message_name(queue)
        final = os.path.join(self.data_folder_out, name)
        temp = os.path.join(self.data_folder_out, files.temp_name(name))
        try:
            files.write_then_rename(temp, final, str_to_bytes(dumps(payload)), fsync=self.fsync)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc

    def _get(self, queue: str, timeout: float | None = None) -> Any:
        folder = self.data_folder_in
        names = sorted(os.listdir(folder))
        self._restore_orphans(folder, names)
        for name in names:
            if not files.is_message_of(name, queue):
                continue
            claim = os.path.join(folder, files.claim_name(name, os.getpid()))
            try:
                os.rename(os.path.join(folder, name), claim)
            except OSError:  # another reader claimed it first, or it was purged
                continue
            payload = self._read_claim(queue, name, claim)
            if payload is not None:
                return payload
        raise Empty()

    def _read_claim(self, queue: str, name: str, claim: str) -> Any:
        raw = b""
        try:
            with open(claim, "rb") as file:
                raw = file.read()
            payload = loads(bytes_to_str(raw))
            tag = self.Message(payload, channel=self).delivery_tag
            hash(tag)
        except Exception as exc:  # whatever is wrong with it, the next message is fine
            empty = not raw and not isinstance(exc, OSError)
            reason = "empty file" if empty else f"{type(exc).__name__}: {exc}"
            self._set_aside(name, claim, reason)
            return None
        if queue in self._no_ack_queues:
            self._drop(claim)
        else:
            with self._claims_lock:
                self._claims.setdefault(tag, []).append(claim)
        return payload

    def _set_aside(self, name: str, claim: str, reason: str) -> None:
        target = os.path.join(self.corrupt_folder, name)
        try:
            os.makedirs(self.corrupt_folder, exist_ok=True)
            shutil.move(claim, target)
        except OSError as exc:  # left claimed: retried once this process is gone
            target = f"{claim} (not moved: {exc})"
        files.count_corrupt()
        logger.warning(
            "broker.corrupt_message %s: %s; moved to %s",
            name,
            reason,
            target,
            extra={"file": name, "reason": reason, "moved_to": target},
        )

    def _restore_orphans(self, folder: str, names: list[str]) -> None:
        """Put back the claims of dead processes; drop temporary files of long-dead writers."""
        now = time.monotonic()
        if now < self._next_orphan_check:
            return
        self._next_orphan_check = now + ORPHAN_CHECK_SECONDS
        for entry in names:
            if not entry.startswith("."):
                continue
            path = os.path.join(folder, entry)
            parsed = files.parse_claim(entry)
            with contextlib.suppress(OSError):  # another reader got there first
                if parsed and parsed[1] != os.getpid() and not files.alive(parsed[1]):
                    files.unclaim(path)
                    logger.warning("broker.orphan_restored %s (pid %s died)", *parsed)
                elif entry.endswith(files.TEMP_SUFFIX) and (
                    time.time() - os.stat(path).st_mtime > STALE_TEMP_SECONDS
                ):
                    os.unlink(path)

    # --- acknowledgements -------------------------------------------------------------------

    def basic_consume(self, queue: str, no_ack: bool, *args: Any, **kwargs: Any) -> Any:
        if no_ack:  # nobody will ack these: the claim is dropped as soon as it is read
            self._no_ack_queues.add(queue)
        return super().basic_consume(queue, no_ack, *args, **kwargs)

    def basic_cancel(self, consumer_tag: str) -> Any:
        self._no_ack_queues.discard(self._tag_to_queue.get(consumer_tag, ""))
        return super().basic_cancel(consumer_tag)

    def basic_get(self, queue: str, no_ack: bool = False, **kwargs: Any) -> Any:
        if not no_ack or queue in self._no_ack_queues:
            return super().basic_get(queue, no_ack, **kwargs)
        self._no_ack_queues.add(queue)
        try:
            return super().basic_get(queue, no_ack, **kwargs)
        finally:
            self._no_ack_queues.discard(queue)

    def basic_ack(self, delivery_tag: Any, multiple: bool = False) -> None:
        super().basic_ack(delivery_tag, multiple)
        self._settle(delivery_tag)

    def basic_reject(self, delivery_tag: Any, requeue: bool = False) -> None:
        super().basic_reject(delivery_tag, requeue)  # a requeue goes through _restore
        if not requeue:
            self._settle(delivery_tag)

    def _restore(self, message: Any) -> None:
        """Requeue: the claimed file goes back under its name, to its own queue only
        (kombu re-publishes to every queue the routing key matches)."""
        claim = self._pop_claim(message.delivery_tag)
        if claim is None:
            return super()._restore(message)
        try:
            files.unclaim(claim)
        except OSError:
            super()._restore(message)
            self._drop(claim)

    def close(self) -> None:
        super().close()  # restores unacknowledged messages through _restore
        with self._claims_lock:
            left = [claim for claims in self._claims.values() for claim in claims]
            self._claims.clear()
        for claim in left:  # delivered but never recorded as unacked (no QoS restore)
            with contextlib.suppress(OSError):
                files.unclaim(claim)

    def _pop_claim(self, delivery_tag: Any) -> str | None:
        with self._claims_lock:
            claims = self._claims.get(delivery_tag)
            if not claims:
                return None
            claim = claims.pop(0)
            if not claims:
                del self._claims[delivery_tag]
            return claim

    def _settle(self, delivery_tag: Any) -> None:
        claim = self._pop_claim(delivery_tag)
        if claim is not None:
            self._drop(claim)

    def _drop(self, claim: str) -> None:
        try:
            if self.store_processed:
                parsed = files.parse_claim(os.path.basename(claim))
                name = parsed[0] if parsed else os.path.basename(claim)
                shutil.move(claim, os.path.join(self.processed_folder, name))
            else:
                os.unlink(claim)
        except FileNotFoundError:
            pass
        except OSError:
            logger.warning("broker.claim_not_removed %s", claim, exc_info=True)

    # --- exchange tables --------------------------------------------------------------------

    def get_table(self, exchange: str) -> list[Any]:
        return files.read_table(self._table_file(exchange))

    def _queue_bind(self, exchange: str, routing_key: str, pattern: Any, queue: str) -> None:
        entry = exchange_queue_t(routing_key or "", pattern or "", queue or "")

        def add(table: list[exchange_queue_t]) -> bool:
            if entry in table:
                return False
            table.insert(0, entry)
            return True

        self.control_folder.mkdir(parents=True, exist_ok=True)
        files.update_table(self._table_file(exchange), add, create=True)

    def _delete(self, queue: str, *args: Any, **kwargs: Any) -> None:
        exchange, routing_key, pattern = args[:3]
        virtual.Channel._delete(self, queue)  # purges the queue
        entry = exchange_queue_t(routing_key or "", pattern or "", queue or "")

        def remove(table: list[exchange_queue_t]) -> bool:
            if entry not in table:
                return False
            table.remove(entry)
            return True

        files.update_table(self._table_file(exchange), remove, create=False)

    def _table_file(self, exchange: str) -> str:
        return str(self._exchange_file(exchange))  # type: ignore[attr-defined]  # not in stubs


class FilesystemTransport(filesystem.Transport):
    """kombu's filesystem transport with :class:`FilesystemChannel`.

    Declared exchanges and bindings are remembered per control folder, not per process (a
    binding already declared in memory is not written again): a connection to another
    folder writes its own tables."""

    Channel = FilesystemChannel
    _states: ClassVar[dict[str, virtual.BrokerState]] = {}

    def __init__(self, client: Any, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        folder = os.path.abspath(client.transport_options.get("control_folder", "control"))
        self.state = self._states.setdefault(folder, virtual.BrokerState())
