import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from chassis.auth import key_store
from tests.factories import public_jwk, rsa_private_key

JWKS_PATH = "/.well-known/jwks.json"


class JwksServer:
    """A real HTTP server on an ephemeral port serving ``document``, counting its requests."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.requests = 0
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests += 1
                body = json.dumps(server.document).encode()
                self.send_response(200 if self.path == JWKS_PATH else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}{JWKS_PATH}"

    def stop(self) -> None:
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.httpd.server_close()
            self.thread.join()


@pytest.fixture(autouse=True)
def _fresh_caches() -> Iterator[None]:
    """Each test starts with no JWKS keys in memory or in the cache (nor throttle counters)."""
    cache.clear()
    key_store.clear()
    yield
    cache.clear()
    key_store.clear()


@pytest.fixture(scope="session")
def keys() -> dict[str, Any]:
    """Private keys: ``k1`` published from the start, ``k2`` rotated in later, ``rogue`` never."""
    return {name: rsa_private_key() for name in ("k1", "k2", "rogue")}


@pytest.fixture
def jwks(settings, keys) -> Iterator[JwksServer]:
    server = JwksServer({"keys": [public_jwk(keys["k1"], "k1")]})
    settings.CHASSIS_JWT = {"JWKS_URL": server.url, "ISSUER": "users", "JWKS_TIMEOUT_SECONDS": 1}
    yield server
    server.stop()


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()
