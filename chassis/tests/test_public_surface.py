"""The public surface the README promises: every module declares ``__all__``, and every name
in it exists (private names are underscored and never in it)."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import pytest

import chassis

# Django's discovery modules: what they define is found by name, not imported by services.
WITHOUT_ALL = ("migrations", "management.commands.")
# Needs django.contrib.admin, which the test project does not install: read, not imported.
NOT_IMPORTABLE = {"chassis.events.admin"}


def modules() -> list[str]:
    names = ["chassis"]
    for info in pkgutil.walk_packages(chassis.__path__, "chassis."):
        if not any(part in info.name for part in WITHOUT_ALL) and not info.ispkg:
            names.append(info.name)
    return sorted(names)


def test_the_public_modules_are_found():
    assert {"chassis.settings", "chassis.conf", "chassis.events.outbox"} <= set(modules())


def declared(name: str) -> tuple[list[str], set[str]]:
    """A module's ``__all__`` and the names it defines."""
    if name in NOT_IMPORTABLE:
        spec = importlib.util.find_spec(name)
        assert spec is not None
        assert spec.origin is not None
        tree = ast.parse(Path(spec.origin).read_text())
        defined = {n.name for n in tree.body if isinstance(n, ast.ClassDef | ast.FunctionDef)}
        for node in tree.body:
            if isinstance(node, ast.Assign) and node.targets[0].id == "__all__":  # type: ignore[attr-defined]
                return ast.literal_eval(node.value), defined
        return [], defined
    module = importlib.import_module(name)
    return list(getattr(module, "__all__", [])), {n for n, _ in inspect.getmembers(module)}


@pytest.mark.parametrize("name", modules())
def test_every_module_declares_its_public_names(name):
    public, defined = declared(name)

    assert public, f"{name} has no __all__"
    assert sorted(set(public) - defined) == []
    assert [n for n in public if n.startswith("_") and n != "__version__"] == []
    assert len(public) == len(set(public))
