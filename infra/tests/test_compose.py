"""infra/compose.yaml, offline: valid against the compose specification, and true to the
services that exist (infra/services.toml), their images and their .env.example.

Compose cannot run on the machines the suite runs on (no image registry, no compose plugin):
test_containers.py runs the same images with ``docker run``; this holds the file to them.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import REGISTRY, ROOT

COMPOSE = ROOT / "infra" / "compose.yaml"
OVERRIDE = ROOT / "infra" / "compose.haproxy.yaml"
ROLES = ("migrate", "web", "worker", "beat")
SERVERS = {"postgres", "rabbitmq", "redis"}
WEB_PORT = "8000"  # GUNICORN_BIND in the images (the Dockerfiles' ENV)
INTERPOLATED = re.compile(r"\$\{[A-Z_]+:\?[^}]*\}")

sys.path.insert(0, str(ROOT / "infra" / "containers"))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())  # anchors and merge keys resolved, as compose does


def env_example(service: str) -> set[str]:
    text = (ROOT / REGISTRY[service].dir / ".env.example").read_text()
    return {line.split("=", 1)[0] for line in text.splitlines() if line and line[0] != "#"}


def check_schema(*paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            str(ROOT / "var/tools/bin/check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_compose_and_its_override_validate_against_the_compose_specification(
    tmp_path: Path,
) -> None:
    valid = check_schema(COMPOSE, OVERRIDE)
    assert valid.returncode == 0, valid.stdout + valid.stderr
    # The validator is live: a misspelt key is refused.
    broken = tmp_path / "compose.yaml"
    broken.write_text(COMPOSE.read_text().replace("    healthcheck:", "    healthchek:", 1))
    assert check_schema(broken).returncode == 1


def test_compose_runs_every_registered_service_as_migrate_web_worker_and_beat(
    compose: dict[str, Any],
) -> None:
    wanted = {f"{name}-{role}" for name in REGISTRY for role in ROLES} | SERVERS | {"kong"}
    assert set(compose["services"]) == wanted


@pytest.mark.parametrize("service", list(REGISTRY))
def test_a_service_runs_from_its_image_confined_after_its_migration(
    compose: dict[str, Any], service: str
) -> None:
    services = compose["services"]
    migrate = services[f"{service}-migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"] == {s: {"condition": "service_healthy"} for s in SERVERS}
    for role in ROLES:
        spec = services[f"{service}-{role}"]
        assert spec["image"] == f"platform/{REGISTRY[service].dir}:latest"
        assert spec["user"] == "10001:10001"
        assert (spec["read_only"], spec["cap_drop"]) == (True, ["ALL"])
        assert spec["security_opt"] == ["no-new-privileges:true"]
        assert "ports" not in spec  # only the gateway is published
        if role != "migrate":
            assert spec["depends_on"][f"{service}-migrate"] == {
                "condition": "service_completed_successfully"
            }
            assert spec["healthcheck"]["test"], role
    worker = services[f"{service}-worker"]
    assert f"{service}@%h" in worker["command"]
    assert f"--destination {service}@$$HOSTNAME" in worker["healthcheck"]["test"][1]
    beat = services[f"{service}-beat"]
    assert beat["command"][:4] == ["celery", "-A", "config", "beat"]
    assert "deploy" not in beat  # one beat per service: never scaled


@pytest.mark.parametrize("service", list(REGISTRY))
def test_a_service_gets_only_variables_its_env_example_documents(
    compose: dict[str, Any], service: str
) -> None:
    documented = env_example(service)
    required = {"SECRET_KEY", "DATABASE_URL", "CELERY_BROKER_URL", "ALLOWED_HOSTS", "REDIS_URL"}
    required |= {"JWKS_URL", "USERS_TOKEN_URL", "CACHE_KEY_PREFIX", "VAR_DIR"}
    for role in ROLES:
        environment = compose["services"][f"{service}-{role}"]["environment"]
        assert sorted(set(environment) - documented) == [], role
        assert sorted(required - set(environment)) == [], role
        # Its own database and role, its own broker user (the chassis's BROKER_USER_FORMAT,
        # "{vhost}.{service}") in the vhost compose_prepare.py defines; no literal secret.
        database = f"postgres://{service}:${{{service.upper()}_DB_PASSWORD:?}}@postgres:5432/"
        assert environment["DATABASE_URL"] == database + service
        broker = environment["CELERY_BROKER_URL"]
        assert broker.startswith(f"amqp://platform.{service}:${{{service.upper()}_BROKER_")
        assert broker.endswith("@rabbitmq:5672/platform")
        assert INTERPOLATED.fullmatch(environment["SECRET_KEY"])
        scratch = "/tmp/var"  # noqa: S108 - the container's tmpfs: migrate's static files
        assert environment["VAR_DIR"] == (scratch if role == "migrate" else "/app/var")
    users = compose["services"]["users-web"]["environment"]
    assert INTERPOLATED.fullmatch(users["JWT_KEYS"])


def test_the_migrations_run_the_registry_prepare_steps_that_need_no_local_files(
    compose: dict[str, Any],
) -> None:
    for name, spec in REGISTRY.items():
        command = compose["services"][f"{name}-migrate"]["command"]
        assert command[:3] == ["python", "manage.py", "prepare_service"]
        steps = [command[i + 1] for i, arg in enumerate(command) if arg == "--step"]
        # Keys and the demo staff password ({var}) come from compose_prepare.py instead.
        wanted = [shlex.join(step) for step in spec.prepare if not any("{var}" in a for a in step)]
        assert steps == wanted, name


def test_kong_loads_the_rendered_file_and_reaches_every_web_service_by_its_kong_name(
    compose: dict[str, Any],
) -> None:
    kong = compose["services"]["kong"]
    assert kong["image"].startswith("kong:3.9")
    assert kong["environment"]["KONG_DATABASE"] == "off"
    assert kong["environment"]["KONG_DECLARATIVE_CONFIG"] == "/kong/kong.yml"
    assert "../var/compose/gateway/kong.yml:/kong/kong.yml:ro" in kong["volumes"]
    assert kong["ports"] == ["127.0.0.1:8000:8000", "127.0.0.1:8100:8100"]
    source = yaml.safe_load((ROOT / "gateway-config" / "kong.yml").read_text())
    urls = {s["name"]: s["url"] for s in source["services"]}
    for name, spec in REGISTRY.items():
        web = compose["services"][f"{name}-web"]
        assert web["networks"]["default"]["aliases"] == [spec.dir]
        dockerfile = (ROOT / spec.dir / "Dockerfile").read_text()
        assert f"GUNICORN_BIND=0.0.0.0:{WEB_PORT}" in dockerfile
        assert urls[spec.dir] == f"http://{spec.dir}:{WEB_PORT}"
        assert f"http://127.0.0.1:{WEB_PORT}/readyz" in web["healthcheck"]["test"][-1]
        assert kong["depends_on"][f"{name}-web"] == {"condition": "service_healthy"}
    override = yaml.safe_load(OVERRIDE.read_text())
    assert set(override["services"]) == {"kong"}  # swaps the gateway only


def test_postgres_and_rabbitmq_get_one_account_per_service(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]["environment"]
    assert postgres["PLATFORM_SERVICES"].split() == list(REGISTRY)
    for name in REGISTRY:
        assert INTERPOLATED.fullmatch(postgres[f"{name.upper()}_DB_PASSWORD"])

    from compose_prepare import broker_definitions  # the definitions RabbitMQ loads
    from runner import broker_permissions

    passwords = {f"{name.upper()}_BROKER_PASSWORD": f"pw-{name}" for name in REGISTRY}
    definitions = broker_definitions(passwords)
    assert [u["name"] for u in definitions["users"]] == [f"platform.{n}" for n in REGISTRY]
    assert definitions["vhosts"] == [{"name": "platform"}]
    for name, topic in zip(REGISTRY, definitions["topic_permissions"], strict=True):
        perms = broker_permissions(name)
        assert (topic["exchange"], topic["write"]) == ("platform.events", perms["topic_write"])
    assert "pw-users" not in json.dumps(definitions)  # hashes only
