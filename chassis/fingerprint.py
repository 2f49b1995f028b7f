"""The chassis's content fingerprint: one line per released version in VERSION_FINGERPRINT.

The services pin the chassis by version (``platform-chassis==0.8.0``), so a version must
name one content: changing ``src/`` or the dependencies without a new version would give two
different packages one name. ``tests/test_version.py`` fails when the content no longer
matches the fingerprint recorded for the current version. After a change:

1. bump ``version`` in pyproject.toml and ``__version__`` in src/chassis/__init__.py,
2. add the release to CHANGELOG.md,
3. ``make fingerprint`` (appends the new version's line; it refuses to rewrite the line of a
   version already recorded: that version is out, bump it),
4. pin the new version in each service (pyproject.toml, then ``make lock`` there).
"""

from __future__ import annotations

import hashlib
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent
RECORD = ROOT / "VERSION_FINGERPRINT"
_VERSION_LINE = re.compile(r'^version = "[^"]*"$', re.MULTILINE)


def content_hash(root: Path = ROOT) -> str:
    """sha256 of every file of the package (paths and bytes) and of pyproject.toml without
    its version line (the dependencies are part of what a version names)."""
    digest = hashlib.sha256()
    package = root / "src" / "chassis"
    files = sorted(
        p
        for p in package.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"
    )
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    digest.update(_VERSION_LINE.sub("", (root / "pyproject.toml").read_text()).encode())
    return digest.hexdigest()


def current_version(root: Path = ROOT) -> str:
    with (root / "pyproject.toml").open("rb") as file:
        return str(tomllib.load(file)["project"]["version"])


def recorded(record: Path = RECORD) -> list[tuple[str, str]]:
    """``(version, hash)`` per line, oldest first."""
    lines = record.read_text().splitlines() if record.exists() else []
    return [(v, h) for v, h in (line.split() for line in lines if line.strip())]


def record_current() -> str:
    """Append the current version's fingerprint; an error when that version is recorded
    with another content (it was released: the change needs a new version)."""
    version, digest = current_version(), content_hash()
    known = dict(recorded())
    if known.get(version) == digest:
        return f"{version} already recorded"
    if version in known:
        raise SystemExit(
            f"platform-chassis {version} was recorded with other content: bump the version "
            "(pyproject.toml, src/chassis/__init__.py), add it to CHANGELOG.md, run again"
        )
    with RECORD.open("a") as file:
        file.write(f"{version} {digest}\n")
    return f"recorded {version} {digest}"


if __name__ == "__main__":
    print(record_current())
    sys.exit(0)
