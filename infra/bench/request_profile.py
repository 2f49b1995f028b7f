"""Where a service's CPU per request goes: py-spy samples of its gunicorn workers under load,
each sample given to one stage of the request path (the innermost frame that names one).

``profile(pids, seconds, run)``: records every pid (gunicorn's master and workers) with
``py-spy record --nonblocking`` (the workers are not paused) while ``run()`` drives the load,
then counts the on-CPU samples by stage. The bench multiplies each stage's share by the
service's measured CPU per request (from /proc, outside the profile), so the table adds up to it.

py-spy comes from the tools environment (infra/requirements.in); it needs ptrace rights over the
workers (same user; root or ``kernel.yama.ptrace_scope`` 0 or 1 for a child of ours: the
workers are not, so ``profile`` reports why it could not sample instead of failing the bench).
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

# (stage, pattern on one frame "function (path:line)"): a sample goes to the stage of its
# innermost frame that matches one (frames of no stage, the standard library's json, re, ...,
# are passed over): a query run by the authentication counts as the query, a log line written
# by a middleware as logging, the JSON encoding of a log line as logging, of a body as rendering.
STAGES: tuple[tuple[str, str], ...] = (
    ("logging (access line, log records)", r"/logging/|pythonjsonlogger|gunicorn/glogging"),
    ("metrics (prometheus_client)", r"prometheus_client/|chassis/metrics\.py"),
    ("database query (psycopg, Django's backend)", r"psycopg|django/db/backends/"),
    ("ORM (queryset, model instance)", r"django/db/"),
    ("JWT verify (PyJWT, cryptography)", r"/jwt/|cryptography/"),
    (
        "JWT authentication (simplejwt, users.authentication)",
        r"rest_framework_simplejwt/|"
        r"users/authentication\.py|chassis/auth\.py",
    ),
    ("DRF throttles", r"rest_framework/throttling|chassis/throttling"),
    ("DRF permissions", r"rest_framework/permissions|chassis/permissions"),
    ("serializer", r"rest_framework/serializers|rest_framework/fields|users/serializers"),
    ("JSON rendering", r"rest_framework/renderers"),
    ("DRF dispatch (request, negotiation, view)", r"rest_framework/|chassis/query\.py|users/apis"),
    ("middleware: correlation id (chassis, django-guid)", r"django_guid/|chassis/correlation"),
    ("middleware: health probes", r"chassis/health\.py"),
    ("middleware: security", r"django/middleware/security"),
    ("middleware: whitenoise", r"whitenoise/"),
    ("middleware: sessions", r"contrib/sessions/|chassis/sessions\.py"),
    ("middleware: common", r"django/middleware/common"),
    ("middleware: csrf", r"django/middleware/csrf"),
    ("middleware: auth", r"contrib/auth/middleware"),
    ("middleware: messages", r"contrib/messages/"),
    ("middleware: clickjacking", r"django/middleware/clickjacking"),
    ("tracing (opentelemetry)", r"opentelemetry/|chassis/tracing"),
    ("Django: signals (request started/finished)", r"django/dispatch/"),
    ("Django: URL resolving", r"django/urls/"),
    ("Django: request/response objects, handler", r"django/"),
    (
        "gunicorn: HTTP parsing (request line, headers)",
        r"gunicorn/http/(message|parser|unreader"
        r"|body)",
    ),
    ("gunicorn: WSGI environ, response writing", r"gunicorn/http/wsgi|gunicorn/util"),
    ("gunicorn: worker loop (accept, keep-alive, select)", r"gunicorn/"),
)
_COMPILED = [(stage, re.compile(pattern)) for stage, pattern in STAGES]
OTHER = "other (interpreter, C code without a Python frame)"
_LINE = re.compile(r"^(?P<stack>.*) (?P<count>\d+)$")


# Stages a sample belongs to when any of its frames matches, before the innermost rule: the
# connection's health check (CONN_HEALTH_CHECKS: a SELECT 1 before a request's first query).
ANYWHERE: tuple[tuple[str, str], ...] = (
    ("database health check (CONN_HEALTH_CHECKS' SELECT 1)", r"^is_usable \(.*django/db/"),
)
_ANYWHERE = [(stage, re.compile(pattern)) for stage, pattern in ANYWHERE]


def stage_of(stack: list[str]) -> str:
    """The stage of one sample, its frames root first."""
    for stage, pattern in _ANYWHERE:
        if any(pattern.search(frame) for frame in stack):
            return stage
    for frame in reversed(stack):
        for stage, pattern in _COMPILED:
            if pattern.search(frame):
                return stage
    return OTHER


def count_stages(raw: Iterable[str]) -> Counter[str]:
    """Samples per stage from py-spy's ``--format raw`` lines (``frame;frame;... count``)."""
    counts: Counter[str] = Counter()
    for line in raw:
        found = _LINE.match(line.strip())
        if found:
            counts[stage_of(found["stack"].split(";"))] += int(found["count"])
    return counts


def py_spy() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


def profile(pids: list[int], seconds: int, run: Callable[[], T]) -> tuple[T, Counter[str], str]:
    """``run()``'s result, the samples by stage over ``seconds``, and a note (why nothing was
    sampled, if so)."""
    tool = py_spy()
    if tool is None:
        return run(), Counter(), "py-spy not installed (var/tools: make bootstrap)"
    with tempfile.TemporaryDirectory(prefix="request-profile-") as tmp:
        recorders = []
        for pid in pids:
            out = Path(tmp) / f"{pid}.txt"
            command = [tool, "record", "--pid", str(pid), "--format", "raw", "--output", str(out)]
            command += ["--duration", str(seconds), "--rate", "200", "--nonblocking"]
            recorders.append(
                (out, subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
            )
        result = run()
        counts: Counter[str] = Counter()
        errors = []
        for out, recorder in recorders:
            output, _ = recorder.communicate(timeout=seconds + 60)
            if out.exists():
                counts += count_stages(out.read_text(errors="replace").splitlines())
            elif recorder.returncode:
                errors.append(output.decode(errors="replace").strip().splitlines()[-1:])
    note = "" if counts else f"py-spy sampled nothing: {errors}"
    return result, counts, note


def breakdown(counts: Counter[str], cpu_us: float) -> list[list[str]]:
    """Rows: stage, share of samples, us per request (the share of ``cpu_us``)."""
    total = sum(counts.values())
    rows = [["stage", "samples", "share", "us per request"]]
    for stage, count in counts.most_common():
        rows.append([stage, str(count), f"{count / total:.1%}", f"{cpu_us * count / total:.1f}"])
    rows.append(["all", str(total), "100%", f"{cpu_us:.1f}"])
    return rows
