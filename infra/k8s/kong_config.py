"""Kong's declarative configuration for the Kubernetes overlays, from gateway-config/kong.yml.

    gateway-config/.venv/bin/python infra/k8s/kong_config.py --jwks JWKS [--k8s DIR]

``JWKS``: users-service's public keys (a file, or https://<host>/.well-known/jwks.json), so the
jwt consumer gets one RS256 credential per published key, exactly as ``make up`` renders it.
Writes, for kustomize (none of it is committed: the keys are the deployment's):

- ``base/kong/kong.yml``: the rendered file as is (``policy: local``: dev runs one Kong);
- ``overlays/prod/kong/kong.yml``: every rate-limiting plugin on ``policy: redis``, so the
  counters are shared and a limit holds across all Kong replicas, however many the HPA runs;
- ``kong-checksum.yaml`` beside each: a patch putting the file's SHA-256 on Kong's pod
  template, so applying a changed configuration rolls Kong.

Run it again after a change to gateway-config/kong.yml and at each key rotation step.
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "gateway-config"))

from gateway import kong  # noqa: E402 - the renderer lives in gateway-config

HEADER = "# Rendered by infra/k8s/kong_config.py from gateway-config/kong.yml: do not edit.\n"
# Kong 3.9 rate-limiting's shared counters. Redis is reached at `redis` (a StatefulSet in dev,
# an ExternalName Service in prod), database 1 (the services' caches use 0); its password comes
# from Kong's environment (Secret kong-secrets) through Kong's env vault, never from this file.
# fault_tolerant: while Redis is unreachable requests pass uncounted rather than fail.
REDIS = {
    "host": "redis",
    "port": 6379,
    "database": 1,
    "timeout": 2000,
    "password": "{vault://env/rate-limiting-redis-password}",
}


def with_shared_counters(document: dict[str, Any]) -> dict[str, Any]:
    """Every rate-limiting plugin of ``document`` counting in Redis (``policy: redis``)."""
    shared = copy.deepcopy(document)
    entities = [shared, *shared.get("services", [])]
    entities += [route for service in shared.get("services", []) for route in service["routes"]]
    for entity in entities:
        for plugin in entity.get("plugins") or []:
            if plugin["name"] == "rate-limiting":
                plugin["config"] = {
                    **plugin["config"],
                    "policy": "redis",
                    "redis": dict(REDIS),
                    "fault_tolerant": True,
                    "sync_rate": -1,
                }
    return shared


def checksum_patch(digest: str) -> str:
    return HEADER + yaml.safe_dump(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "kong"},
            "spec": {"template": {"metadata": {"annotations": {"checksum/kong-config": digest}}}},
        },
        sort_keys=False,
    )


def write(directory: Path, document: dict[str, Any]) -> str:
    text = HEADER + yaml.safe_dump(document, sort_keys=False)
    digest = hashlib.sha256(text.encode()).hexdigest()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "kong.yml").write_text(text)
    (directory / "kong-checksum.yaml").write_text(checksum_patch(digest))
    return digest


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jwks", required=True, help="users-service's JWKS: file or URL")
    parser.add_argument("--kong", type=Path, default=ROOT / "gateway-config" / "kong.yml")
    parser.add_argument("--k8s", type=Path, default=Path(__file__).resolve().parent)
    args = parser.parse_args(argv)
    try:
        document = kong.load(args.kong)
        kong.parse(document)  # the same checks as the local gateway's
        credentials = kong.credentials_from_jwks(kong.read_jwks(args.jwks))
    except (kong.ConfigError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    rendered = kong.with_credentials(document, credentials)
    for where, doc in (
        (args.k8s / "base" / "kong", rendered),
        (args.k8s / "overlays" / "prod" / "kong", with_shared_counters(rendered)),
    ):
        digest = write(where, doc)
        print(f"{where}: kong.yml ({len(credentials)} credential(s)), sha256 {digest[:12]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
