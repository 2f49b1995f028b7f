"""kong.yml and what the renderer makes of it, without running anything on the network:
schema and decK validation, credentials from the JWKS, refusals of what the local gateway
does not reproduce, and the jwt_verify rules of haproxy.cfg."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from gateway import kong
from tests.conftest import (
    HAPROXY,
    KIDS,
    KONG_SCHEMA,
    KONG_YML,
    ROOT,
    jwks_of,
    kong_document,
    kong_variant,
    plugin_of,
    render,
    route_of,
)

SCHEMA = Path(os.environ.get("KONG_SCHEMA", KONG_SCHEMA)).resolve()
BIN = Path(sys.executable).parent
# What kong.yml declares (a new service brings its own routes: `make new-service`).
SERVICES = sorted(service["name"] for service in kong_document()["services"])
ROUTES = sum(len(service["routes"]) for service in kong_document()["services"])


def run(*command: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory, jwks_file: Path) -> Path:
    """The renderer's output directory for the real kong.yml and the two-key JWKS."""
    out = tmp_path_factory.mktemp("render")
    result = render(
        kong_document(), out, jwks_file, upstream_port=8101, port=8000, status_port=8100
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"rendered {ROUTES} routes, 2 credentials into {out / 'rendered'}\n"
    return out / "rendered"


def _public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


# --- kong.yml as Kong's tools see it --------------------------------------------------------


def test_kong_yml_matches_decks_json_schema() -> None:
    result = run(BIN / "check-jsonschema", "--schemafile", SCHEMA, KONG_YML)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rendered_kong_yml_matches_decks_json_schema(rendered: Path) -> None:
    result = run(BIN / "check-jsonschema", "--schemafile", SCHEMA, rendered / "kong.yml")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("which", ["source", "rendered"])
def test_deck_validates(rendered: Path, which: str) -> None:
    path = KONG_YML if which == "source" else rendered / "kong.yml"
    result = run("deck", "validate", "-s", path)
    assert (result.returncode, result.stderr) == (0, "")


def test_check_command_accepts_kong_yml() -> None:
    result = run(sys.executable, "-m", "gateway", "check", "--kong", KONG_YML)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{KONG_YML}: {ROUTES} routes, all reproduced locally\n"


def test_haproxy_accepts_the_rendered_config(rendered: Path) -> None:
    result = run(HAPROXY, "-c", "-f", rendered / "haproxy.cfg")
    assert result.returncode == 0, result.stdout + result.stderr


# --- credentials --------------------------------------------------------------------------


def test_rendered_kong_yml_has_one_rs256_credential_per_jwks_key(
    rendered: Path, signing_keys: dict[str, rsa.RSAPrivateKey]
) -> None:
    document = yaml.safe_load((rendered / "kong.yml").read_text())
    secrets = document["consumers"][0]["jwt_secrets"]
    assert [(s["key"], s["algorithm"], s["rsa_public_key"]) for s in secrets] == [
        (kid, "RS256", _public_pem(signing_keys[kid])) for kid in KIDS
    ]
    # Everything else is kong.yml unchanged.
    document["consumers"][0]["jwt_secrets"] = []
    assert document == kong_document()


def test_no_private_material_leaves_the_renderer(rendered: Path) -> None:
    files = [path for path in rendered.rglob("*") if path.is_file()]
    assert sorted(p.relative_to(rendered).as_posix() for p in files) == [
        "haproxy.cfg",
        f"keys/{KIDS[0]}.pem",
        f"keys/{KIDS[1]}.pem",
        "kong.yml",
        "kong_errors.lua",
        "kong_metrics.lua",
    ]
    for path in files:
        assert "PRIVATE" not in path.read_text(), path


def test_a_jwks_holding_private_parameters_is_refused(
    tmp_path: Path, signing_keys: dict[str, rsa.RSAPrivateKey]
) -> None:
    jwks = jwks_of(signing_keys)
    private = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(signing_keys[KIDS[1]]))
    jwks["keys"][1] = {**private, "kid": KIDS[1], "use": "sig", "alg": "RS256"}
    with pytest.raises(kong.ConfigError, match="'k-2026b' holds private material"):
        kong.credentials_from_jwks(jwks)
    source = tmp_path / "jwks.json"
    source.write_text(json.dumps(jwks))
    result = render(kong_document(), tmp_path, source, upstream_port=1, port=2, status_port=3)
    assert result.returncode == 2
    assert "holds private material" in result.stderr
    assert not (tmp_path / "rendered").exists()


def test_a_jwks_without_rsa_signing_keys_is_refused(
    signing_keys: dict[str, rsa.RSAPrivateKey],
) -> None:
    jwks = jwks_of(signing_keys)
    for entry in jwks["keys"]:
        entry["use"] = "enc"
    with pytest.raises(kong.ConfigError, match="no RSA signing key"):
        kong.credentials_from_jwks(jwks)


# --- haproxy.cfg's signature checks ---------------------------------------------------------

JWT_VERIFY = re.compile(r"jwt_verify\(([^)]*)\)")


def test_one_literal_jwt_verify_per_credential(
    rendered: Path, signing_keys: dict[str, rsa.RSAPrivateKey]
) -> None:
    """The algorithm is a literal (never the token's alg) and the key a literal path to a
    bare public-key PEM; each check runs only for the kid it belongs to."""
    config = (rendered / "haproxy.cfg").read_text()
    lines = [line for line in config.splitlines() if "jwt_verify" in line]
    assert len(lines) == len(KIDS)
    for kid, line in zip(KIDS, lines, strict=True):
        (arguments,) = JWT_VERIFY.findall(line)
        algorithm, path = (part.strip() for part in arguments.split(","))
        assert algorithm == '"RS256"'
        pem_path = Path(json.loads(path))
        assert pem_path == (rendered / "keys" / f"{kid}.pem").resolve()
        pem = pem_path.read_text()
        assert pem == _public_pem(signing_keys[kid])
        assert pem.startswith("-----BEGIN PUBLIC KEY-----\n")
        assert pem.endswith("-----END PUBLIC KEY-----\n")
        assert line.endswith(
            f"{{ var(txn.jwt_kid) -m str {kid} }} !{{ var(txn.jwt_sig) -m found }}"
        )


def test_the_algorithm_is_compared_to_each_credentials_literal(rendered: Path) -> None:
    config = (rendered / "haproxy.cfg").read_text()
    for kid in KIDS:
        assert f"{{ var(txn.jwt_kid) -m str {kid} }} !{{ var(txn.jwt_alg) -m str RS256 }}" in config


# --- what kong.parse refuses --------------------------------------------------------------


def _jwt_config(document: dict[str, Any]) -> dict[str, Any]:
    return plugin_of(route_of(document, "users-api"), "jwt")["config"]


def _auth_limits(document: dict[str, Any]) -> dict[str, Any]:
    return plugin_of(route_of(document, "users-auth"), "rate-limiting")["config"]


REFUSED: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    (
        "unknown-global-plugin",
        lambda d: d["plugins"].append({"name": "key-auth"}),
        "'key-auth' is not reproduced",
    ),
    (
        "unknown-route-plugin",
        lambda d: route_of(d, "users-auth")["plugins"].append({"name": "acl", "config": {}}),
        "'acl' is not reproduced",
    ),
    ("rate-limiting-two-periods", lambda d: _auth_limits(d).update(second=5), "exactly one of"),
    ("rate-limiting-no-period", lambda d: _auth_limits(d).pop("minute"), "exactly one of"),
    (
        "rate-limiting-by-consumer",
        lambda d: _auth_limits(d).update(limit_by="consumer"),
        "limit_by: ip",
    ),
    ("rate-limiting-default-limit-by", lambda d: _auth_limits(d).pop("limit_by"), "limit_by: ip"),
    ("rate-limiting-redis", lambda d: _auth_limits(d).update(policy="redis"), "policy: local"),
    (
        "rate-limiting-hidden-headers",
        lambda d: _auth_limits(d).update(hide_client_headers=True),
        "hide_client_headers",
    ),
    (
        "jwt-uri-param-names",
        lambda d: _jwt_config(d).update(uri_param_names=["jwt"]),
        "only header tokens",
    ),
    (
        "jwt-default-uri-param-names",
        lambda d: _jwt_config(d).pop("uri_param_names"),
        "only header tokens",
    ),
    (
        "jwt-cookie-names",
        lambda d: _jwt_config(d).update(cookie_names=["token"]),
        "only header tokens",
    ),
    (
        "jwt-other-header",
        lambda d: _jwt_config(d).update(header_names=["x-token"]),
        "header_names must be",
    ),
    ("jwt-anonymous", lambda d: _jwt_config(d).update(anonymous="guest"), "anonymous"),
    (
        "jwt-maximum-expiration",
        lambda d: _jwt_config(d).update(maximum_expiration=60),
        "maximum_expiration",
    ),
    (
        "jwt-verify-iat",
        lambda d: _jwt_config(d).update(claims_to_verify=["exp", "iat"]),
        "claims_to_verify",
    ),
    (
        "strip-path-true",
        lambda d: route_of(d, "users-public").update(strip_path=True),
        "strip_path: false",
    ),
    (
        "strip-path-default",
        lambda d: route_of(d, "users-public").pop("strip_path"),
        "strip_path: false",
    ),
    (
        "route-hosts",
        lambda d: route_of(d, "users-auth").update(hosts=["api.example.com"]),
        "no hosts/headers",
    ),
    (
        "route-headers",
        lambda d: route_of(d, "users-auth").update(headers={"x-version": ["2"]}),
        "no hosts/headers",
    ),
    (
        "route-lower-case-method",
        lambda d: route_of(d, "catalog-read").update(methods=["get"]),
        "upper-case",
    ),
    (
        "routes-sharing-path-and-method",
        lambda d: route_of(d, "catalog-write").update(methods=["GET", "POST"]),
        "catalog-read and catalog-write match the same requests",
    ),
    (
        "routes-sharing-a-path-without-methods",
        lambda d: route_of(d, "users-public").update(paths=["/api/v1/users/"]),
        "users-api and users-public match the same requests",
    ),
    (
        "second-consumer",
        lambda d: d["consumers"].append({"username": "other"}),
        "exactly one consumer",
    ),
]


@pytest.mark.parametrize(("edit", "error"), [pytest.param(e, m, id=i) for i, e, m in REFUSED])
def test_parse_refuses_what_the_local_gateway_does_not_reproduce(
    edit: Callable[[dict[str, Any]], None], error: str
) -> None:
    with pytest.raises(kong.ConfigError, match=re.escape(error)):
        kong.parse(kong_variant(edit))


def test_check_command_reports_a_refusal(tmp_path: Path) -> None:
    source = tmp_path / "kong.yml"
    source.write_text(
        yaml.safe_dump(kong_variant(lambda d: d["plugins"].append({"name": "key-auth"})))
    )
    result = run(sys.executable, "-m", "gateway", "check", "--kong", source)
    assert result.returncode == 2
    assert result.stderr == (
        "error: global plugins: plugin 'key-auth' is not reproduced by the local gateway\n"
    )


def test_a_format_other_than_kong_3_is_refused(tmp_path: Path) -> None:
    source = tmp_path / "kong.yml"
    source.write_text(yaml.safe_dump({**kong_document(), "_format_version": "1.1"}))
    with pytest.raises(kong.ConfigError, match=r"not a Kong 3\.x declarative file"):
        kong.load(source)


def test_render_needs_an_upstream_for_every_service(tmp_path: Path, jwks_file: Path) -> None:
    result = run(
        sys.executable,
        "-m",
        "gateway",
        "render",
        "--kong",
        KONG_YML,
        "--jwks",
        jwks_file,
        "--out",
        tmp_path / "out",
    )
    assert result.returncode == 2
    assert result.stderr == f"error: no upstream address for service(s) {SERVICES}\n"


def test_several_upstream_addresses_are_balanced(tmp_path: Path, jwks_file: Path) -> None:
    """The local runner's scaled-out web instances (`make up SCALE=...`): one server line per
    address in the service's backend, round-robin (HAProxy's default), the config valid."""
    upstreams = {name: "127.0.0.1:8101" for name in SERVICES}
    upstreams[SERVICES[0]] = "127.0.0.1:8101,127.0.0.1:8201,127.0.0.1:8301"
    result = run(
        sys.executable,
        "-m",
        "gateway",
        "render",
        "--kong",
        KONG_YML,
        "--jwks",
        jwks_file,
        "--out",
        tmp_path,
        *(f"--upstream={name}={address}" for name, address in upstreams.items()),
    )
    assert result.returncode == 0, result.stderr
    config = (tmp_path / "haproxy.cfg").read_text()
    servers: dict[str, list[tuple[str, str]]] = {}
    for backend in re.split(r"^backend svc_", config, flags=re.MULTILINE)[1:]:
        name = backend.split("\n", 1)[0]
        servers[name] = re.findall(r"^    server (\S+) (\S+) maxconn 200$", backend, re.MULTILINE)
    first = SERVICES[0]
    assert servers == {
        **{name: [(name, "127.0.0.1:8101")] for name in SERVICES[1:]},
        first: [
            (first, "127.0.0.1:8101"),
            (f"{first}-2", "127.0.0.1:8201"),
            (f"{first}-3", "127.0.0.1:8301"),
        ],
    }
    assert "\n    balance " not in config  # round-robin, HAProxy's default
    checked = run(HAPROXY, "-c", "-q", "-f", tmp_path / "haproxy.cfg")
    assert checked.returncode == 0, checked.stdout + checked.stderr
