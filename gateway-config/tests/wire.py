"""HTTP as the conformance suite speaks it: raw requests, responses, Kong's error shape, and
the echo upstream that records what the gateway forwarded (fixtures in conftest.py)."""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from gateway.kong import KONG_VERSION

HOST = "127.0.0.1"
JSON_TYPE = "application/json; charset=utf-8"
SERVER_TOKENS = f"kong/{KONG_VERSION}"


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
    host: str = HOST,
    with_host: bool = True,
) -> Response:
    """One request on a fresh connection, byte for byte as given: the target is not
    normalized (``..`` stays), headers may repeat, Content-Length may lie about the body;
    ``with_host=False`` sends no Host header at all."""
    headers = list(headers)
    names = {name.lower() for name, _ in headers}
    connection = http.client.HTTPConnection(host, port, timeout=10)
    try:
        connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        if "host" not in names and with_host:
            connection.putheader("Host", f"{host}:{port}")
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


KONG_RID = re.compile(r"^[0-9a-f]{32}$")


def assert_kong_error(
    response: Response, status: int, message: str, content_type: str = JSON_TYPE
) -> None:
    """An error Kong makes itself (kong.response.error, 3.5+): its JSON template with the
    message and Kong's request id (the X-Kong-Request-Id it sends), ``Server: kong/<version>``
    and no Via (nothing was proxied)."""
    rid = response.header("X-Kong-Request-Id") or ""
    assert KONG_RID.match(rid), response.headers
    assert response.status == status, response.body
    assert response.header("Content-Type") == content_type
    assert response.header("Server") == SERVER_TOKENS
    assert response.header("Via") is None
    if content_type == JSON_TYPE:
        assert response.body == f'{{\n  "message":"{message}",\n  "request_id":"{rid}"\n}}'.encode()
        assert response.json() == {"message": message, "request_id": rid}
    elif content_type.startswith("text/plain"):
        assert response.body == f"{message}\nrequest_id: {rid}\n".encode()


# --- the echo upstream ----------------------------------------------------------------------


class EchoHandler(BaseHTTPRequestHandler):
    """Answers every method with 200 and a JSON account of the request it received.

    ``X-Echo-Set-Header: Name=value`` makes it add that header to its response (to see what
    the gateway does with upstream headers); ``X-Echo-Status: 504`` makes it answer that
    status."""

    protocol_version = "HTTP/1.1"
    server: EchoServer

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
        extras = [e.partition("=") for e in self.headers.get_all("X-Echo-Set-Header") or []]
        # A Server asked for replaces the handler's own; an empty one means none at all.
        servers = [value.strip() for name, _, value in extras if name.strip().lower() == "server"]
        self.send_response_only(int(self.headers.get("X-Echo-Status") or 200))
        server = servers[0] if servers else self.version_string()
        if server:
            self.send_header("Server", server)
        self.send_header("Date", self.date_time_string())
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        for name, _, value in extras:
            if name.strip().lower() != "server":
                self.send_header(name.strip(), value.strip())
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = do_PURGE = _echo

    def log_message(self, format: str, *args: Any) -> None:
        pass


class EchoServer(ThreadingHTTPServer):
    daemon_threads = True
    records: list[dict[str, Any]]


@dataclass
class EchoUpstream:
    port: int
    server: EchoServer

    @property
    def requests(self) -> list[dict[str, Any]]:
        return self.server.records

    def clear(self) -> None:
        self.server.records.clear()

    def only(self) -> dict[str, Any]:
        """The one request the upstream received (fails when it got none or several)."""
        assert len(self.requests) == 1, self.requests
        return self.requests[0]
