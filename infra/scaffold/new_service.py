"""`make new-service NAME=payments PORT=8104`: an empty, tested, routed service from the scaffold.

Writes <name>-service/ (the rendered templates plus the first version of the files the service
then owns, from new/), its entry in infra/services.toml, its Kong service in
gateway-config/kong.yml and its Kubernetes objects (infra/k8s/add_service.py), then its
requirement locks, trimmed from a sibling's (see lock()).
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

from render import (
    PARTS,
    REGISTRY,
    ROOT,
    SCAFFOLD,
    ScaffoldTemplate,
    Service,
    assemble,
    render,
    templates,
)
from render import registry as registered

SEEDS = SCAFFOLD / "new"
KONG = ROOT / "gateway-config" / "kong.yml"
PYPROJECT = "pyproject.toml"
NAME = re.compile(r"[a-z][a-z0-9]*")


def new_service(name: str, port: int) -> Service:
    service = Service(name=name, dir=f"{name}-service", port=port, app=name)
    refuse_clashes(service)
    write_files(service)
    add_to_registry(service)
    add_to_gateway(service)
    add_to_kubernetes(service)
    lock(service)
    print(
        f"created {service.dir}/ (registry entry, kong.yml routes, Kubernetes objects, "
        "locked requirements)"
    )
    print(f"next: make bootstrap, then infra/local/isolated {name} make -C {service.dir} ci")
    return service


def refuse_clashes(service: Service) -> None:
    if not NAME.fullmatch(service.name):
        sys.exit(f"NAME must be a lower-case identifier without '_' or '-', not {service.name!r}")
    for other in registered():
        if service.name == other.name or service.port == other.port:
            sys.exit(f"{other.name} (port {other.port}) is already in {REGISTRY.name}")
    if (ROOT / service.dir).exists():
        sys.exit(f"{service.dir}/ exists already")


def seed_variables(service: Service) -> dict[str, str]:
    chassis = tomllib.loads((ROOT / "chassis" / "pyproject.toml").read_text())["project"]
    return {
        **service.variables(),
        "app_class": service.app.capitalize(),
        "app_title": service.app.capitalize(),
        "chassis_version": chassis["version"],
    }


def write_files(service: Service) -> None:
    target = ROOT / service.dir
    own = {}
    for relpath, seed in templates(SEEDS).items():
        text = ScaffoldTemplate(seed.read_text()).substitute(seed_variables(service))
        if relpath in PARTS:
            own[relpath] = text
            continue
        path = target / relpath.replace("__app__", service.app)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for relpath, template in templates().items():
        path = target / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(assemble(relpath, render(template, service), own.get(relpath, "")))
    (target / "manage.py").chmod(0o755)


def add_to_registry(service: Service) -> None:
    entry = ScaffoldTemplate((SCAFFOLD / "registry-entry.toml.tmpl").read_text())
    with REGISTRY.open("a") as registry:
        registry.write("\n" + entry.substitute(service.variables()))


def add_to_gateway(service: Service) -> None:
    block = ScaffoldTemplate((SCAFFOLD / "kong-service.yml.tmpl").read_text())
    text = KONG.read_text()
    head, tail = text.split("\nconsumers:\n", 1)
    KONG.write_text(head + block.substitute(service.variables()) + "\nconsumers:\n" + tail)


def add_to_kubernetes(service: Service) -> None:
    sys.path.insert(0, str(ROOT / "infra" / "k8s"))
    from add_service import add_service

    add_service(name=service.name, directory=service.dir)


def lock(service: Service) -> None:
    """requirements.lock and requirements-dev.lock: a sibling's locks (the first registered
    service that depends on everything the new one does) trimmed to what the new service
    needs, so it runs exactly the versions the platform runs, with no network and no cache.
    `make lock` in the new service re-resolves them (uv, the package index) when it grows."""
    target = ROOT / service.dir
    needs = dependencies(target / PYPROJECT)
    sibling = next(
        s
        for s in registered()
        if s.dir != service.dir and needs["dev"] <= dependencies(ROOT / s.dir / PYPROJECT)["dev"]
    )
    for output, kind in (("requirements.lock", "base"), ("requirements-dev.lock", "dev")):
        text = (ROOT / sibling.dir / output).read_text()
        (target / output).write_text(trim_lock(text, sibling.dir, service.dir, needs[kind]))


def normalized(requirement: str) -> str:
    return re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def dependencies(pyproject: Path) -> dict[str, set[str]]:
    project = tomllib.loads(pyproject.read_text())["project"]
    base = {normalized(r) for r in project["dependencies"]}
    dev = {normalized(r) for r in project.get("optional-dependencies", {}).get("dev", [])}
    return {"base": base, "dev": base | dev}


def trim_lock(text: str, old_dir: str, new_dir: str, direct: set[str]) -> str:
    """uv's `pip compile` output for ``old_dir``, keeping the packages ``direct`` needs (a
    package stays while a kept package or the project itself requires it: its `# via`)."""
    old_root, new_root = f"{old_dir} (pyproject.toml)", f"{new_dir} (pyproject.toml)"
    entries = {}  # name -> (pin line, what requires it)
    for block in re.split(r"\n(?=\S)", text.strip()):
        pin, *comments = block.splitlines()
        via = [c.strip().removeprefix("#").strip().removeprefix("via").strip() for c in comments]
        entries[normalized(pin)] = (pin, {v for v in via if v})
    kept = {name for name, (_, via) in entries.items() if old_root in via and name in direct}
    while grown := {n for n, (_, via) in entries.items() if n not in kept and via & kept}:
        kept |= grown
    lines = []
    for name, (pin, via) in entries.items():
        if name not in kept:
            continue
        # uv names the project first, then the packages in order.
        why = [new_root] if old_root in via and name in direct else []
        why += sorted(via & kept)
        lines.append(pin)
        lines += (
            [f"    # via {why[0]}"]
            if len(why) == 1
            else ["    # via", *(f"    #   {w}" for w in why)]
        )
    return "\n".join(lines) + "\n"
