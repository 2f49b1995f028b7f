"""One process's output as the supervisor relays it: complete lines, each prefixed with the time
and the process's name, a partial last line held until its end arrives (or the process exits).

Standard library only (infra/local/supervise.py). Cheap per line, since every access line of
every web process passes here: a read's complete lines are prefixed with one ``bytes.replace``
(no per-line Python), bytes are relayed as they came (not decoded: a process's non-UTF-8 output
reaches the terminal unchanged), and the last lines are kept as raw bytes (decoded only when a
crash report shows them). A line longer than ``max_line`` bytes without its end is relayed in
pieces of that size, each prefixed, so a process that never writes a newline cannot make the
supervisor hold an unbounded buffer.
"""

from __future__ import annotations

__all__ = ["MAX_LINE", "TAIL_BYTES", "Relay"]

MAX_LINE = 65536  # bytes of a line held before it is relayed without its end
TAIL_BYTES = 16384  # bytes of recent output kept for a crash report


class Relay:
    def __init__(self, name: bytes, *, max_line: int = MAX_LINE, tail_bytes: int = TAIL_BYTES):
        self.name = name  # already padded to the platform's name width
        self.max_line = max_line
        self.tail_bytes = tail_bytes
        self.pending = b""  # the start of a line whose end has not come yet
        self.recent = b""  # the last complete lines, raw (at most tail_bytes)
        self.cut = False  # recent starts mid-line (older output was dropped)

    def feed(self, data: bytes, stamp: bytes) -> bytes:
        """What to write for ``data`` (b"" while no line is complete); ``stamp`` is the time."""
        chunk = self.pending + data if self.pending else data
        end = chunk.rfind(b"\n") + 1
        complete, self.pending = chunk[:end], chunk[end:]
        if len(self.pending) >= self.max_line:  # a line without end: relay what is there
            whole = len(self.pending) - len(self.pending) % self.max_line
            pieces, self.pending = self.pending[:whole], self.pending[whole:]
            complete += b"\n".join(
                pieces[i : i + self.max_line] for i in range(0, whole, self.max_line)
            )
            complete += b"\n"
        return self._prefixed(complete, stamp)

    def finish(self, stamp: bytes) -> bytes:
        """The process's output ended: its partial last line, completed."""
        rest, self.pending = self.pending, b""
        return self._prefixed(rest + b"\n", stamp) if rest else b""

    def tail(self, lines: int) -> list[str]:
        """The last ``lines`` complete lines (and a partial one), decoded for a report."""
        kept = self.recent.split(b"\n")[:-1]
        if self.cut:
            kept = kept[1:]
        if self.pending:
            kept.append(self.pending)
        return [line.decode(errors="replace") for line in kept[-lines:]]

    def _prefixed(self, complete: bytes, stamp: bytes) -> bytes:
        if not complete:
            return b""
        self._remember(complete)
        prefix = stamp + b" " + self.name + b" | "
        return prefix + complete[:-1].replace(b"\n", b"\n" + prefix) + b"\n"

    def _remember(self, complete: bytes) -> None:
        if len(self.recent) + len(complete) <= self.tail_bytes:
            self.recent += complete
            return
        recent = complete if len(complete) >= self.tail_bytes else self.recent + complete
        self.recent = recent[-self.tail_bytes :]
        self.cut = True
