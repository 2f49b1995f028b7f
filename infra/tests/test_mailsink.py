"""The local SMTP sink of `make up` (infra/local/mailsink.py), as a real process: what a
service sends with Django's SMTP backend arrives as one complete .eml file per message, and
SIGTERM stops it cleanly."""

from __future__ import annotations

import email
import signal
import smtplib
import subprocess
import sys
from email.message import EmailMessage
from pathlib import Path

from conftest import EVENTUALLY, ROOT, eventually

sys.path.insert(0, str(ROOT / "infra" / "local"))
from ports import free_port

SINK = ROOT / "infra" / "local" / "mailsink.py"
PYTHON = ROOT / "var" / "tools" / "bin" / "python"  # the tools environment, as the Procfile


def test_each_message_becomes_one_eml_file_and_sigterm_stops_the_sink(tmp_path: Path) -> None:
    port, box = free_port(), tmp_path / "mail"
    sink = subprocess.Popen(
        [PYTHON, SINK, "--port", str(port), "--dir", box],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        eventually(lambda: box.is_dir() and _accepts(port), "the sink never listened")
        for n in range(2):
            message = EmailMessage()
            message["From"], message["To"] = "shop@example.com", f"buyer{n}@example.com"
            message["Subject"] = f"Your order is confirmed {n}"
            message.set_content("Total: 10.00 EUR\n")
            message.add_alternative("<p>Total: 10.00 EUR</p>", subtype="html")
            with smtplib.SMTP("127.0.0.1", port, timeout=EVENTUALLY) as smtp:
                smtp.send_message(message)

        files = sorted(box.glob("*.eml"))
        assert [f.name.startswith(".") for f in files] == [False, False]  # no partial files
        received = [email.message_from_bytes(f.read_bytes()) for f in files]
        assert [(m["To"], m["Subject"]) for m in received] == [
            ("buyer0@example.com", "Your order is confirmed 0"),
            ("buyer1@example.com", "Your order is confirmed 1"),
        ]
        kinds = [part.get_content_type() for part in received[0].walk()]
        assert kinds == ["multipart/alternative", "text/plain", "text/html"]
    finally:
        sink.send_signal(signal.SIGTERM)
        out, _ = sink.communicate(timeout=EVENTUALLY)
    assert sink.returncode == 0, out
    assert out.splitlines()[0] == f"SMTP sink on 127.0.0.1:{port}, writing {box}/*.eml"


def _accepts(port: int) -> bool:
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=5) as smtp:
            return smtp.noop()[0] == 250
    except OSError:
        return False
