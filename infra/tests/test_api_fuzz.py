"""Property-based API testing with schemathesis, from each service's own OpenAPI schema.

Thousands of generated requests (valid, invalid, stateful sequences) against the running
users-service, as staff: no 500 anywhere, every status and content type documented, responses
matching their schemas, invalid input refused, authentication enforced. "Valid input must be
accepted" is left out: a schema cannot say that a password must be the current one or that
an email must be unused. The seed is fixed, so a run is reproducible.
"""

from __future__ import annotations

import subprocess

import httpx
import pytest

from conftest import ROOT, Platform


def test_users_service_api_holds_its_contract_under_generated_input(platform: Platform) -> None:
    if platform.mode != "local-services":
        pytest.skip("one backing-service mode is enough: the contract does not depend on it")
    login = httpx.post(
        f"{platform.users}/api/v1/auth/token",
        timeout=10,
        json={"email": "admin@example.com", "password": platform.demo_password()},
    )
    token = login.json()["access"]
    run = subprocess.run(
        [
            ROOT / "var/tools/bin/st",
            "run",
            f"{platform.users}/api/v1/users/schema/",
            "--url",
            platform.users,
            "-H",
            f"Authorization: Bearer {token}",
            "--checks",
            "all",
            "--exclude-checks",
            "positive_data_acceptance",
            "--max-examples",
            "20",
            "--seed",
            "20261122",
            "--workers",
            "2",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert run.returncode == 0, run.stdout[-6000:]
