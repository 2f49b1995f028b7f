"""Platforms on one machine share one Redis (DB 0): each keeps to its own keys, as it has
its own databases and vhost. Two platforms (two PLATFORM_VARs: `make up` in two clones, a
system-test or benchmark platform beside `make up`) and each `infra/local/isolated` run (a
unit suite) get a cache key prefix of their own; with them, on the real Redis, a throttle
counter of one does not count on the other and clearing one's cache keeps the other's keys."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT, RUNNER

CHASSIS_PYTHON = ROOT / "chassis" / ".venv" / "bin" / "python"
ISOLATED = ROOT / "infra" / "local" / "isolated"


def platform_env(var: Path) -> dict[str, str]:
    """The environment `runner.py up` gives every process of the platform under ``var``."""
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import runner; "
        "print(json.dumps(runner.platform_env()))"
    )
    env = {**os.environ, "PLATFORM_VAR": str(var)}
    out = subprocess.run(
        [sys.executable, "-c", code, str(RUNNER.parent)],
        env=env, capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return json.loads(out.stdout)


def isolated_prefix() -> str:
    out = subprocess.run(
        [str(ISOLATED), "unit", "sh", "-c", 'printf %s "$CACHE_KEY_PREFIX"'],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    return out.stdout


# Two services' caches built by the chassis from each environment, then used as the services
# use them: DRF's throttle counts in the default cache; tests clear it around each test.
PROBE = """
import json, sys
import django
from django.conf import settings
from chassis.conf import _cache
envs = json.loads(sys.argv[1])
settings.configure(REST_FRAMEWORK={"NUM_PROXIES": 0}, CACHES={
    name: _cache(env["REDIS_URL"], env["CACHE_KEY_PREFIX"] + "users") for name, env in envs.items()
})
django.setup()
from django.core.cache import caches
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory
from rest_framework.throttling import SimpleRateThrottle

class LoginThrottle(SimpleRateThrottle):  # a client's address, as users-service's login
    rate, scope = "2/min", "login"
    def get_cache_key(self, request, view):
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}

def allowed(name):
    throttle = LoginThrottle()
    throttle.cache = caches[name]
    return throttle.allow_request(Request(APIRequestFactory().post("/api/v1/auth/token")), None)

result = {name: [allowed(name) for _ in range(3)] for name in ("a", "b")}
caches["b"].set("jwks", "b's keys")
caches["a"].clear()
result["b_after_a_cleared"] = caches["b"].get("jwks")
for name in ("a", "b"):
    caches[name].clear()
print(json.dumps(result))
"""


def test_two_platforms_and_a_unit_suite_have_their_own_prefixes(tmp_path: Path) -> None:
    one, two = platform_env(tmp_path / "one"), platform_env(tmp_path / "two")
    first, second = isolated_prefix(), isolated_prefix()

    prefixes = [one["CACHE_KEY_PREFIX"], two["CACHE_KEY_PREFIX"], first, second]
    assert len(set(prefixes)) == 4
    assert all(prefix.endswith(":") and len(prefix) > 1 for prefix in prefixes)
    assert one["REDIS_URL"] == two["REDIS_URL"] == "redis://127.0.0.1:6379/0"  # one Redis


def test_a_throttle_counter_of_one_platform_does_not_count_on_another(tmp_path: Path) -> None:
    envs = {"a": platform_env(tmp_path / "a"), "b": platform_env(tmp_path / "b")}

    out = subprocess.run(
        [str(CHASSIS_PYTHON), "-c", PROBE, json.dumps(envs)],
        cwd=ROOT / "chassis", capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == {
        "a": [True, True, False],
        "b": [True, True, False],
        "b_after_a_cleared": "b's keys",
    }
