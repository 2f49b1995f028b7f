"""The platform's Procfile, rendered from ``Procfile.template`` for the registry's services.

One template line per process kind (web, worker, beat), written once per service; the lines
without a placeholder (comments, the gateway) once. A line with an instance placeholder
(``{inst}``: web and worker) is written once per instance of its service: ``scale`` (from
``make up SCALE="orders=3"``) gives a service N web and N worker processes, instance 1 named
as without scale, instance i named ``<service>-web-<i>`` (port ``$<NAME>_PORT_<i>``) and
``<service>-worker-<i>`` (Celery node ``<service>.$PLATFORM_ID.<i>``). Beat stays one per
service: its periodic tasks would otherwise run once per beat. The runner writes the result to
``<var>/Procfile`` at every start, so the registry is the only list of services.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from registry import Service

TEMPLATE = Path(__file__).resolve().with_name("Procfile.template")


def instance_names(number: int) -> dict[str, str]:
    """The placeholders of instance ``number`` (1-based) of a scaled process."""
    if number == 1:
        return {"inst": "", "port_var": "PORT", "node": ""}
    return {"inst": f"-{number}", "port_var": f"PORT_{number}", "node": f".{number}"}


def render_procfile(
    services: Iterable[Service],
    template: str | None = None,
    scale: Mapping[str, int] | None = None,
) -> str:
    """The template with each run of placeholder lines repeated per service (and instance)."""
    services = list(services)
    scale = scale or {}
    text = TEMPLATE.read_text() if template is None else template
    out: list[str] = []
    block: list[str] = []

    def flush() -> None:
        for service in services:
            names = {"name": service.name, "NAME": service.name.upper(), "dir": service.dir}
            for line in block:
                count = scale.get(service.name, 1) if "{inst}" in line else 1
                out.extend(line.format(**names, **instance_names(n)) for n in range(1, count + 1))
        block.clear()

    for line in text.splitlines():
        if "{" in line:
            block.append(line)
        else:
            flush()
            out.append(line)
    flush()
    return "\n".join(out) + "\n"


def write_procfile(
    var: Path, services: Iterable[Service], scale: Mapping[str, int] | None = None
) -> Path:
    path = var / "Procfile"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_procfile(services, scale=scale))
    return path
