"""Each service can leave this repository tomorrow: one service's tracked files and the chassis
wheel it pins, alone in an empty directory (no other file of this repository, no ../shared),
install from the service's own lock and pass the service's own `make ci` there."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from conftest import REGISTRY
from standalone import chassis_wheel, copy_tracked, make_venv, run_pipeline


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_the_service_alone_passes_its_own_pipeline(name: str, tmp_path: Path) -> None:
    directory = REGISTRY[name].dir
    copy_tracked(directory, tmp_path)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    shutil.copy2(chassis_wheel(), wheels)
    part = tmp_path / directory
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([directory, "wheels"])

    make_venv(part, wheels)
    output = run_pipeline(part, name)

    assert re.search(r"^=+ \d+ passed(, \d+ skipped)? in ", output, re.MULTILINE), output[-3000:]
