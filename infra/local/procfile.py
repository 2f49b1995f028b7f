"""The platform's Procfile, rendered from ``Procfile.template`` for the registry's services.

One template line per process kind (web, worker, beat), written once per service; the lines
without a placeholder (comments, the gateway) once. The runner writes the result to
``<var>/Procfile`` at every start, so the registry is the only list of services.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from registry import Service

TEMPLATE = Path(__file__).resolve().with_name("Procfile.template")


def render_procfile(services: Iterable[Service], template: str | None = None) -> str:
    """The template with each run of placeholder lines repeated per service, in order."""
    services = list(services)
    text = TEMPLATE.read_text() if template is None else template
    out: list[str] = []
    block: list[str] = []

    def flush() -> None:
        for service in services:
            names = {"name": service.name, "NAME": service.name.upper(), "dir": service.dir}
            out.extend(line.format(**names) for line in block)
        block.clear()

    for line in text.splitlines():
        if "{" in line:
            block.append(line)
        else:
            flush()
            out.append(line)
    flush()
    return "\n".join(out) + "\n"


def write_procfile(var: Path, services: Iterable[Service]) -> Path:
    path = var / "Procfile"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_procfile(services))
    return path
