"""The platform run from its images (infra/containers): built here, offline, and walked.

The module's platform is ``infra/containers/run.py up``: the service images built from their
Dockerfiles (a debootstrap base and a host-made wheelhouse: no registry, no network in the
build), one migrate container per service, then web, worker and beat containers on the
machine's PostgreSQL, RabbitMQ and Redis (this run's own databases, vhost, broker users and
Redis prefix), behind the HAProxy gateway rendered from kong.yml. Every container uses the
host's network, runs as uid 10001 on a read-only root filesystem, with no capability.

Through the gateway: the README's walk. Then the stops an orchestrator makes: ``docker stop``
of a web container lets its in-flight requests finish, and a worker container stopped in the
middle of a handler leaves its event to be applied exactly once (as the no-container SIGKILL
test in test_saga.py, with the container's own stop).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from test_readme import assert_readme_walk
from test_saga import RowLock, Shop, login, wait_for

from conftest import (
    EVENTUALLY,
    HTTP_TIMEOUT,
    REGISTRY,
    ROOT,
    START_TIMEOUT,
    Platform,
    free_port,
    stop,
    system_test_env,
    wait_products_known,
    wait_ready,
)

RUN = ROOT / "infra" / "containers" / "run.py"
IMAGES = ROOT / "infra" / "containers" / "images.py"
# Cold: the base image (debootstrap, about 2 minutes), the wheelhouses and the images; warm: the
# engine's layer cache. Generous: a busy machine is about half as fast.
BUILD_TIMEOUT = 900
STOP_TIMEOUT = 30  # docker stop's grace (run.py), above gunicorn's graceful 20 s
# Queries of this run's catalog waiting on a product's row lock (other platforms share the server).
BLOCKED_ON_PRODUCT = (
    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
    "AND datname = current_database() AND query LIKE '%catalog_product%FOR UPDATE%'"
)


def docker(*args: str, timeout: float = 120, stderr: bool = False) -> str:
    """Its output (with ``stderr``, both streams: ``docker logs`` relays a container's)."""
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"docker {' '.join(args)}: {result.stderr}"
    return result.stdout + (result.stderr if stderr else "")


class Containers:
    """Names the running platform's containers (``platform-<id>-<service>-<role>``)."""

    def __init__(self, var: Path) -> None:
        # The runner's PLATFORM_ID: a digest of its var/ directory.
        self.id = hashlib.sha256(str(var.resolve()).encode()).hexdigest()[:8]

    def name(self, service: str, role: str) -> str:
        return f"platform-{self.id}-{service}-{role}"

    def all(self) -> list[str]:
        return [self.name(s, r) for s in REGISTRY for r in ("web", "worker", "beat")]

    def inspect(self, container: str) -> dict:
        return json.loads(docker("inspect", container))[0]

    def remove_leftovers(self) -> None:
        """Whatever a run that crashed left behind (its label)."""
        left = docker("ps", "--all", "--quiet", "--filter", f"label=platform.id={self.id}")
        if left.split():
            docker("rm", "--force", *left.split())


def wait_for_line(log: Path, process: subprocess.Popen, marker: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while marker not in log.read_text():
        if process.poll() is not None:
            pytest.fail(f"run.py exited with {process.returncode}:\n{log.read_text()[-6000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {marker!r} after {timeout} s:\n{log.read_text()[-6000:]}")
        time.sleep(0.5)


@pytest.fixture(scope="module")
def containers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    var = tmp_path_factory.mktemp("var-containers")
    prefix = f"systest_{secrets.token_hex(3)}_"
    ports = {name: free_port() for name in REGISTRY}
    gateway_port, status_port, smtp_port = free_port(), free_port(), free_port()
    env = system_test_env(var, prefix, ports, gateway_port, status_port, smtp_port)
    log = var / "platform.log"
    names = Containers(var)
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, RUN, "up"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    platform = Platform(
        "containers",
        {name: f"http://127.0.0.1:{port}" for name, port in ports.items()},
        f"http://127.0.0.1:{gateway_port}",
        var / "state",  # the containers' state: keys, the demo staff password
        process,
        log,
        env,
        prefix,
    )
    try:
        wait_for_line(log, process, "==> running: ", BUILD_TIMEOUT)
        for url in platform.urls.values():
            wait_ready(url, process, log)
        wait_ready(platform.gateway, process, log, probe="/.well-known/jwks.json")
        wait_products_known(platform)
        yield platform
    finally:
        code = stop(platform) if process.poll() is None else process.returncode
        names.remove_leftovers()
        subprocess.run(
            [sys.executable, ROOT / "infra/local/runner.py", "destroy"],
            cwd=ROOT,
            env=env,
            timeout=300,
            check=False,
        )
        output = log.read_text()
        assert code == 0, f"run.py exited with {code} on Ctrl-C:\n{output[-6000:]}"


@pytest.fixture(scope="module")
def names(containers: Platform) -> Containers:
    return Containers(containers.var.parent)


@pytest.fixture
def shop(containers: Platform) -> Iterator[Shop]:
    token = login(containers.users, "admin@example.com", containers.demo_password())
    with httpx.Client(base_url=containers.gateway, timeout=HTTP_TIMEOUT) as client:
        yield Shop(containers, client, token)


def test_the_readme_walk_passes_through_the_gateway_against_the_containers(
    containers: Platform,
) -> None:
    assert_readme_walk(
        containers.gateway,
        containers.var / "demo-staff-password",
        containers.var.parent / "mail",  # the host's SMTP sink (run.py), beside state/
    )


@pytest.mark.parametrize("service", list(REGISTRY))
def test_every_readyz_is_green(containers: Platform, service: str) -> None:
    ready = httpx.get(f"{containers.urls[service]}/readyz", timeout=HTTP_TIMEOUT)
    assert ready.status_code == 200, ready.text
    body = ready.json()
    assert (body["status"], body["checks"]) == ("ok", {"database": "ok", "migrations": "ok"})


def test_every_container_is_confined_and_on_the_host_network_only(names: Containers) -> None:
    for container in names.all():
        info = names.inspect(container)
        host = info["HostConfig"]
        assert info["State"]["Running"], container
        assert info["Config"]["User"] == "10001:10001", container
        assert host["ReadonlyRootfs"] is True, container
        assert (host["CapDrop"], host["CapAdd"]) == (["ALL"], None), container
        assert host["SecurityOpt"] == ["no-new-privileges"], container
        assert host["Privileged"] is False, container
        assert host["NetworkMode"] == "host", container
        # The process itself: uid 10001, no effective capability.
        status = Path(f"/proc/{info['State']['Pid']}/status").read_text()
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        assert fields["Uid"].split()[:2] == ["10001", "10001"], container
        assert int(fields["CapEff"], 16) == 0, container
    # The engine made no bridge (daemon.json "bridge": "none"): host and none only.
    assert sorted(docker("network", "ls", "--format", "{{.Name}}").split()) == ["host", "none"]


def test_docker_stop_of_a_web_container_finishes_its_in_flight_requests(
    shop: Shop, names: Containers
) -> None:
    """Two stock changes (one per gunicorn worker) wait on the product's row lock inside
    catalog's web container; ``docker stop`` sends SIGTERM; both finish once the lock goes,
    and the container exits 0 (gunicorn's graceful stop, within docker stop's grace)."""
    product = shop.product(stock=10)
    web = names.name("catalog", "web")
    lock = RowLock(shop.platform.database("catalog"), "catalog_product", product)
    with ThreadPoolExecutor(max_workers=3) as pool:
        try:
            changes = [
                pool.submit(
                    shop.client.post,
                    f"/api/v1/catalog/products/{product}/stock",
                    headers=shop.staff,
                    json={"mode": "increment", "quantity": 1, "reason": "return"},
                )
                for _ in range(2)
            ]
            wait_for(
                lambda: shop.catalog_sql(BLOCKED_ON_PRODUCT) == "2", EVENTUALLY, "never blocked"
            )
            stopping = pool.submit(
                docker, "stop", "--time", str(STOP_TIMEOUT), web, timeout=STOP_TIMEOUT + 60
            )
            wait_for(
                lambda: "Handling signal: term" in docker("logs", web, stderr=True),
                EVENTUALLY,
                "gunicorn never got SIGTERM",
            )
            assert not any(change.done() for change in changes)
        finally:
            lock.release()
        results = [change.result() for change in changes]
        stopping.result()
    assert [r.status_code for r in results] == [200, 200], [r.text for r in results]
    assert sorted(r.json()["product"]["stock"] for r in results) == [11, 12]
    assert names.inspect(web)["State"]["ExitCode"] == 0
    docker("start", web)
    wait_ready(shop.platform.urls["catalog"], shop.platform.process, shop.platform.log)
    assert shop.stock(product) == 12


def test_a_worker_container_stopped_in_the_middle_of_a_handler_leaves_it_to_be_applied_once(
    shop: Shop, names: Containers
) -> None:
    """catalog's worker takes an order.placed and blocks in the reservation (the product row
    is locked); ``docker stop`` asks it to finish (Celery's warm shutdown waits for the task)
    and kills it when its grace is over, in the middle of the handler's transaction. Nothing
    was applied; once a worker runs again the broker redelivers the event, applied once."""
    product = shop.product(stock=10)
    buyer = shop.buyer()
    worker = names.name("catalog", "worker")
    lock = RowLock(shop.platform.database("catalog"), "catalog_product", product)
    try:
        placed = shop.place(buyer, [(product, 3)])
        assert placed.status_code == 201, placed.text
        order_id = placed.json()["id"]
        wait_for(
            lambda: shop.catalog_sql(BLOCKED_ON_PRODUCT) == "1",
            EVENTUALLY,
            "the handler never blocked",
        )
        docker("stop", "--time", "5", worker, timeout=120)
        assert names.inspect(worker)["State"]["ExitCode"] == 128 + signal.SIGKILL
    finally:
        lock.release()
    assert shop.order(buyer, order_id)["status"] == "PENDING"  # nobody consumes now
    assert shop.stock(product) == 10  # the killed transaction left nothing
    docker("start", worker)

    order = shop.final(buyer, order_id)
    assert order["status"] == "CONFIRMED", order
    assert shop.stock(product) == 7
    moves = [(m["reason"], m["delta"], m["reference"]) for m in shop.ledger(product)]
    assert moves == [("restock", 10, ""), ("reservation", -3, order_id)]


def test_a_second_build_reuses_the_base_the_wheelhouses_and_every_layer(
    containers: Platform,
) -> None:
    """Nothing changed since the module's build: the same image ids, nothing made again."""
    tags = [f"platform/{service}:latest" for service in [s.dir for s in REGISTRY.values()]]
    before = [docker("image", "inspect", "--format", "{{.Id}}", tag).strip() for tag in tags]
    build = subprocess.run(
        [sys.executable, IMAGES, "build"],
        cwd=ROOT,
        env=os.environ,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
        check=False,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    assert "building the base image" not in build.stdout
    assert "making the wheelhouse" not in build.stdout
    after = [docker("image", "inspect", "--format", "{{.Id}}", tag).strip() for tag in tags]
    assert after == before
