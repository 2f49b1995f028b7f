"""Read kong.yml, check it uses only what the local gateway reproduces, fill in credentials.

The model is deliberately small: what the renderer needs from Kong's declarative format
(services with routes, route/service/global plugins, consumers). Anything in kong.yml the
HAProxy rendering would not reproduce exactly is refused here, so the two never drift apart.
"""

from __future__ import annotations

import json
import re
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jwt
import yaml
from cryptography.hazmat.primitives import serialization

# The Kong release the platform runs (compose, Kubernetes) and the local gateway answers as:
# its Server/Via tokens, its error bodies; the conformance suite holds the gateway to it.
KONG_VERSION = "3.9.1"
PERIODS = {"second": 1, "minute": 60, "hour": 3600}
# The local gateway measures a chunked body in one request buffer of about this size.
MAX_SIZE_LIMIT = 8 * 1024 * 1024
SUPPORTED_PLUGINS = {
    "jwt",
    "rate-limiting",
    "correlation-id",
    "request-size-limiting",
    "cors",
    "prometheus",
    "opentelemetry",
}
SIZE_UNITS = {"bytes": 1, "kilobytes": 1024, "megabytes": 1024 * 1024}
# Algorithms Kong 3.x's jwt parser knows; anything else is "Bad token; invalid alg".
KONG_JWT_ALGORITHMS = (
    "HS256",
    "HS384",
    "HS512",
    "RS256",
    "RS384",
    "RS512",
    "ES256",
    "ES384",
    "ES512",
    "PS256",
    "PS384",
    "PS512",
    "EdDSA",
)


class ConfigError(ValueError):
    """kong.yml uses something the local gateway does not reproduce, or is malformed."""


@dataclass(frozen=True)
class RateLimit:
    limit: int
    period: str  # second | minute | hour

    @property
    def seconds(self) -> int:
        return PERIODS[self.period]


@dataclass(frozen=True)
class Route:
    name: str
    service: str
    paths: tuple[str, ...]
    jwt: dict[str, Any] | None
    rate_limit: RateLimit | None
    methods: tuple[str, ...] = ()  # empty: any method

    @property
    def match_weight(self) -> int:
        """Kong's router weight (kong/router/compat.lua get_priority): one per kind of match
        criterion. It ranks above the path length: a route with paths and methods is tried
        before every route with paths only, whatever their lengths."""
        return 1 + bool(self.methods)


@dataclass(frozen=True)
class Credential:
    key: str  # the kid
    algorithm: str
    public_key_pem: str


@dataclass
class Gateway:
    """What the renderer needs, extracted from kong.yml."""

    services: dict[str, dict[str, Any]]
    routes: list[Route]
    consumer: dict[str, Any]
    credentials: list[Credential] = field(default_factory=list)
    correlation_header: str | None = None
    size_limit_bytes: int | None = None
    cors: dict[str, Any] | None = None
    prometheus: bool = False
    prometheus_config: dict[str, Any] = field(default_factory=dict)
    trace_context: bool = False  # opentelemetry with W3C propagation: traceparent upstream


def load(path: Path) -> dict[str, Any]:
    document = yaml.safe_load(path.read_text())
    if not isinstance(document, dict) or document.get("_format_version") != "3.0":
        raise ConfigError(f"{path}: not a Kong 3.x declarative file (_format_version 3.0)")
    return document


def _plugins(entity: dict[str, Any], where: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for plugin in entity.get("plugins") or []:
        name = plugin.get("name")
        if name not in SUPPORTED_PLUGINS:
            raise ConfigError(f"{where}: plugin {name!r} is not reproduced by the local gateway")
        if plugin.get("enabled", True):
            found[name] = plugin.get("config") or {}
    return found


def _rate_limit(config: dict[str, Any], where: str) -> RateLimit:
    periods = [p for p in PERIODS if config.get(p)]
    if len(periods) != 1:
        raise ConfigError(f"{where}: rate-limiting needs exactly one of {sorted(PERIODS)}")
    if config.get("limit_by", "consumer") != "ip" or config.get("policy", "local") != "local":
        raise ConfigError(f"{where}: rate-limiting must be limit_by: ip, policy: local")
    if config.get("hide_client_headers"):
        raise ConfigError(f"{where}: hide_client_headers is not reproduced")
    return RateLimit(int(config[periods[0]]), periods[0])


def _check_jwt(config: dict[str, Any], where: str) -> dict[str, Any]:
    conf = {
        "key_claim_name": "iss",
        "claims_to_verify": [],
        "uri_param_names": ["jwt"],
        "cookie_names": [],
        "header_names": ["authorization"],
        "run_on_preflight": True,
        "maximum_expiration": 0,
        "secret_is_base64": False,
        "anonymous": None,
        **config,
    }
    if conf["uri_param_names"] or conf["cookie_names"]:
        raise ConfigError(f"{where}: only header tokens are reproduced (uri_param_names: [])")
    if [h.lower() for h in conf["header_names"]] != ["authorization"]:
        raise ConfigError(f"{where}: header_names must be [authorization]")
    if conf["anonymous"] or conf["secret_is_base64"] or conf["maximum_expiration"]:
        raise ConfigError(f"{where}: anonymous, secret_is_base64, maximum_expiration unsupported")
    if not set(conf["claims_to_verify"]) <= {"exp", "nbf"}:
        raise ConfigError(f"{where}: claims_to_verify may hold exp and nbf only")
    return conf


def _check_unambiguous(routes: list[Route]) -> None:
    """Refuse two routes Kong would rank equal for one request (same path, same weight, a
    method in common): Kong's choice between them is not part of its contract."""
    for index, one in enumerate(routes):
        for other in routes[index + 1 :]:
            if one.match_weight != other.match_weight or not set(one.paths) & set(other.paths):
                continue
            if not one.methods or set(one.methods) & set(other.methods):
                raise ConfigError(
                    f"routes {one.name} and {other.name} match the same requests "
                    "(same path and methods): Kong's choice between them is undefined"
                )


def parse(document: dict[str, Any]) -> Gateway:
    """Extract the gateway model, refusing what the HAProxy rendering cannot reproduce."""
    global_plugins = _plugins(document, "global plugins")
    services: dict[str, dict[str, Any]] = {}
    routes: list[Route] = []
    for service in document.get("services") or []:
        name = service["name"]
        url = urlsplit(service.get("url") or f"http://{service['host']}:{service.get('port', 80)}")
        services[name] = {**service, "host": url.hostname, "port": url.port or 80}
        service_plugins = _plugins(service, f"service {name}")
        for route in service.get("routes") or []:
            where = f"route {route.get('name')}"
            if route.get("strip_path", True) or route.get("hosts") or route.get("headers"):
                raise ConfigError(f"{where}: needs strip_path: false and no hosts/headers")
            methods = tuple(route.get("methods") or ())
            if not all(re.fullmatch(r"[A-Z]+", m) for m in methods):
                raise ConfigError(f"{where}: methods must be upper-case names (Kong's schema)")
            plugins = {**service_plugins, **_plugins(route, where)}
            jwt_conf = _check_jwt(plugins["jwt"], where) if "jwt" in plugins else None
            limit = (
                _rate_limit(plugins["rate-limiting"], where)
                if ("rate-limiting" in plugins)
                else None
            )
            routes.append(
                Route(route["name"], name, tuple(route["paths"]), jwt_conf, limit, methods)
            )
    _check_unambiguous(routes)
    consumers = document.get("consumers") or []
    if len(consumers) != 1:
        raise ConfigError("exactly one consumer (the token issuer) is expected")
    gateway = Gateway(services=services, routes=routes, consumer=consumers[0])
    if "correlation-id" in global_plugins:
        gateway.correlation_header = global_plugins["correlation-id"].get(
            "header_name", "Kong-Request-ID"
        )
    if "request-size-limiting" in global_plugins:
        conf = global_plugins["request-size-limiting"]
        unit = SIZE_UNITS[conf.get("size_unit", "megabytes")]
        gateway.size_limit_bytes = int(conf.get("allowed_payload_size", 128)) * unit
        if gateway.size_limit_bytes > MAX_SIZE_LIMIT or conf.get("require_content_length"):
            raise ConfigError(
                "request-size-limiting: at most 8 megabytes, require_content_length: false"
            )
    gateway.cors = global_plugins.get("cors")
    gateway.prometheus = "prometheus" in global_plugins
    gateway.prometheus_config = dict(global_plugins.get("prometheus") or {})
    if "opentelemetry" in global_plugins:
        _check_trace_propagation(global_plugins["opentelemetry"])
        gateway.trace_context = True
    return gateway


def _check_trace_propagation(conf: dict[str, Any]) -> None:
    """The local gateway reproduces the opentelemetry plugin's propagation (it exports no
    spans): W3C Trace Context only, extracted and injected, every request sampled."""
    propagation = conf.get("propagation") or {}
    if (
        propagation.get("extract") != ["w3c"]
        or propagation.get("inject") != ["w3c"]
        or propagation.get("default_format") != "w3c"
        or propagation.get("clear")
        or conf.get("sampling_rate") != 1
    ):
        raise ConfigError(
            "opentelemetry: the local gateway reproduces propagation {extract: [w3c], "
            "inject: [w3c], default_format: w3c} with sampling_rate: 1 only"
        )


# --- credentials -------------------------------------------------------------------------


def read_jwks(source: str) -> dict[str, Any]:
    """A JWKS from a file path or an http(s) URL (users-service's /.well-known/jwks.json)."""
    if source.startswith(("http://", "https://")):
        with urllib.request.urlopen(source, timeout=5) as response:  # noqa: S310 - scheme checked
            return json.load(response)
    return json.loads(Path(source).read_text())


def credentials_from_jwks(jwks: dict[str, Any]) -> list[Credential]:
    """One RS256 credential per RSA signing key in the JWKS (public parts only)."""
    credentials = []
    for jwk in jwks.get("keys", []):
        if jwk.get("kty") != "RSA" or jwk.get("use", "sig") != "sig" or not jwk.get("kid"):
            continue
        if any(part in jwk for part in ("d", "p", "q")):
            raise ConfigError(f"JWKS key {jwk['kid']!r} holds private material: refusing it")
        public_key = jwt.algorithms.RSAAlgorithm.from_jwk(jwk)
        pem = public_key.public_bytes(  # type: ignore[union-attr]
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ).decode()
        credentials.append(Credential(jwk["kid"], "RS256", pem))
    if not credentials:
        raise ConfigError("the JWKS holds no RSA signing key")
    return credentials


def with_credentials(document: dict[str, Any], credentials: list[Credential]) -> dict[str, Any]:
    """The ready-to-load kong.yml: the consumer's jwt_secrets filled from the credentials."""
    rendered = json.loads(json.dumps(document))  # deep copy
    rendered["consumers"][0]["jwt_secrets"] = [
        {
            "key": c.key,
            "algorithm": c.algorithm,
            "rsa_public_key": c.public_key_pem,
            # Required by the schema; unused for RS256 (no shared secret exists).
            "secret": f"unused-rs256-{c.key}",
        }
        for c in credentials
    ]
    return rendered
