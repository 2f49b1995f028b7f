"""Free local ports for platforms started by tests and benchmarks.

A port the kernel hands out for ``bind(("127.0.0.1", 0))`` comes from the ephemeral range
(``net.ipv4.ip_local_port_range``, 32768-60999 by default), the same range every outgoing
connection on the machine takes its source port from: between the moment a test picks such a
port and the moment the platform binds it, a connection to PostgreSQL or RabbitMQ (ours or
another suite's) could take it. Ports below the ephemeral range are only ever bound on
purpose, so a free one stays free until we use it, unless another platform picks the same:
the start is random and the choice is checked by binding.
"""

from __future__ import annotations

import random
import socket

LOW, HIGH = 20000, 32000  # under Linux's default ephemeral range, above the usual services


def _ephemeral_low() -> int:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as ranges:
            return int(ranges.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def free_port() -> int:
    """A port on 127.0.0.1 that nothing is bound to, outside the ephemeral range if it can."""
    high = min(HIGH, _ephemeral_low())
    for _ in range(200):
        port = random.randrange(LOW, high)  # noqa: S311 - a spread of choices, not a secret
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    with socket.socket() as sock:  # a crowded range: let the kernel choose
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
