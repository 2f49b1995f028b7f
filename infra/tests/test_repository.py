"""Repository hygiene: configuration documented, no key material tracked, pipelines valid."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from conftest import REGISTRY, ROOT, SERVICES

ENV_READ = re.compile(r"""env\.(?:str|bool|int|list|json|db_url)\(\s*"([A-Z0-9_]+)\"""")
ENV_READ_OS = re.compile(r"""os\.environ\.get\(\s*"([A-Z0-9_]+)\"""")


def variables_read(*paths) -> set[str]:
    found: set[str] = set()
    for path in paths:
        text = path.read_text()
        found |= set(ENV_READ.findall(text)) | set(ENV_READ_OS.findall(text))
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_env_example_lists_every_variable_the_service_reads(service: str) -> None:
    part = ROOT / service
    settings = part / "config/settings.py"
    mails = "email_settings(" in settings.read_text()  # chassis.mail's, for services that mail
    read = variables_read(
        ROOT / "chassis/src/chassis/conf.py",
        ROOT / "chassis/src/chassis/gunicorn_conf.py",
        *([ROOT / "chassis/src/chassis/mail.py"] if mails else []),
        ROOT / "chassis/src/chassis/tracing.py",
        settings,
    )
    documented = {
        line.split("=", 1)[0]
        for line in (part / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    }
    assert read, "no environment reads found: the pattern is out of date"
    assert sorted(read - documented) == []


def test_no_private_key_material_is_tracked() -> None:
    assert tracked_lines_matching("-----BEGIN ([A-Z]+ )?PRIVATE KEY-----") == ""


def test_every_pipeline_validates_against_the_github_workflow_schema() -> None:
    workflows = sorted(ROOT.glob(".github/workflows/*.yml")) + sorted(
        ROOT.glob("*/.github/workflows/*.yml")
    )
    parts = sorted(["chassis", "gateway-config", *SERVICES])  # each its own pipeline
    assert [p.relative_to(ROOT).as_posix() for p in workflows] == [
        *sorted(
            [".github/workflows/platform.yml", *(f".github/workflows/{part}.yml" for part in parts)]
        ),
        *(f"{part}/.github/workflows/ci.yml" for part in parts),
    ]
    check = subprocess.run(
        [
            str(ROOT / "var/tools/bin/check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            *map(str, workflows),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr


def test_each_part_pipeline_runs_from_the_root_as_its_own_file_says() -> None:
    """GitHub runs only the root's workflows: each part's copy there is its own file (the
    copy `make workflows` writes), path-filtered to the part, running its `make ci`, and for a
    service building its image from its Dockerfile (offline, from the wheelhouse: images.py)."""
    check = subprocess.run(
        ["python3", str(ROOT / "infra/ci/workflows.py"), "check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    for part in ["chassis", "gateway-config", *SERVICES]:
        workflow = yaml.safe_load((ROOT / f".github/workflows/{part}.yml").read_text())
        triggers = workflow[True]  # YAML 1.1 reads the key `on` as true
        assert triggers["pull_request"]["paths"][0] == f"{part}/**"
        assert triggers["push"]["paths"][0] == f"{part}/**"
        assert workflow["defaults"]["run"]["working-directory"] == part
        steps = [step.get("run", "") for step in workflow["jobs"]["ci"]["steps"]]
        assert "make ci" in steps
        if part in SERVICES:
            runs = [s.get("run", "") for s in workflow["jobs"]["image"]["steps"]]
            name = next(n for n, spec in REGISTRY.items() if spec.dir == part)
            build = f"python3 infra/containers/images.py build {name} "
            assert any(r.startswith(build) for r in runs), runs


def producer_schemas() -> dict[str, Path]:
    """service name -> the folder of the event schemas it owns (<dir>/<app>/event_schemas)."""
    found = {}
    for name, service in REGISTRY.items():
        folders = sorted((ROOT / service.dir).glob("*/event_schemas"))
        assert len(folders) <= 1, folders
        if folders:
            found[name] = folders[0]
    return found


def test_consumers_contract_copies_equal_the_producers_schemas() -> None:
    """Each consumer keeps copies of the event schemas it reads in tests/contracts/<producer>/
    (so it can be split out); here, in the monorepo, every copy must be the producer's file."""
    copies = sorted(ROOT.glob("*-service/tests/contracts/*/*.json"))
    assert {p.relative_to(ROOT).as_posix() for p in copies} >= {
        "catalog-service/tests/contracts/orders/order.placed.v1.json",
        "catalog-service/tests/contracts/orders/order.cancelled.v1.json",
        "orders-service/tests/contracts/catalog/stock.reserved.v1.json",
        "orders-service/tests/contracts/users/user.deactivated.v1.json",
    }
    producers = producer_schemas()
    for copy in copies:
        original = producers[copy.parent.name] / copy.name
        assert copy.read_text() == original.read_text(), copy.relative_to(ROOT)


def test_nothing_refers_to_files_outside_the_repository() -> None:
    # The repository must build and test from a clone alone: Kong's schema is vendored in
    # gateway-config/schema/, the architecture and style notes are in docs/.
    assert tracked_lines_matching(r"\.\./\.\./shared|\.\./shared/|/work/[s]hared") == ""


def tracked_lines_matching(pattern: str) -> str:
    """``git grep`` of an extended regular expression over the tracked files: file:line:text."""
    found = subprocess.run(
        ["git", "grep", "-n", "-E", "-e", pattern],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert found.returncode in (0, 1), found.stderr  # 1: nothing found
    return found.stdout


def test_the_readme_event_table_matches_the_registry() -> None:
    """README's event table (event -> producer -> consumers) is what infra/services.toml says."""
    expected = {}
    for name, service in REGISTRY.items():
        for schema in ROOT.glob(f"{service.dir}/*/event_schemas/*.v*.json"):
            event = schema.name.split(".v")[0]
            consumers = sorted(c for c, other in REGISTRY.items() if event in other.consumes)
            expected[event] = (name, consumers)
    rows = re.findall(
        r"^\| `([a-z]+\.[a-z]+)` \| (\w+) \| ([^|]+) \|", (ROOT / "README.md").read_text(), re.M
    )
    table = {
        event: (
            producer,
            sorted(c.strip() for c in consumers.split(",") if c.strip() != "none yet"),
        )
        for event, producer, consumers in rows
    }
    assert table == expected
