#!/usr/bin/env python3
"""The root pipelines: one per part, copied from the part's own workflow.

GitHub runs workflows only from the repository root's ``.github/workflows/``. Each part keeps
its own pipeline (``<part>/.github/workflows/ci.yml``: path-filtered, its ``make ci``, its
image) for the day it is split into its own repository; in the monorepo, its copy at the root
(``.github/workflows/<part>.yml``) is what runs. The part's file is the source:

    python3 infra/ci/workflows.py sync    # write the root copies (make workflows)
    python3 infra/ci/workflows.py check   # exit 1 naming the copies that differ

Standard library only. The parts are the gateway's renderer, the chassis and every service of
the registry (infra/services.toml).
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "infra" / "local"))
from registry import load_services  # noqa: E402 - the runner's directory, just added

HEADER = (
    "# Copied from {source} by `make workflows`: GitHub runs workflows\n"
    "# only from the repository root. Edit the part's own file, then `make workflows`.\n"
)


def parts() -> list[str]:
    return ["chassis", "gateway-config", *(s.dir for s in load_services().values())]


def rendered() -> dict[Path, str]:
    """Root workflow path -> its content, for every part."""
    out = {}
    for part in parts():
        source = Path(part) / ".github" / "workflows" / "ci.yml"
        text = (ROOT / source).read_text()
        out[ROOT / ".github" / "workflows" / f"{part}.yml"] = (
            HEADER.format(source=source.as_posix()) + text
        )
    return out


def main(argv: list[str]) -> int:
    if argv not in (["sync"], ["check"]):
        print(__doc__, file=sys.stderr)
        return 2
    stale = [
        path for path, text in rendered().items() if not path.exists() or path.read_text() != text
    ]
    if argv == ["check"]:
        for path in stale:
            print(f"{path.relative_to(ROOT)} differs from its part's workflow: make workflows")
        return 1 if stale else 0
    for path in stale:
        path.write_text(rendered()[path])
        print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
