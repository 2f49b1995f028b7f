"""CONFORMANCE.md stays true: the tests it names exist, every row decides, and every
conformance test that names a Kong spec file is in it.

The table lists each case of Kong 3.9.1's specs (see its header) with the test that ports it
or why it does not apply. A renamed or deleted test, or a port the table does not mention,
fails here.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
TABLE = TESTS.parent / "CONFORMANCE.md"
NAMED = re.compile(r"`(test_\w+\.py)::(test_\w+)`")
ROW = re.compile(r"^\| (\d+) \| (.+?) \| (.+) \|$")
VERDICTS = ("`test_", "n/a: ", "differs: ", "partly: ")
SPEC_FILE = re.compile(r"\b\d\d-[\w-]+_spec\.lua\b")


@cache
def defined_tests(filename: str) -> frozenset[str]:
    """The module-level test functions of ``tests/<filename>`` (empty if there is none)."""
    path = TESTS / filename
    if not path.is_file():
        return frozenset()
    tree = ast.parse(path.read_text())
    return frozenset(
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    )


def table_rows() -> list[tuple[str, str, str]]:
    return [
        (match[1], match[2], match[3])
        for line in TABLE.read_text().splitlines()
        if (match := ROW.match(line))
    ]


def test_the_table_has_its_cases() -> None:
    """391 cases of tag 3.9.1 at the time of writing; a table cut short would pass the
    other checks."""
    assert len(table_rows()) >= 391


@pytest.mark.parametrize(
    ("filename", "name"), sorted(set(NAMED.findall(TABLE.read_text()))), ids=str
)
def test_every_named_test_exists(filename: str, name: str) -> None:
    assert name in defined_tests(filename), f"CONFORMANCE.md names {filename}::{name}"


def test_every_row_decides() -> None:
    undecided = [
        (line, case) for line, case, verdict in table_rows() if not verdict.startswith(VERDICTS)
    ]
    assert undecided == []
    unexplained = [
        (line, case)
        for line, case, verdict in table_rows()
        if verdict.startswith(("n/a: ", "differs: ")) and len(verdict) < 20
    ]
    assert unexplained == []


def test_every_spec_port_is_in_the_table() -> None:
    """A conformance test whose docstring names a Kong spec file is a port: the table must
    say which case it covers."""
    named = set(NAMED.findall(TABLE.read_text()))
    missing = []
    for path in sorted(TESTS.glob("test_conformance_*.py")):
        for node in ast.parse(path.read_text()).body:
            if not isinstance(node, ast.FunctionDef) or not node.name.startswith("test_"):
                continue
            doc = ast.get_docstring(node) or ""
            if SPEC_FILE.search(doc) and (path.name, node.name) not in named:
                missing.append(f"{path.name}::{node.name}")
    assert missing == []
