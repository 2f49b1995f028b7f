#!/usr/bin/env python3
"""The service registry (``infra/services.toml``) as typed records: the one list of services.

Standard library only: the runner (a bare machine's python3), the root Makefile, the system
tests, the benchmarks and the scaffold all read it through this module.

    from registry import load_services
    for name, service in load_services().items():
        print(name, service.dir, service.port)

On the command line (the root Makefile's parts): ``python3 infra/local/registry.py dirs``
prints the services' directories, ``names`` their names, one line, space-separated.
"""

from __future__ import annotations

import os
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REGISTRY = ROOT / "infra" / "services.toml"


class RegistryError(ValueError):
    """The registry file is not what this module reads (a key missing, unknown or mistyped)."""


@dataclass(frozen=True)
class Service:
    """One ``[services.<name>]`` entry; the keys are described in the file's header."""

    name: str
    dir: str
    port: int
    api: str
    publishes: tuple[str, ...]
    consumes: tuple[str, ...]
    prepare: tuple[tuple[str, ...], ...]
    fuzz: int

    @property
    def env_prefix(self) -> str:
        """Of the platform's variables for this service: ``USERS_`` (USERS_PORT, ...)."""
        return self.name.upper() + "_"


KEYS = {f.name for f in fields(Service)} - {"name"}


def _strings(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise RegistryError(f"{where}: a list of strings, got {value!r}")
    return tuple(value)


def _integer(value: object, where: str) -> int:
    if type(value) is not int:
        raise RegistryError(f"{where}: an integer, got {value!r}")
    return value


def _service(name: str, entry: dict[str, object], env: Mapping[str, str]) -> Service:
    missing, unknown = sorted(KEYS - entry.keys()), sorted(entry.keys() - KEYS)
    if missing or unknown:
        raise RegistryError(f"services.{name}: missing keys {missing}, unknown keys {unknown}")
    where = f"services.{name}"
    steps = entry["prepare"]
    if not isinstance(steps, list):
        raise RegistryError(f"{where}.prepare: a list of commands, got {steps!r}")
    port = env.get(f"{name.upper()}_PORT")  # the local runner's override, as for every port
    return Service(
        name=name,
        dir=str(entry["dir"]),
        port=int(port) if port else _integer(entry["port"], f"{where}.port"),
        api=str(entry["api"]),
        publishes=_strings(entry["publishes"], f"{where}.publishes"),
        consumes=_strings(entry["consumes"], f"{where}.consumes"),
        prepare=tuple(_strings(step, f"{where}.prepare") for step in steps),
        fuzz=_integer(entry["fuzz"], f"{where}.fuzz"),
    )


def load_services(
    path: Path = REGISTRY, env: Mapping[str, str] | None = None
) -> dict[str, Service]:
    """name -> Service, in the file's order; ``<NAME>_PORT`` in ``env`` (default: this
    process's environment) overrides a port. Raises RegistryError on a malformed entry."""
    document = tomllib.loads(path.read_text())
    entries = document.get("services")
    if not isinstance(entries, dict) or not entries:
        raise RegistryError(f"{path}: no [services.<name>] entries")
    environ = os.environ if env is None else env
    return {name: _service(name, entry, environ) for name, entry in entries.items()}


def main(argv: list[str]) -> int:
    if argv not in (["dirs"], ["names"]):
        print("usage: registry.py dirs|names", file=sys.stderr)
        return 2
    services = load_services().values()
    print(" ".join(s.dir if argv == ["dirs"] else s.name for s in services))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
