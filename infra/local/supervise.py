"""The local platform's process supervisor: runs a Procfile's processes and keeps them up.

Standard library only (the runner must work on a bare machine). It replaces honcho, which
stopped every process as soon as one exited: a worker that died on a bad message took the
whole platform down, and a slow stop was cut short after 5 s with SIGKILL and exit code 1.

- Start: every process in its own session (process group), through ``/bin/sh -c``, with
  the platform's environment; its stdout and stderr are relayed line by line, prefixed with
  the time and its name (``12:00:01 users-web    | ...``: infra/local/relay.py). Under a
  stream of lines (every request's access line) the pipes are read at most every
  ``coalesce`` seconds (0.1 s), all that arrived in one read and one write: the relay's CPU
  per line stays small (infra/bench/gateway_overhead.py measures it); a lone line still shows
  at once.
- Crash: a process that exits while the platform is not stopping is restarted after a
  backoff (1, 2, 4, ... s, at most ``max_backoff``), with a log line naming it and its exit
  code. ``max_restarts`` crashes within ``window`` seconds and it is given up: a message
  names it and shows its last log lines; the other processes keep running, and the
  platform's exit code says it (1).
- Stop (SIGINT, SIGTERM): SIGTERM to every process at once (not to its group: it stops its
  own children), then up to ``grace`` seconds for them to exit (gunicorn's graceful timeout
  is 20 s, Celery's warm shutdown waits for the task at hand); whatever is still running
  then is SIGKILLed with its group and named.
  Exit code 0 when every process stopped on SIGTERM within the grace period, else 1.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import selectors
import signal
import subprocess
import sys
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from relay import Relay

# Exit statuses of a process that stopped because it was asked to.
CLEAN_EXITS = {0, -signal.SIGTERM, 128 + signal.SIGTERM}
TAIL_LINES = 20
CHECK_EVERY = 0.25  # seconds between two looks at whether a process exited, at most
PIPE_SIZE = 1 << 20  # each process's pipe (Linux's default, 64 KiB, could fill between reads)


def read_procfile(path: Path) -> list[tuple[str, str]]:
    """``name: command`` lines; blank lines and ``#`` comments are skipped."""
    entries = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        name, sep, command = line.partition(":")
        if not sep or not name.strip() or not command.strip():
            raise ValueError(f"{path}:{number}: expected 'name: command'")
        entries.append((name.strip(), command.strip()))
    names = [name for name, _ in entries]
    if len(set(names)) != len(names):
        raise ValueError(f"{path}: a process name appears twice")
    return entries


@dataclass
class Child:
    name: str
    command: str
    popen: subprocess.Popen | None = None
    relay: Relay | None = None  # its output (set by the Supervisor: the prefix's width)
    crashes: deque[float] = field(default_factory=deque)  # monotonic times, within the window
    restart_at: float | None = None
    gave_up: bool = False
    exit_code: int | None = None
    stopped_cleanly: bool = False


class Supervisor:
    def __init__(
        self,
        processes: Iterable[tuple[str, str]],
        *,
        env: dict[str, str],
        cwd: Path,
        out: BinaryIO | None = None,
        grace: float = 30.0,
        max_restarts: int = 5,
        window: float = 300.0,
        max_backoff: float = 30.0,
        handle_signals: bool = True,
        coalesce: float = 0.1,
    ) -> None:
        self.children = [Child(name, command) for name, command in processes]
        self.env = {**env, "PYTHONUNBUFFERED": "1"}
        self.cwd = cwd
        self.out = out or sys.stdout.buffer
        self.grace = grace
        self.max_restarts = max_restarts
        self.window = window
        self.max_backoff = max_backoff
        self.handle_signals = handle_signals  # False: stopped by request_stop() (tests, threads)
        self.width = max([len("supervisor"), *(len(c.name) for c in self.children)])
        for child in self.children:
            child.relay = Relay(child.name.ljust(self.width).encode())
        self.coalesce = coalesce  # seconds between two reads of the pipes, at least
        self._last_read = 0.0
        self._next_check = 0.0
        self._stamp = (0, b"")  # (second, its HH:MM:SS)
        self.selector = selectors.DefaultSelector()
        self.stopping = False
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)

    # --- output ---------------------------------------------------------------------------

    def _time(self) -> bytes:
        now = int(time.time())
        if now != self._stamp[0]:
            self._stamp = (now, time.strftime("%H:%M:%S", time.localtime(now)).encode())
        return self._stamp[1]

    def say(self, message: str) -> None:
        """A line of the supervisor's own, in the same stream as the processes' lines."""
        name = "supervisor".ljust(self.width)
        self._write(f"{self._time().decode()} {name} | {message}\n".encode())

    def _write(self, data: bytes) -> None:
        if not data:
            return
        try:
            self.out.write(data)
            self.out.flush()
        except (BrokenPipeError, ValueError):  # our own output went away: keep supervising
            pass

    # --- processes -----------------------------------------------------------------------

    def _start(self, child: Child) -> None:
        child.restart_at = None
        child.popen = subprocess.Popen(
            ["/bin/sh", "-c", child.command],
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: SIGKILL reaches its children too
        )
        assert child.popen.stdout is not None
        os.set_blocking(child.popen.stdout.fileno(), False)
        with contextlib.suppress(OSError, AttributeError):  # Linux only; a smaller one will do
            fcntl.fcntl(child.popen.stdout.fileno(), fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        self.selector.register(child.popen.stdout, selectors.EVENT_READ, child)

    def _drain(self, child: Child) -> bool:
        """Relay what the child wrote (one write) and stop watching its pipe once closed
        (then True)."""
        if child.popen is None or child.popen.stdout is None or child.popen.stdout.closed:
            return False
        assert child.relay is not None
        stream, stamp, out, closed = child.popen.stdout, self._time(), [], False
        while True:
            try:
                data = os.read(stream.fileno(), PIPE_SIZE)
            except BlockingIOError:
                break
            except OSError:
                data = b""
            if not data:
                out.append(child.relay.finish(stamp))
                self.selector.unregister(stream)
                stream.close()
                closed = True
                break
            out.append(child.relay.feed(data, stamp))
        self._write(b"".join(out))
        return closed

    def _signal(self, child: Child, signum: int) -> None:
        if child.popen is not None and child.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.popen.pid, signum)

    def _terminate(self, child: Child) -> None:
        """SIGTERM to the process only: it stops its own children as it is designed to (Celery's
        warm shutdown lets its pool finish the task at hand, gunicorn's master its workers'
        requests). The group gets SIGKILL once the process is gone or the grace is over."""
        if child.popen is not None and child.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child.popen.pid, signal.SIGTERM)

    def _reaped(self, child: Child) -> bool:
        """Whether the child exited (its pipe drained, then closed)."""
        if child.popen is None or child.popen.poll() is None:
            return False
        self._drain(child)
        # Its own children may keep the pipe open: they belong to its process group.
        self._signal_group_leftovers(child)
        if child.popen.stdout is not None and not child.popen.stdout.closed:
            self.selector.unregister(child.popen.stdout)
            child.popen.stdout.close()
        child.exit_code = child.popen.returncode
        return True

    def _signal_group_leftovers(self, child: Child) -> None:
        assert child.popen is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.popen.pid, signal.SIGKILL)

    def _crashed(self, child: Child, now: float) -> None:
        code = child.exit_code
        child.popen = None
        child.crashes.append(now)
        while child.crashes and now - child.crashes[0] > self.window:
            child.crashes.popleft()
        if len(child.crashes) >= self.max_restarts:
            child.gave_up = True
            assert child.relay is not None
            tail = child.relay.tail(TAIL_LINES)
            lines = "\n".join(f"    {line}" for line in tail) or "    (no output)"
            self.say(
                f"{child.name} exited {len(child.crashes)} times within {self.window:.0f} s "
                f"(last exit code {code}): given up, not restarting it. Its last lines:\n{lines}"
            )
            return
        backoff = min(2.0 ** (len(child.crashes) - 1), self.max_backoff)
        child.restart_at = now + backoff
        self.say(
            f"{child.name} exited unexpectedly (exit code {code}); restarting it in "
            f"{backoff:.0f} s (crash {len(child.crashes)} of {self.max_restarts} allowed "
            f"within {self.window:.0f} s)"
        )

    # --- the loop ----------------------------------------------------------------------

    def _on_signal(self, signum: int, _frame: object) -> None:
        self.stopping = True
        with contextlib.suppress(OSError):
            os.write(self._wake_w, b"\0")

    def run(self) -> int:
        """Run until SIGINT/SIGTERM (or :meth:`request_stop`); returns the exit code."""
        signals = (signal.SIGINT, signal.SIGTERM) if self.handle_signals else ()
        previous = {s: signal.signal(s, self._on_signal) for s in signals}
        self.selector.register(self._wake_r, selectors.EVENT_READ, None)
        try:
            for child in self.children:
                self._start(child)
            while not self.stopping:
                self._tick(timeout=0.5)
            return self._stop_all()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def request_stop(self) -> None:
        self._on_signal(signal.SIGTERM, None)

    def _tick(self, timeout: float) -> None:
        now = time.monotonic()
        waits = [c.restart_at - now for c in self.children if c.restart_at is not None]
        ready = self.selector.select(max(0.0, min([timeout, *waits])))
        if any(key.data is not None for key, _ in ready) and not self.stopping:
            # Lines keep coming: let them gather, then read them all at once.
            time.sleep(max(0.0, self._last_read + self.coalesce - time.monotonic()))
            self._last_read = time.monotonic()
        closed = False
        for key, _ in ready:
            if key.data is None:
                with contextlib.suppress(BlockingIOError):
                    os.read(self._wake_r, 4096)
            else:
                closed |= self._drain(key.data)
        now = time.monotonic()
        # Whether a process exited: at once when a pipe closed, else every CHECK_EVERY (not
        # on every read of a stream of lines: a waitpid per process each time).
        check = closed or now >= self._next_check
        if check:
            self._next_check = now + CHECK_EVERY
        for child in self.children:
            if child.popen is not None and check and not self.stopping and self._reaped(child):
                self._crashed(child, now)
            elif child.restart_at is not None and now >= child.restart_at and not self.stopping:
                self.say(f"restarting {child.name}")
                self._start(child)

    def _stop_all(self) -> int:
        running = [c for c in self.children if c.popen is not None]
        self.say(
            f"stopping {len(running)} process(es) (SIGTERM; up to {self.grace:.0f} s before "
            "SIGKILL)"
        )
        for child in running:
            self._terminate(child)
        deadline = time.monotonic() + self.grace
        left = list(running)
        while left and time.monotonic() < deadline:
            self._tick(timeout=0.2)
            for child in list(left):
                if self._reaped(child):
                    child.stopped_cleanly = child.exit_code in CLEAN_EXITS
                    if not child.stopped_cleanly:
                        self.say(f"{child.name} stopped with exit code {child.exit_code}")
                    left.remove(child)
        for child in left:
            self._signal(child, signal.SIGKILL)
        for child in left:
            assert child.popen is not None
            child.popen.wait()
            self._reaped(child)
        if left:
            names = ", ".join(c.name for c in left)
            self.say(f"still running after {self.grace:.0f} s, killed (SIGKILL): {names}")
        gave_up = [c.name for c in self.children if c.gave_up]
        unclean = [c.name for c in running if not c.stopped_cleanly]
        if not gave_up and not unclean:
            self.say("every process stopped on SIGTERM")
            return 0
        if gave_up:
            self.say(f"given up earlier: {', '.join(gave_up)}")
        return 1
