"""Start the whole platform the way `make up` does, in an isolated var/ and database.

Each parametrization runs `infra/local/runner.py up` as a child process group on free ports
(infra/local/sandbox.py, which the benchmarks start their platforms with too):
once on the machine's PostgreSQL/RabbitMQ/Redis, once on the embedded default (SQLite and the
filesystem broker), and once scaled out on the machine's servers (``SCALE``: three web and
three worker processes per service) for the tests marked ``scaled`` only. Teardown presses
Ctrl-C and checks the platform stops cleanly.
"""

from __future__ import annotations

import os
import secrets
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import otlp
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "infra" / "local"))
import sandbox  # noqa: E402 - the runner's directory, just added
from ports import free_port  # noqa: E402, F401 - the runner's directory; test_containers' import
from registry import Service, load_services  # noqa: E402 - the runner's directory, just added

RUNNER = sandbox.RUNNER

# The platform's services (infra/services.toml), by name, with their registered ports.
REGISTRY: dict[str, Service] = load_services(env={})
# Their directories (also their Kong service names).
SERVICES = [service.dir for service in REGISTRY.values()]
# Deadlines are generous on purpose: the suite must pass on a machine busy with other work
# (about half as fast). Tests wait for conditions, never for fixed times.
START_TIMEOUT = 300  # `make test` installs the virtual environments before
EVENTUALLY = 120  # for what the platform does asynchronously (events, sagas, log lines)
HTTP_TIMEOUT = 60  # one request, on a busy machine
STOP_GRACE = 30  # PLATFORM_STOP_GRACE_SECONDS: what the runner allows processes to stop
SEEDED_PRODUCTS = 200  # what prepare seeds (seed_catalog --products 200)
# The scaled platform: this many web and worker processes of every service (`make up SCALE=`).
SCALE = 3


@dataclass
class Platform:
    mode: str
    urls: dict[str, str]  # service name -> its base URL (direct)
    gateway: str  # base URL of the gateway
    var: Path
    process: subprocess.Popen
    log: Path
    env: dict[str, str]

    prefix: str  # of the platform's database names; its RabbitMQ vhost is f"{prefix}vhost"

    @property
    def users(self) -> str:
        """users-service's base URL (direct): where tokens are issued."""
        return self.urls["users"]

    def demo_password(self) -> str:
        return (self.var / "demo-staff-password").read_text().strip()

    @property
    def vhost(self) -> str:
        return f"{self.prefix}vhost"

    def scale(self, service: str) -> int:
        """How many web and worker processes of ``service`` run (the runner's SCALE)."""
        counts = dict(item.split("=") for item in self.env.get("SCALE", "").split())
        return int(counts.get(service, 1))

    def database(self, service: str) -> str:
        return f"{self.prefix}{service}"

    def sql(self, service: str, query: str) -> list[list[str]]:
        """Rows of ``query`` in a service's database (PostgreSQL or the embedded SQLite)."""
        if self.mode == "embedded":
            with sqlite3.connect(self.var / f"{service}.sqlite3", timeout=20) as db:
                return [[str(v) for v in row] for row in db.execute(query).fetchall()]
        return [row.split("|") for row in psql(query, self.database(service)).splitlines()]


def psql(sql: str, database: str = "postgres") -> str:
    return subprocess.run(
        ["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", database, "-qtA", "-c", sql],
        check=True,
        capture_output=True,
        text=True,
    ).stdout


def eventually(condition: Callable[[], object], message: str, timeout: float = EVENTUALLY) -> None:
    """Wait until ``condition()`` is true (checked every 0.1 s), or fail with ``message``."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{message} (waited {timeout:.0f} s)")
        time.sleep(0.1)


def wait_ready(url: str, process: subprocess.Popen, log: Path, probe: str = "/readyz") -> None:
    deadline = time.monotonic() + START_TIMEOUT
    failed = sandbox.wait_ok(f"{url}{probe}", process, deadline, request_timeout=10)
    if failed == "exited":
        pytest.fail(f"platform exited with {process.returncode}:\n{log.read_text()[-4000:]}")
    if failed:
        pytest.fail(f"platform not ready after {START_TIMEOUT}s:\n{log.read_text()[-4000:]}")


def wait_products_known(platform: Platform, timeout: float = EVENTUALLY) -> None:
    """The seeded products reach orders' read model through product.changed events (outbox
    rows written by the seed, sent by catalog's outbox sweep): wait until all have."""
    deadline = time.monotonic() + timeout
    known = 0
    while time.monotonic() < deadline:
        try:
            known = int(platform.sql("orders", "SELECT count(*) FROM orders_product")[0][0])
        except (sqlite3.Error, subprocess.CalledProcessError):
            known = 0
        if known >= SEEDED_PRODUCTS:
            return
        time.sleep(0.5)
    pytest.fail(f"orders knows {known} of the {SEEDED_PRODUCTS} seeded products after {timeout}s")


def stop(platform: Platform) -> int:
    """Ctrl-C, as in the terminal; the runner stops every process within its grace period."""
    code = sandbox.interrupt(platform.process, timeout=STOP_GRACE + 60)
    if code is None:
        os.killpg(platform.process.pid, signal.SIGKILL)
        pytest.fail(f"platform did not stop on Ctrl-C:\n{platform.log.read_text()[-4000:]}")
    return code


def on_platform(item: pytest.Item) -> object:
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("platform") if callspec else None


@pytest.hookimpl(trylast=True)  # after pytest has grouped the tests by platform
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """The scaled platform runs only the tests marked ``scaled`` (the others are deselected,
    so it starts only when one of those is selected). The API fuzz last on each platform: it
    writes arbitrary valid data (renames seeded categories, deactivates products) that the
    other tests' expectations must not meet."""
    unscaled = [
        item
        for item in items
        if on_platform(item) == "scaled" and item.get_closest_marker("scaled") is None
    ]
    if unscaled:
        config.hook.pytest_deselected(items=unscaled)
        items[:] = [item for item in items if item not in set(unscaled)]
    groups: dict[object, int] = {}

    def order(item: pytest.Item) -> tuple[int, bool]:
        return groups.setdefault(on_platform(item), len(groups)), "test_api_fuzz.py" in item.nodeid

    items.sort(key=order)


@pytest.fixture(scope="session")
def otlp_receiver() -> Iterator[otlp.Receiver]:
    """Where the local-services platform's processes send their spans (test_tracing.py)."""
    receiver, server = otlp.start()
    yield receiver
    server.shutdown()


def system_test_env(
    var: Path,
    prefix: str,
    ports: dict[str, int],
    gateway_port: int,
    status_port: int,
    smtp_port: int,
) -> dict[str, str]:
    """The environment of a system-test platform: its own var/, database prefix, vhost and
    ports (the SMTP sink's too), and throttles raised for test clients (the runner's and the
    containers' alike)."""
    variables = {f"{REGISTRY[name].env_prefix}PORT": port for name, port in ports.items()}
    variables |= dict(
        zip(sandbox.GATEWAY_PORTS, (gateway_port, status_port, smtp_port), strict=True)
    )
    return sandbox.isolated_env(var, prefix, variables, SYSTEM_TEST_SETTINGS)


SYSTEM_TEST_SETTINGS = {
    "GUNICORN_WORKERS": "2",
    "PLATFORM_STOP_GRACE_SECONDS": str(STOP_GRACE),
    # Every test client is 127.0.0.1 and the throttle counters live in the shared Redis:
    # raise the services' per-IP auth throttles so back-to-back runs do not trip them
    # (the gateway's own limits stay as kong.yml sets them; each run has fresh counters),
    # and the per-account login limit: the tests sign the demo staff in again and again.
    "THROTTLE_LOGIN": "1000/min",
    "THROTTLE_LOGIN_ACCOUNT": "1000/min",
    "THROTTLE_REGISTER": "1000/min",
    "THROTTLE_REFRESH": "1000/min",
    "THROTTLE_PASSWORD": "1000/min",
    "THROTTLE_PASSWORD_RESET": "1000/min",
    "THROTTLE_VERIFY_EMAIL": "1000/min",
    "THROTTLE_ORDER_PLACE": "10000/min",  # the oversell test places 50 at once
    "ORDERS_MAX_OPEN_PER_ACCOUNT": "100",  # from one buyer (the other limits hold)
    # Admin sessions re-checked against users-service every 3 s, not 60: the browser
    # tests wait for a deactivated staff member to be signed out.
    "SSO_RECHECK_SECONDS": "3",
}


@pytest.fixture(scope="session", params=["local-services", "embedded", "scaled"])
def platform(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    otlp_receiver: otlp.Receiver,
) -> Iterator[Platform]:
    mode = request.param
    var = tmp_path_factory.mktemp(f"var-{mode}")
    prefix = f"systest_{secrets.token_hex(3)}_"
    ports = sandbox.allocate_ports(REGISTRY.values())
    env = sandbox.isolated_env(var, prefix, ports, SYSTEM_TEST_SETTINGS)
    if mode == "embedded":
        env["PLATFORM_EMBEDDED"] = "1"
    if mode == "local-services":  # traced (chassis.tracing); the others run with tracing off
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = otlp_receiver.url
        env["OTEL_BSP_SCHEDULE_DELAY"] = "200"  # ms: spans reach the receiver promptly
    if mode == "scaled":  # one gunicorn worker per web process: the processes are the scale
        env["SCALE"] = " ".join(f"{name}={SCALE}" for name in REGISTRY)
        env["GUNICORN_WORKERS"] = "1"
    log = var / "platform.log"
    process = sandbox.launch(env, log)
    platform = Platform(
        mode,
        {name: f"http://127.0.0.1:{ports[s.env_prefix + 'PORT']}" for name, s in REGISTRY.items()},
        f"http://127.0.0.1:{ports['GATEWAY_PORT']}",
        var,
        process,
        log,
        env,
        prefix,
    )
    try:
        for url in platform.urls.values():
            wait_ready(url, process, log)
        wait_ready(platform.gateway, process, log, probe="/.well-known/jwks.json")
        wait_products_known(platform)
        yield platform
    finally:
        code = stop(platform) if process.poll() is None else process.returncode
        if mode != "embedded":  # its databases, broker vhost and broker users
            subprocess.run(
                [sys.executable, RUNNER, "destroy"], cwd=ROOT, env=env, timeout=300, check=False
            )
        output = log.read_text()
        assert code == 0, f"platform exited with {code} on Ctrl-C:\n{output[-4000:]}"
        given_up = [line for line in output.splitlines() if "given up, not restarting" in line]
        assert given_up == [], f"a process kept crashing:\n{output[-8000:]}"


class GatewayLimitWait(httpx.HTTPTransport):
    """Waits out the gateway's per-minute rate limits, as a well-behaved client does (it says
    how long in ``Retry-After``). Every test client is 127.0.0.1 and the limits are kong.yml's
    (auth: 30 a minute per address): tests that each stay far below a limit can meet it
    together within one minute, however they are ordered. A service's own throttle (429
    without the gateway's quota headers) is answered as is."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        for _ in range(GATEWAY_LIMIT_WAITS):
            response = super().handle_request(request)
            if not gateway_limited(response):
                return response
            response.read()
            response.close()
            time.sleep(int(response.headers["retry-after"]) + 1)
        return super().handle_request(request)


GATEWAY_LIMIT_WAITS = 3  # minute windows: a test that needs more is itself over a limit


def gateway_limited(response: httpx.Response) -> bool:
    """The gateway's rate limit said no (Kong's quota headers: nothing left this minute)."""
    return (
        response.status_code == 429
        and response.headers.get("x-ratelimit-remaining-minute") == "0"
        and "retry-after" in response.headers
    )


def gateway_quota_wait(gateway: str, path: str, needed: int) -> None:
    """Wait until the gateway's per-minute quota of ``path`` for this address has ``needed``
    requests left (for a script that cannot wait out a 429 itself: the README walk). The
    probe is a request users-service refuses (400), which the quota counts like any other."""
    deadline = time.monotonic() + GATEWAY_LIMIT_WAITS * 62
    while True:
        probe = httpx.post(gateway + path, json={}, timeout=HTTP_TIMEOUT)
        remaining = int(probe.headers.get("x-ratelimit-remaining-minute", "0"))
        if remaining >= needed:
            return
        assert time.monotonic() < deadline, f"{path}: {remaining} left, {needed} needed"
        time.sleep(int(probe.headers.get("ratelimit-reset", "1")) + 1)


def gateway_client(base_url: str) -> httpx.Client:
    """A client that talks as the tests' clients do (``HTTP_TIMEOUT``), waiting out the
    gateway's rate limits (``GatewayLimitWait``); also fine for a service's own address."""
    return httpx.Client(base_url=base_url, timeout=HTTP_TIMEOUT, transport=GatewayLimitWait())


@pytest.fixture
def client(platform: Platform) -> Iterator[httpx.Client]:
    """Talks to the platform as clients do: through the gateway."""
    with gateway_client(platform.gateway) as client:
        yield client


@pytest.fixture
def direct(platform: Platform) -> Iterator[httpx.Client]:
    """Talks to users-service directly (probes are not routed through the gateway)."""
    with httpx.Client(base_url=platform.users, timeout=HTTP_TIMEOUT) as client:
        yield client
