"""The local SMTP sink of ``make up``: accepts every message and keeps it as a file.

    python infra/local/mailsink.py --port 1025 --dir var/mail

Each message is written to ``<dir>/<nanoseconds>-<random>.eml`` exactly as received (what a
mail client opens), through a temporary file renamed into place, so a reader never sees half
a message. It relays nothing and listens on 127.0.0.1 only: the services' mail (welcome,
email verification, password reset, order emails) goes here through Django's SMTP backend
(EMAIL_HOST/EMAIL_PORT), and the system tests read it back. aiosmtpd, from the tools
environment (infra/requirements.in). Stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session


class MailDirectory:
    """aiosmtpd handler: each message's data to one ``.eml`` file in ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content: Any = envelope.original_content or envelope.content or b""
        data = content if isinstance(content, bytes) else str(content).encode()
        name = f"{time.time_ns()}-{os.urandom(4).hex()}.eml"
        partial = self.directory / f".{name}.partial"
        partial.write_bytes(data)
        partial.rename(self.directory / name)
        print(f"mail to {', '.join(envelope.rcpt_tos)}: {name}", flush=True)
        return "250 Message accepted for delivery"


async def serve(host: str, port: int, directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    loop = asyncio.get_running_loop()
    handler = MailDirectory(directory)
    server = await loop.create_server(lambda: SMTP(handler, hostname="localhost"), host, port)
    print(f"SMTP sink on {host}:{port}, writing {directory}/*.eml", flush=True)
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    server.close()
    await server.wait_closed()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1025)
    parser.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port, args.dir))


if __name__ == "__main__":
    main()
