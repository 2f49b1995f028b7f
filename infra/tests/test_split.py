"""Each service can leave this repository tomorrow: one service's tracked files and the chassis
wheel it pins, alone in an empty directory (no other file of this repository, no ../shared),
install from the service's own lock and pass the service's own `make ci` there.

The services' pipelines run side by side (each in its own directory, with its own databases
and vhost): one pipeline leaves a core idle about half of the time (waiting on PostgreSQL, on
its subprocesses), so together they take about half as long as one after the other."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import REGISTRY
from standalone import chassis_wheel, copy_tracked, make_venv, run_pipeline

# Three pipelines share the machine: each may take up to three times as long as alone.
SIDE_BY_SIDE_TIMEOUT = 2700


def alone(name: str, tmp_path: Path) -> str:
    """The service's tracked files and the chassis wheel in ``tmp_path``, its venv, its
    `make ci`; the pipeline's output."""
    directory = REGISTRY[name].dir
    copy_tracked(directory, tmp_path)
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    shutil.copy2(chassis_wheel(), wheels)
    part = tmp_path / directory
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([directory, "wheels"])
    make_venv(part, wheels)
    return run_pipeline(part, name, timeout=SIDE_BY_SIDE_TIMEOUT)


@pytest.fixture(scope="module")
def pipelines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Future[str]]]:
    """Every service's pipeline, started together when the first test asks for one."""
    with ThreadPoolExecutor(max_workers=len(REGISTRY), thread_name_prefix="pipeline") as pool:
        yield {
            name: pool.submit(alone, name, tmp_path_factory.mktemp(f"alone-{name}"))
            for name in sorted(REGISTRY)
        }


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_the_service_alone_passes_its_own_pipeline(
    name: str, pipelines: dict[str, Future[str]]
) -> None:
    output = pipelines[name].result()

    assert re.search(r"^=+ \d+ passed(, \d+ skipped)? in ", output, re.MULTILINE), output[-3000:]
