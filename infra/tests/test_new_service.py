"""`make new-service NAME=payments PORT=8104` in a copy of the repository: a service that passes
its own pipeline, is in the registry and is routed by the gateway, and is the scaffold's
rendering like the others."""

from __future__ import annotations

import json
import shutil
import tomllib
from pathlib import Path

import jwt
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa

from standalone import (
    ROOT,
    chassis_wheel,
    clean_environment,
    copy_tracked,
    make_venv,
    run,
    run_pipeline,
)

JWT_ROUTE_PLUGIN = {
    "name": "jwt",
    "config": {
        "key_claim_name": "kid",
        "claims_to_verify": ["exp"],
        "header_names": ["authorization"],
        "uri_param_names": [],
        "cookie_names": [],
        "run_on_preflight": False,
        "maximum_expiration": 0,
    },
}


@pytest.fixture(scope="module")
def copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's tracked files and the chassis wheel, after `make new-service`."""
    root = tmp_path_factory.mktemp("repository")
    copy_tracked(".", root)
    (root / "var" / "wheels").mkdir(parents=True)
    shutil.copy2(chassis_wheel(), root / "var" / "wheels")
    run(["make", "new-service", "NAME=payments", "PORT=8104"], cwd=root, env=clean_environment())
    return root


def test_the_new_service_passes_its_own_pipeline(copy: Path) -> None:
    part = copy / "payments-service"
    make_venv(part, copy / "var" / "wheels")

    output = run_pipeline(part, "payments")

    assert "9 passed" in output


def test_the_new_service_is_registered(copy: Path) -> None:
    services = tomllib.loads((copy / "infra" / "services.toml").read_text())["services"]

    assert list(services)[-1] == "payments"
    assert services["payments"] == {
        "dir": "payments-service",
        "port": 8104,
        "api": "/api/v1/payments/",
        "publishes": [],
        "consumes": [],
        "prepare": [],
        "fuzz": 20,
    }


def test_the_new_service_is_routed_by_the_gateway(copy: Path) -> None:
    kong = yaml.safe_load((copy / "gateway-config" / "kong.yml").read_text())
    service = kong["services"][-1]
    routes = {route["name"]: route for route in service["routes"]}

    assert (service["name"], service["url"]) == ("payments-service", "http://payments-service:8000")
    assert routes["payments-api"]["paths"] == ["/api/v1/payments/"]
    assert routes["payments-api"]["plugins"][0] == JWT_ROUTE_PLUGIN
    assert routes["payments-public"]["paths"] == [
        "/api/v1/payments/schema/",
        "/docs/payments/",
        "/admin/payments/",
        "/static/payments/",
    ]
    # The local gateway reproduces every route, and the gateway's own suite (renderer and
    # HAProxy conformance) passes with the new service in kong.yml.
    venv = ROOT / "gateway-config" / ".venv" / "bin"
    gateway = copy / "gateway-config"
    checked = run(
        [venv / "python", "-m", "gateway", "check", "--kong", "kong.yml"],
        cwd=gateway,
        env=clean_environment(),
    )
    assert checked == "kong.yml: 11 routes, all reproduced locally\n"
    run(["make", "validate", "test", f"VENV={venv}"], cwd=gateway, env=clean_environment())


def test_the_new_service_is_the_scaffold_rendered(copy: Path) -> None:
    output = run(
        ["python3", "infra/scaffold/render.py", "check"], cwd=copy, env=clean_environment()
    )

    assert output == ""


def test_a_second_service_on_a_taken_name_or_port_is_refused(copy: Path) -> None:
    for name, port in (("payments", 8105), ("billing", 8104)):
        refused = run(
            ["python3", "infra/scaffold/render.py", "new", name, str(port)],
            cwd=copy,
            env=clean_environment(),
            expect_failure=True,
        )
        assert refused == "payments (port 8104) is already in services.toml\n"


def test_the_new_service_has_its_root_pipeline_and_kubernetes_objects(
    copy: Path, tmp_path: Path
) -> None:
    assert (
        run(["python3", "infra/ci/workflows.py", "check"], cwd=copy, env=clean_environment()) == ""
    )
    assert (copy / ".github/workflows/payments-service.yml").is_file()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}))
    python = ROOT / "gateway-config" / ".venv" / "bin" / "python"
    k8s = copy / "infra" / "k8s"
    run([python, k8s / "kong_config.py", "--jwks", jwks], cwd=copy, env=clean_environment())
    for overlay, database in (("dev", "StatefulSet"), ("prod", "Service")):
        built = run(
            ["kubectl", "kustomize", k8s / "overlays" / overlay], cwd=copy, env=clean_environment()
        )
        names = {(d["kind"], d["metadata"]["name"]) for d in yaml.safe_load_all(built) if d}
        assert {
            ("Deployment", "payments-web"),
            ("Deployment", "payments-worker"),
            ("Deployment", "payments-beat"),
            ("Job", "payments-migrate"),
            ("Service", "payments-service"),  # kong.yml's upstream: http://payments-service:8000
            ("PodDisruptionBudget", "payments-web"),
            ("NetworkPolicy", "payments-web"),
            (database, "payments-postgres"),
        } <= names, overlay
