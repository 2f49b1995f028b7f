"""Render the services' boilerplate from one scaffold (infra/scaffold/).

    render.py sync            re-render every service of infra/services.toml (make scaffold-sync)
    render.py check           exit 1 with a diff when a service's files differ from the scaffold
    render.py new NAME PORT   create NAME-service/ from the scaffold (make new-service)

templates/ holds the files every service carries the same (with the service's name, directory
and app put in): a service's copy is exactly the rendered template. Two files are only partly
rendered, split by a marker line: pyproject.toml's tool sections (the service's own
`[project]` with its dependencies stays above) and .env.example's common part (its own
variables follow). new/ holds the first version of the files a service then owns (settings,
its app, its tests): rendered once, by `new`. Where a service truly differs, hooks.toml gives
the template a named variable rather than the service a copy.
"""

from __future__ import annotations

import argparse
import difflib
import string
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "infra" / "local"))
from registry import REGISTRY as REGISTRY  # noqa: E402 - the runner's directory (re-exported)
from registry import load_services  # noqa: E402 - the runner's directory, just added

SCAFFOLD = Path(__file__).resolve().parent
TEMPLATES = SCAFFOLD / "templates"
# Partly rendered files: "head" = the rendered part, the marker, the service's own part;
# "tail" = the service's own part, the marker, the rendered part.
PARTS = {"pyproject.toml": "tail", ".env.example": "head"}
RENDERED = "rendered from infra/scaffold (make scaffold-sync)"
MARKERS = {
    "head": f"# ---- above: {RENDERED}; below: this service's",
    "tail": f"# ---- above: this service's; below: {RENDERED}",
}


class ScaffoldTemplate(string.Template):
    # `$` is Make's, the shell's and GitHub Actions' ($(VENV), ${{ github.sha }}).
    delimiter = "%%"


@dataclass(frozen=True)
class Service:
    name: str  # the registry's key: URL paths, database, Celery app, gunicorn's name
    dir: str
    port: int
    app: str  # the Django app's package: the name, in every service so far

    def variables(self) -> dict[str, str]:
        hooks = tomllib.loads((SCAFFOLD / "hooks.toml").read_text()).get(self.name, {})
        imports = "".join(f"\n{line}\n" for line in hooks.get("urls_imports", []))
        routes = "".join(f"    {route},\n" for route in hooks.get("urls_routes", []))
        return {
            "name": self.name,
            "dir": self.dir,
            "port": str(self.port),
            "app": self.app,
            "api_urls": hooks.get("api_urls", f"{self.app}.urls"),
            "urls_imports": imports,
            "urls_routes": routes,
        }


def registry() -> list[Service]:
    """The registered services (infra/local/registry.py reads and checks the file)."""
    return [
        Service(name=service.name, dir=service.dir, port=service.port, app=service.name)
        for service in load_services(env={}).values()
    ]


def render(template: Path, service: Service) -> str:
    return ScaffoldTemplate(template.read_text()).substitute(service.variables())


def templates(base: Path = TEMPLATES) -> dict[str, Path]:
    """Relative path in a service -> its template (`.tmpl` dropped)."""
    return {
        str(t.relative_to(base)).removesuffix(".tmpl"): t
        for t in sorted(base.rglob("*.tmpl"), key=str)
    }


def own_part(relpath: str, current: str) -> str:
    """The service's own part of a partly rendered file ("" in a new one)."""
    mode = PARTS[relpath]
    marker = MARKERS[mode] + "\n"
    if marker not in current:
        return ""
    before, after = current.split(marker, 1)
    return after if mode == "head" else before


def assemble(relpath: str, rendered: str, own: str) -> str:
    """A service's file: the rendering, around the service's own part if the file has one."""
    mode = PARTS.get(relpath)
    if mode is None:
        return rendered
    marker = MARKERS[mode] + "\n"
    return rendered + marker + own if mode == "head" else own + marker + rendered


def expected(relpath: str, rendered: str, current: str) -> str:
    """What the service's file must be, given what it is now (its own part is kept)."""
    return assemble(relpath, rendered, own_part(relpath, current) if relpath in PARTS else "")


def drift(service: Service, root: Path = ROOT) -> dict[str, tuple[str, str]]:
    """relpath -> (current, expected) for every file that differs from the scaffold."""
    found = {}
    for relpath, template in templates().items():
        path = root / service.dir / relpath
        current = path.read_text() if path.exists() else ""
        want = expected(relpath, render(template, service), current)
        if current != want:
            found[relpath] = (current, want)
    return found


def unified_diff(service: Service, relpath: str, current: str, want: str) -> str:
    return "".join(
        difflib.unified_diff(
            current.splitlines(keepends=True),
            want.splitlines(keepends=True),
            f"{service.dir}/{relpath} (in the repository)",
            f"{service.dir}/{relpath} (rendered from infra/scaffold)",
        )
    )


def sync(root: Path = ROOT) -> list[str]:
    written = []
    for service in registry():
        for relpath, (_current, want) in drift(service, root).items():
            path = root / service.dir / relpath
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(want)
            written.append(f"{service.dir}/{relpath}")
    return written


def check() -> int:
    diffs = [
        unified_diff(service, relpath, current, want)
        for service in registry()
        for relpath, (current, want) in drift(service).items()
    ]
    if diffs:
        print("".join(diffs), end="")
        print(
            "\nThe services differ from infra/scaffold: edit the template, then make scaffold-sync"
        )
    return 1 if diffs else 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("sync", help="re-render every service")
    commands.add_parser("check", help="diff every service against the scaffold")
    new = commands.add_parser("new", help="create a service from the scaffold")
    new.add_argument("name", help="lower-case identifier: the app, URL paths, database")
    new.add_argument("port", type=int, help="its local port (make up)")
    args = parser.parse_args(argv)
    if args.command == "sync":
        for path in sync():
            print(f"rendered {path}")
        return 0
    if args.command == "check":
        return check()
    from new_service import new_service  # here: it imports this module

    new_service(args.name, args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
