"""The gateway and the services keep the same caller correlation ids.

The local gateway (gateway-config/gateway/haproxy.py, ``SAFE_CORRELATION_ID``) and the services
(chassis/src/chassis/correlation.py, ``CORRELATION_ID``) each decide whether an incoming
``X-Request-ID`` is kept. If their rules differed, an id the gateway kept could be replaced
again behind it (the echo and the services' logs would disagree), or one it should have replaced
would reach a service. Neither module is importable from here (the gateway's needs its
package, the chassis' needs Django), so their constants are read from the source: the module
level assignments that define them, evaluated alone.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from conftest import ROOT

GATEWAY = ROOT / "gateway-config" / "gateway" / "haproxy.py"
CHASSIS = ROOT / "chassis" / "src" / "chassis" / "correlation.py"


def constants(path: Path, *names: str) -> dict[str, object]:
    """The module-level constants ``names`` of the file ``path``, from their assignments (which
    may use each other, nothing else)."""
    tree = ast.parse(path.read_text())
    wanted = [
        node
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(isinstance(target, ast.Name) and target.id in names for target in node.targets)
    ]
    namespace: dict[str, object] = {}
    exec(compile(ast.Module(body=wanted, type_ignores=[]), str(path), "exec"), {}, namespace)  # noqa: S102 - the repository's own constants
    assert set(names) <= namespace.keys(), f"{path} no longer defines {names}"
    return namespace


@pytest.fixture(scope="module")
def rules() -> tuple[re.Pattern[str], re.Pattern[str]]:
    """The gateway's and the services' correlation id rules, as full-match patterns."""
    gateway = constants(GATEWAY, "CORRELATION_ID_MAX_LENGTH", "SAFE_CORRELATION_ID")
    chassis = constants(CHASSIS, "CORRELATION_ID_MAX_LENGTH", "CORRELATION_ID")
    gateway_rule = str(gateway["SAFE_CORRELATION_ID"])
    assert gateway_rule.startswith("^")  # anchored: HAProxy's -m reg must match it whole
    assert gateway_rule.endswith("$")
    return re.compile(gateway_rule[1:-1]), re.compile(str(chassis["CORRELATION_ID"]))


def test_gateway_and_services_share_the_correlation_id_bound() -> None:
    """Same maximum length, and it is the outbox column's (varchar(100))."""
    gateway = constants(GATEWAY, "CORRELATION_ID_MAX_LENGTH")
    chassis = constants(CHASSIS, "CORRELATION_ID_MAX_LENGTH")
    assert gateway["CORRELATION_ID_MAX_LENGTH"] == chassis["CORRELATION_ID_MAX_LENGTH"] == 100


def test_gateway_and_services_share_the_correlation_id_charset(
    rules: tuple[re.Pattern[str], re.Pattern[str]],
) -> None:
    """Every single character (ASCII, Latin-1, a few beyond) is kept by both or by neither."""
    gateway, chassis = rules
    for code in [*range(256), 0x2028, 0xFF0D, 0x1F600]:
        char = chr(code)
        assert bool(gateway.fullmatch(char)) == bool(chassis.fullmatch(char)), repr(char)


@pytest.mark.parametrize("length", [0, 1, 99, 100, 101, 200])
def test_gateway_and_services_agree_on_the_correlation_id_length(
    rules: tuple[re.Pattern[str], re.Pattern[str]], length: int
) -> None:
    """Ids around the bound: both keep, or both replace."""
    gateway, chassis = rules
    value = ("0f8fad5b-d9cb.4:_" * 20)[:length]
    assert bool(gateway.fullmatch(value)) == bool(chassis.fullmatch(value))
    assert bool(gateway.fullmatch(value)) == (1 <= length <= 100)
