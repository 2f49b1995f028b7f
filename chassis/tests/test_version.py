"""The version names one content: changing the chassis without a new version fails here.

See fingerprint.py for why, and for the steps of a release."""

from __future__ import annotations

import re
from pathlib import Path

import chassis
from fingerprint import ROOT, content_hash, current_version, recorded


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def test_the_content_is_the_one_recorded_for_this_version():
    versions = dict(recorded())

    assert current_version() in versions, (
        f"no fingerprint for {current_version()}: run `make fingerprint` (see fingerprint.py)"
    )
    assert versions[current_version()] == content_hash(), (
        f"the chassis changed since {current_version()} was recorded: bump the version, add "
        "a CHANGELOG entry and run `make fingerprint` (see fingerprint.py)"
    )


def test_the_recorded_versions_only_go_up_and_the_last_is_this_one():
    versions = [version for version, _ in recorded()]

    assert versions == sorted(set(versions), key=version_key)
    assert versions[-1] == current_version()


def test_the_package_and_the_changelog_name_this_version():
    changelog = (ROOT / "CHANGELOG.md").read_text()

    assert chassis.__version__ == current_version()
    releases = re.findall(r"^## \[(\d+\.\d+\.\d+)\] - \d{4}-\d{2}-\d{2}$", changelog, re.M)
    assert releases[0] == current_version()


def test_the_fingerprint_covers_the_package_and_the_dependencies(tmp_path: Path):
    copy = tmp_path / "chassis"
    (copy / "src" / "chassis").mkdir(parents=True)
    (copy / "src" / "chassis" / "a.py").write_text("A = 1\n")
    (copy / "pyproject.toml").write_text('[project]\nversion = "1.0.0"\ndependencies = []\n')
    before = content_hash(copy)

    (copy / "pyproject.toml").write_text('[project]\nversion = "1.0.1"\ndependencies = []\n')
    assert content_hash(copy) == before  # the version line alone is not content
    (copy / "src" / "chassis" / "a.py").write_text("A = 2\n")
    assert content_hash(copy) != before
    (copy / "src" / "chassis" / "a.py").write_text("A = 1\n")
    (copy / "pyproject.toml").write_text('[project]\nversion = "1.0.1"\ndependencies = ["x"]\n')
    assert content_hash(copy) != before
