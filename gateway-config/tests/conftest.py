"""Fixtures of the suite: signing keys and their JWKS, an echo upstream, running gateways.

A gateway is the real renderer's output (``python -m gateway render``) run by the installed
HAProxy 2.6 on 127.0.0.1, in front of an echo upstream that answers every request with what it
received and records it, so a test can tell whether a request was forwarded and how.
One HAProxy runs per distinct kong.yml document (session scope); every process started here is
stopped at the end of the session, failed tests included.

The same tests hold real Kong (KONG_VERSION, gateway/kong.py) to the same answers: with
``KONG_PROXY_URL`` and ``KONG_ADMIN_URL`` set (a DB-less Kong), each document is rendered, its
services pointed at the echo upstream (``KONG_UPSTREAM_HOST``: how Kong reaches this machine)
and loaded through the admin API's ``POST /config``; tests of what only the local gateway does
(its access log, the platform's correlation-id rule) are marked ``haproxy_only`` and skipped.
Without those variables the suite runs against HAProxy only: nothing pretends to be Kong.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.wire import HOST, EchoHandler, EchoServer, EchoUpstream, Response, send

ROOT = Path(__file__).resolve().parents[1]  # gateway-config/
KONG_YML = ROOT / "kong.yml"
# decK's JSON Schema, vendored (schema/README.md); KONG_SCHEMA overrides its location.
KONG_SCHEMA = ROOT / "schema" / "kong_json_schema.json"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
HAPROXY_FLAGS = ("-dMglobal",)  # as infra/local/Procfile.template runs it
KIDS = ("k-2026a", "k-2026b")
KONG_PROXY_URL = os.environ.get("KONG_PROXY_URL", "")
KONG_ADMIN_URL = os.environ.get("KONG_ADMIN_URL", "")
KONG_UPSTREAM_HOST = os.environ.get("KONG_UPSTREAM_HOST", HOST)
haproxy_only = pytest.mark.haproxy_only


def kong_reachable() -> bool:
    """Whether the Kong named by KONG_ADMIN_URL answers (its admin API's root)."""
    try:
        return httpx.get(KONG_ADMIN_URL or "http://invalid.", timeout=5).status_code == 200
    except httpx.HTTPError:
        return False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """With a Kong target: the local gateway's own tests are skipped; with a Kong target that
    does not answer, every test that needs a gateway is skipped (and says why)."""
    if not KONG_PROXY_URL:
        return
    only = pytest.mark.skip(reason="what only the local gateway does (not Kong's behaviour)")
    down = pytest.mark.skip(reason=f"no Kong answers at KONG_ADMIN_URL={KONG_ADMIN_URL!r}")
    reachable = kong_reachable()
    for item in items:
        if "haproxy_only" in item.keywords:
            item.add_marker(only)
        elif not reachable and "gateway_factory" in getattr(item, "fixturenames", ()):
            item.add_marker(down)


# --- keys -----------------------------------------------------------------------------------


def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def signing_keys() -> dict[str, rsa.RSAPrivateKey]:
    """users-service's key ring during a rotation: two keys, both published."""
    return {kid: _rsa_key() for kid in KIDS}


@pytest.fixture(scope="session")
def foreign_key() -> rsa.RSAPrivateKey:
    """An RSA key that is in no JWKS: what a forger signs with."""
    return _rsa_key()


def jwks_of(keys: dict[str, rsa.RSAPrivateKey]) -> dict[str, Any]:
    """The JWKS users-service publishes for ``keys``: public parts, kid, use and alg."""
    entries = []
    for kid, key in keys.items():
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
        entries.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
    return {"keys": entries}


@pytest.fixture(scope="session")
def jwks_file(
    tmp_path_factory: pytest.TempPathFactory, signing_keys: dict[str, rsa.RSAPrivateKey]
) -> Path:
    path = tmp_path_factory.mktemp("jwks") / "users.jwks.json"
    path.write_text(json.dumps(jwks_of(signing_keys)))
    return path


@pytest.fixture(scope="session")
def echo_upstream() -> Iterator[EchoUpstream]:
    server = EchoServer((os.environ.get("KONG_UPSTREAM_BIND", HOST), 0), EchoHandler)
    server.records = []
    thread = threading.Thread(target=server.serve_forever, name="echo-upstream", daemon=True)
    thread.start()
    try:
        yield EchoUpstream(server.server_address[1], server)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def upstream(echo_upstream: EchoUpstream) -> EchoUpstream:
    """The echo upstream with nothing recorded yet."""
    echo_upstream.clear()
    return echo_upstream


# --- gateways -------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def kong_document() -> dict[str, Any]:
    """A fresh copy of the real gateway-config/kong.yml."""
    return yaml.safe_load(KONG_YML.read_text())


def route_of(document: dict[str, Any], name: str) -> dict[str, Any]:
    for service in document["services"]:
        for route in service.get("routes") or []:
            if route["name"] == name:
                return route
    raise KeyError(name)


def plugin_of(entity: dict[str, Any], name: str) -> dict[str, Any]:
    return next(p for p in entity["plugins"] if p["name"] == name)


def kong_variant(edit: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    document = copy.deepcopy(kong_document())
    edit(document)
    return document


@dataclass
class Gateway:
    """A running gateway loaded with ``document``: the rendered HAProxy, or real Kong."""

    document: dict[str, Any]
    out: Path
    port: int
    status_port: int
    process: subprocess.Popen[bytes] | None = field(repr=False)
    host: str = HOST
    # Kong: loads this gateway's document when another one is loaded (one Kong, many tests).
    activate: Callable[[], None] = field(default=lambda: None, repr=False)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def status_url(self) -> str:
        return f"http://{self.host}:{self.status_port}"

    @property
    def access_log(self) -> Path:
        """HAProxy's output: its JSON access log, one line per request."""
        return self.out / "haproxy.log"

    def request(
        self,
        method: str,
        target: str,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes | Iterable[bytes] | None = None,
        *,
        chunked: bool = False,
        with_host: bool = True,
    ) -> Response:
        self.activate()
        return send(
            self.port,
            method,
            target,
            headers,
            body,
            chunked=chunked,
            host=self.host,
            with_host=with_host,
        )

    def get(self, target: str, headers: Iterable[tuple[str, str]] = ()) -> Response:
        return self.request("GET", target, headers)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def render(
    document: dict[str, Any],
    out: Path,
    jwks: Path,
    *,
    upstream_port: int,
    port: int,
    status_port: int,
    dead: Iterable[str] = (),
) -> subprocess.CompletedProcess[str]:
    """Every Kong service answers from the echo upstream, but those named in ``dead``: they
    point at a port nothing listens on."""
    dead = set(dead)
    closed = free_port()
    source = out / "source.kong.yml"
    services = document.get("services") or []
    source.write_text(yaml.safe_dump(document, sort_keys=False))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway",
            "render",
            "--kong",
            str(source),
            "--jwks",
            str(jwks),
            "--out",
            str(out / "rendered"),
            "--listen",
            f"{HOST}:{port}",
            "--status-listen",
            f"{HOST}:{status_port}",
            # Every Kong service of the document answers from the one echo upstream.
            *(
                f"--upstream={service['name']}={HOST}:"
                f"{closed if service['name'] in dead else upstream_port}"
                for service in services
            ),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _wait_listening(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"haproxy exited ({process.returncode}): {log.read_text()}")
        try:
            socket.create_connection((HOST, port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"haproxy did not listen on {port}: {log.read_text()}")


def start_gateway(
    out: Path,
    document: dict[str, Any],
    jwks: Path,
    upstream_port: int,
    dead: Iterable[str] = (),
) -> Gateway:
    port, status_port = free_port(), free_port()
    rendered = render(
        document,
        out,
        jwks,
        upstream_port=upstream_port,
        port=port,
        status_port=status_port,
        dead=dead,
    )
    assert rendered.returncode == 0, rendered.stderr
    config = out / "rendered" / "haproxy.cfg"
    checked = subprocess.run(
        [HAPROXY, "-c", "-f", str(config)], capture_output=True, text=True, timeout=30, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    log = out / "haproxy.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [HAPROXY, *HAPROXY_FLAGS, "-db", "-f", str(config)],
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    gateway = Gateway(document, out, port, status_port, process)
    try:
        _wait_listening(process, port, log)
    except BaseException:
        gateway.stop()
        raise
    return gateway


_KONG_LOADED: list[str] = [""]  # the key of the document real Kong holds now


def kong_target(
    key: str,
    out: Path,
    document: dict[str, Any],
    jwks: Path,
    upstream_port: int,
    dead: Iterable[str] = (),
) -> Gateway:
    """Real Kong (DB-less, at KONG_PROXY_URL) for ``document``: rendered with the credentials
    as for HAProxy, every service pointed at the echo upstream, loaded by POST /config when a
    request needs it (a reload starts the rate-limit counters again)."""
    rendered = render(document, out, jwks, upstream_port=upstream_port, port=1, status_port=2)
    assert rendered.returncode == 0, rendered.stderr
    config = yaml.safe_load((out / "rendered" / "kong.yml").read_text())
    closed = free_port()
    for service in config.get("services") or []:
        port = closed if service["name"] in dead else upstream_port
        service["url"] = f"http://{KONG_UPSTREAM_HOST}:{port}"

    def activate() -> None:
        if _KONG_LOADED[0] != key:
            loaded = httpx.post(f"{KONG_ADMIN_URL}/config", json=config, timeout=30)
            assert loaded.status_code == 201, loaded.text
            _KONG_LOADED[0] = key

    proxy = urlsplit(KONG_PROXY_URL)
    status = urlsplit(os.environ.get("KONG_STATUS_URL", KONG_ADMIN_URL))
    return Gateway(
        document,
        out,
        proxy.port or 80,
        status.port or 80,
        None,
        host=proxy.hostname or HOST,
        activate=activate,
    )


GatewayFactory = Callable[..., Gateway]


@pytest.fixture(scope="session")
def gateway_factory(
    tmp_path_factory: pytest.TempPathFactory, jwks_file: Path, echo_upstream: EchoUpstream
) -> Iterator[GatewayFactory]:
    """``start(document=None, fresh="", dead=())``: the gateway running ``document``
    (default: the real kong.yml), started on first use and shared by every test asking for the
    same document; a ``fresh`` label gets an instance of its own (rate-limit counters at zero);
    services named in ``dead`` have no upstream listening (HAProxy only)."""
    running: dict[str, Gateway] = {}

    def start(
        document: dict[str, Any] | None = None, *, fresh: str = "", dead: tuple[str, ...] = ()
    ) -> Gateway:
        document = kong_document() if document is None else document
        key = f"{fresh}\n{dead}\n" + json.dumps(document, sort_keys=True)
        if key not in running:
            out = tmp_path_factory.mktemp("gateway")
            running[key] = (
                kong_target(key, out, document, jwks_file, echo_upstream.port, dead)
                if KONG_PROXY_URL
                else start_gateway(out, document, jwks_file, echo_upstream.port, dead)
            )
        return running[key]

    try:
        yield start
    finally:
        for gateway in running.values():
            gateway.stop()


@pytest.fixture(scope="session")
def gateway(gateway_factory: GatewayFactory) -> Gateway:
    """The gateway rendered from the real kong.yml."""
    return gateway_factory()


def sleep_to_next_second(margin: float = 0.02) -> None:
    """Start of a fresh one-second window (HAProxy and this test read the same clock)."""
    time.sleep(1 - time.time() % 1 + margin)
