"""Each service pins the chassis's current version, in its pyproject.toml and both locks.

The chassis's own tests hold its version to its content (chassis/fingerprint.py); this holds
the services to its version, so a chassis release is picked up by every service, on purpose
(``make lock`` in each), and a service never builds against a version nobody tested it with.
"""

from __future__ import annotations

import re
import tomllib

import pytest

from conftest import ROOT, SERVICES


def chassis_version() -> str:
    with (ROOT / "chassis/pyproject.toml").open("rb") as file:
        return str(tomllib.load(file)["project"]["version"])


@pytest.mark.parametrize("service", SERVICES)
def test_the_service_pins_the_current_chassis(service: str) -> None:
    part = ROOT / service
    with (part / "pyproject.toml").open("rb") as file:
        dependencies = tomllib.load(file)["project"]["dependencies"]
    pins = {
        name: re.findall(r"^platform-chassis==(\S+)$", (part / name).read_text(), re.M)
        for name in ("requirements.lock", "requirements-dev.lock")
    }

    wanted = chassis_version()
    assert [d for d in dependencies if d.startswith("platform-chassis")] == [
        f"platform-chassis=={wanted}"
    ]
    assert pins == {"requirements.lock": [wanted], "requirements-dev.lock": [wanted]}
