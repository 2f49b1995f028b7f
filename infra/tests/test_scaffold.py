"""The services' boilerplate is the scaffold's rendering (infra/scaffold), so the copies cannot
drift: a change is made once, in a template, and `make scaffold-sync` carries it everywhere."""

from __future__ import annotations

import sys
import tomllib

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "infra" / "scaffold"))
import render  # infra/scaffold is a folder of scripts, not a package

SERVICES = {service.name: service for service in render.registry()}


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_the_service_is_the_scaffold_rendered(name: str) -> None:
    service = SERVICES[name]

    drift = render.drift(service)

    diffs = "".join(render.unified_diff(service, path, *texts) for path, texts in drift.items())
    if drift:
        pytest.fail(
            f"{service.dir} differs from infra/scaffold/templates. Edit the template (or "
            f"infra/scaffold/hooks.toml), not the copy, then run `make scaffold-sync`:\n{diffs}",
            pytrace=False,
        )


def test_the_rendered_files_are_the_boilerplate_named_in_the_issue() -> None:
    assert sorted(render.templates()) == [
        ".env.example",
        ".github/workflows/ci.yml",
        "Dockerfile",
        "Makefile",
        "config/__init__.py",
        "config/celery.py",
        "config/urls.py",
        "config/wsgi.py",
        "gunicorn.conf.py",
        "manage.py",
        "pyproject.toml",
        "tests/settings.py",
    ]


def test_hooks_name_only_registered_services() -> None:
    hooks = tomllib.loads((ROOT / "infra" / "scaffold" / "hooks.toml").read_text())

    assert set(hooks) <= set(SERVICES)


def test_a_partly_rendered_file_keeps_the_services_own_part() -> None:
    own = '[project]\nname = "x-service"\n\n'
    current = own + render.MARKERS["tail"] + "\n[tool.stale]\n"

    want = render.expected("pyproject.toml", "[tool.ruff]\n", current)

    assert want == own + render.MARKERS["tail"] + "\n[tool.ruff]\n"


def test_the_template_placeholders_do_not_clash_with_make_or_actions() -> None:
    service = SERVICES["users"]

    makefile = render.render(render.TEMPLATES / "Makefile.tmpl", service)
    workflow = render.render(render.TEMPLATES / ".github/workflows/ci.yml.tmpl", service)

    assert "$(VENV)/pytest" in makefile
    assert "images.py build users --version ${{ github.sha }}" in workflow
