"""Fixtures of the suite: signing keys and their JWKS, an echo upstream, running gateways.

A gateway is the real renderer's output (``python -m gateway render``) run by the installed
HAProxy 2.6 on 127.0.0.1, in front of an echo upstream that answers every request with what it
received and records it, so a test can tell whether a request was forwarded and how.
One HAProxy runs per distinct kong.yml document (session scope); every process started here is
stopped at the end of the session, failed tests included.
"""

from __future__ import annotations

import copy
import http.client
import json
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric import rsa

ROOT = Path(__file__).resolve().parents[1]  # gateway-config/
KONG_YML = ROOT / "kong.yml"
# decK's JSON Schema, vendored (schema/README.md); KONG_SCHEMA overrides its location.
KONG_SCHEMA = ROOT / "schema" / "kong_json_schema.json"
HAPROXY = shutil.which("haproxy") or "/usr/sbin/haproxy"
HOST = "127.0.0.1"
KIDS = ("k-2026a", "k-2026b")
JSON_TYPE = "application/json; charset=utf-8"


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


# --- HTTP on the wire -----------------------------------------------------------------------


@dataclass
class Response:
    status: int
    headers: Message
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def header_all(self, name: str) -> list[str]:
        return self.headers.get_all(name) or []

    def json(self) -> Any:
        return json.loads(self.body)


def send(
    port: int,
    method: str,
    target: str,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes | Iterable[bytes] | None = None,
    *,
    chunked: bool = False,
) -> Response:
    """One request on a fresh connection, byte for byte as given: the target is not
    normalized (``..`` stays), headers may repeat, Content-Length may lie about the body."""
    headers = list(headers)
    names = {name.lower() for name, _ in headers}
    connection = http.client.HTTPConnection(HOST, port, timeout=10)
    try:
        connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        if "host" not in names:
            connection.putheader("Host", f"{HOST}:{port}")
        for name, value in headers:
            connection.putheader(name, value)
        if chunked:
            connection.putheader("Transfer-Encoding", "chunked")
        elif isinstance(body, bytes) and "content-length" not in names:
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(message_body=body, encode_chunked=chunked)
        response = connection.getresponse()
        return Response(response.status, response.headers, response.read())
    finally:
        connection.close()


# --- the echo upstream ----------------------------------------------------------------------


class _EchoHandler(BaseHTTPRequestHandler):
    """Answers every method with 200 and a JSON account of the request it received.

    ``X-Echo-Set-Header: Name=value`` makes it add that header to its response (to see what
    the gateway does with upstream headers)."""

    protocol_version = "HTTP/1.1"
    server: _EchoServer

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip(), 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                pass  # trailers
            return b"".join(chunks)
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _echo(self) -> None:
        body = self._body()
        target = urlsplit(self.path)
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            name = name.lower()
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        record = {
            "method": self.command,
            "path": target.path,
            "query": target.query,
            "headers": headers,
            "body_length": len(body),
        }
        self.server.records.append(record)
        payload = json.dumps(record).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for extra in self.headers.get_all("X-Echo-Set-Header") or []:
            name, _, value = extra.partition("=")
            self.send_header(name.strip(), value.strip())
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_PURGE = _echo

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _EchoServer(ThreadingHTTPServer):
    daemon_threads = True
    records: list[dict[str, Any]]


@dataclass
class EchoUpstream:
    port: int
    server: _EchoServer

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.server.records

    def clear(self) -> None:
        self.server.records.clear()

    def only(self) -> dict[str, Any]:
        """The one request the upstream received (fails when it got none or several)."""
        assert len(self.requests) == 1, self.requests
        return self.requests[0]


@pytest.fixture(scope="session")
def echo_upstream() -> Iterator[EchoUpstream]:
    server = _EchoServer((HOST, 0), _EchoHandler)
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
    """A running HAProxy rendered from ``document``."""

    document: dict[str, Any]
    out: Path
    port: int
    status_port: int
    process: subprocess.Popen[bytes] = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def status_url(self) -> str:
        return f"http://{HOST}:{self.status_port}"

    def request(
        self,
        method: str,
        target: str,
        headers: Iterable[tuple[str, str]] = (),
        body: bytes | Iterable[bytes] | None = None,
        *,
        chunked: bool = False,
    ) -> Response:
        return send(self.port, method, target, headers, body, chunked=chunked)

    def get(self, target: str, headers: Iterable[tuple[str, str]] = ()) -> Response:
        return self.request("GET", target, headers)

    def stop(self) -> None:
        if self.process.poll() is None:
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
) -> subprocess.CompletedProcess[str]:
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
            *(f"--upstream={service['name']}={HOST}:{upstream_port}" for service in services),
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


def start_gateway(out: Path, document: dict[str, Any], jwks: Path, upstream_port: int) -> Gateway:
    port, status_port = free_port(), free_port()
    rendered = render(
        document, out, jwks, upstream_port=upstream_port, port=port, status_port=status_port
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
            [HAPROXY, "-db", "-f", str(config)], stdout=sink, stderr=subprocess.STDOUT
        )
    gateway = Gateway(document, out, port, status_port, process)
    try:
        _wait_listening(process, port, log)
    except BaseException:
        gateway.stop()
        raise
    return gateway


GatewayFactory = Callable[..., Gateway]


@pytest.fixture(scope="session")
def gateway_factory(
    tmp_path_factory: pytest.TempPathFactory, jwks_file: Path, echo_upstream: EchoUpstream
) -> Iterator[GatewayFactory]:
    """``start(document=None, fresh="")``: the gateway running ``document`` (default: the
    real kong.yml), started on first use and shared by every test asking for the same
    document; a ``fresh`` label gets an instance of its own (rate-limit counters at zero)."""
    running: dict[str, Gateway] = {}

    def start(document: dict[str, Any] | None = None, *, fresh: str = "") -> Gateway:
        document = kong_document() if document is None else document
        key = fresh + "\n" + json.dumps(document, sort_keys=True)
        if key not in running:
            out = tmp_path_factory.mktemp("gateway")
            running[key] = start_gateway(out, document, jwks_file, echo_upstream.port)
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
