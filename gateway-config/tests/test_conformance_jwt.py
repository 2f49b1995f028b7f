r"""The jwt plugin's answers, token by token, from the running gateway.

Every expectation is what Kong 3.x's jwt plugin does (kong/plugins/jwt/handler.lua and
jwt_parser.lua): token from the first Authorization header (regex
``\s*[Bb]earer\s+(.+)``), parse (header, payload, signature), key claim from the payload then
the header, credential lookup, algorithm equal to the credential's, signature, then
``claims_to_verify``. A refusal is a 401 whose body is compact JSON and the upstream never
sees the request.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import (
    KIDS,
    Gateway,
    GatewayFactory,
    kong_document,
    kong_variant,
    plugin_of,
    route_of,
)
from tests.tokens import (
    access_claims,
    b64url,
    forge,
    hs256_with_public_key,
    segments,
    sign,
    signed_raw,
    with_payload,
)
from tests.wire import JSON_TYPE, SERVER_TOKENS, EchoUpstream, Response, assert_kong_error

ME = "/api/v1/users/me"
KID_A, KID_B = KIDS


@dataclass(frozen=True)
class Keys:
    ring: dict[str, rsa.RSAPrivateKey]
    foreign: rsa.RSAPrivateKey

    def token(self, kid: str = KID_A, **claims: Any) -> str:
        return sign(access_claims(**claims), self.ring[kid], kid=kid)


@pytest.fixture(scope="module")
def keys(signing_keys: dict[str, rsa.RSAPrivateKey], foreign_key: rsa.RSAPrivateKey) -> Keys:
    return Keys(signing_keys, foreign_key)


def bearer(token: str) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {token}")]


def message(text: str) -> bytes:
    return json.dumps({"message": text}, separators=(",", ":")).encode()


def assert_refused(response: Response, upstream: EchoUpstream, body: bytes) -> None:
    """Kong's jwt 401 (kong.response.exit: compact JSON, no request_id) with, since 3.8,
    ``WWW-Authenticate: Bearer`` when no token was found, ``Bearer error="invalid_token"``
    when one was refused (spec/03-plugins/16-jwt/03-access_spec.lua)."""
    assert (response.status, response.body) == (401, body)
    assert response.header("Content-Type") == JSON_TYPE
    assert response.header("Content-Length") == str(len(body))
    assert response.header("Server") == SERVER_TOKENS
    expected = "Bearer" if body == message("Unauthorized") else 'Bearer error="invalid_token"'
    assert response.header_all("WWW-Authenticate") == [expected]
    assert upstream.requests == []


def assert_admitted(response: Response, upstream: EchoUpstream, kid: str) -> dict[str, Any]:
    """200 from the upstream, which got the consumer headers Kong sets; returns its record."""
    assert response.status == 200, response.body
    received = upstream.only()
    consumer = kong_document()["consumers"][0]
    headers = received["headers"]
    assert headers["x-consumer-id"] == consumer["id"]
    assert headers["x-consumer-username"] == consumer["username"]
    assert headers["x-consumer-custom-id"] == consumer["custom_id"]
    assert headers["x-credential-identifier"] == kid
    assert "x-anonymous-consumer" not in headers
    return received


# --- refusals: (case id, headers built from the keys, Kong's body) --------------------------

HeaderBuilder = Callable[[Keys], list[tuple[str, str]]]


def _header_of(token: str) -> dict[str, Any]:
    return json.loads(base64.urlsafe_b64decode(segments(token)[0] + "=="))


REFUSALS: list[tuple[str, HeaderBuilder, bytes]] = [
    ("no-authorization-header", lambda k: [], message("Unauthorized")),
    ("basic-scheme", lambda k: [("Authorization", "Basic xyz")], message("Unauthorized")),
    ("bearer-and-nothing", lambda k: [("Authorization", "Bearer")], message("Unauthorized")),
    ("bearer-and-blanks", lambda k: [("Authorization", "Bearer    ")], message("Unauthorized")),
    (
        "upper-case-scheme",
        lambda k: [("Authorization", f"BEARER {k.token()}")],
        message("Unauthorized"),
    ),
    ("token-without-scheme", lambda k: [("Authorization", k.token())], message("Unauthorized")),
    ("garbage", lambda k: bearer("garbage"), message("Bad token; invalid JSON")),
    (
        "two-segments",
        lambda k: bearer(".".join(segments(k.token())[:2])),
        message("Bad token; invalid JSON"),
    ),
    (
        "header-not-base64url",
        lambda k: bearer("!!!." + ".".join(segments(k.token())[1:])),
        message("Bad token; invalid JSON"),
    ),
    (
        "header-not-json",
        lambda k: bearer(forge("not json", access_claims(), b"sig")),
        message("Bad token; invalid JSON"),
    ),
    (
        "payload-not-json",
        lambda k: bearer(forge({"alg": "RS256", "kid": KID_A}, "x", b"s")),
        message("Bad token; invalid JSON"),
    ),
    (
        "header-without-alg",
        lambda k: bearer(forge({"typ": "JWT", "kid": KID_A}, access_claims(), b"sig")),
        message("Bad token; invalid alg"),
    ),
    (
        "alg-none",
        lambda k: bearer(forge({"alg": "none", "typ": "JWT", "kid": KID_A}, access_claims())),
        message("Bad token; invalid alg"),
    ),
    (
        "alg-unknown",
        lambda k: bearer(forge({"alg": "RS999", "kid": KID_A}, access_claims(), b"sig")),
        message("Bad token; invalid alg"),
    ),
    (
        "alg-not-a-string",
        lambda k: bearer(forge({"alg": 256, "kid": KID_A}, access_claims(), b"sig")),
        message("Bad token; invalid alg"),
    ),
    # Kong's base64url decoder refuses characters outside the alphabet and a 4n+1 length.
    (
        "signature-not-base64url",
        lambda k: bearer(k.token() + ",x"),
        message("Bad token; invalid signature"),
    ),
    (
        "signature-length-4n+1",
        lambda k: bearer(_cut_signature_to_4n1(k.token())),
        message("Bad token; invalid signature"),
    ),
    (
        "no-kid-in-header-or-payload",
        lambda k: bearer(sign(access_claims(), k.ring[KID_A], kid=None)),
        message("No mandatory 'kid' in claims"),
    ),
    (
        "empty-kid",
        lambda k: bearer(sign(access_claims(kid=""), k.ring[KID_A], kid=KID_A)),
        message("Invalid 'kid' in claims"),
    ),
    (
        "unknown-kid",
        lambda k: bearer(sign(access_claims(), k.ring[KID_A], kid="k-1999")),
        message("No credentials found for given 'kid'"),
    ),
    # The payload's kid is read first: a valid header kid does not rescue an unknown one.
    (
        "unknown-kid-in-payload",
        lambda k: bearer(sign(access_claims(kid="k-1999"), k.ring[KID_A], kid=KID_A)),
        message("No credentials found for given 'kid'"),
    ),
    (
        "hs256-keyed-with-the-public-pem",
        lambda k: bearer(hs256_with_public_key(access_claims(), k.ring[KID_A], KID_A)),
        message("Invalid algorithm"),
    ),
    (
        "rs512-with-a-ring-kid",
        lambda k: bearer(sign(access_claims(), k.ring[KID_A], kid=KID_A, algorithm="RS512")),
        message("Invalid algorithm"),
    ),
    (
        "ps256-with-a-ring-kid",
        lambda k: bearer(sign(access_claims(), k.ring[KID_A], kid=KID_A, algorithm="PS256")),
        message("Invalid algorithm"),
    ),
    (
        "foreign-key-with-a-ring-kid",
        lambda k: bearer(sign(access_claims(), k.foreign, kid=KID_A)),
        message("Invalid signature"),
    ),
    (
        "other-ring-key-than-kid-says",
        lambda k: bearer(sign(access_claims(), k.ring[KID_B], kid=KID_A)),
        message("Invalid signature"),
    ),
    (
        "tampered-payload",
        lambda k: bearer(with_payload(k.token(), access_claims(is_staff=True))),
        message("Invalid signature"),
    ),
    (
        "empty-signature",
        lambda k: bearer(".".join(segments(k.token())[:2]) + "."),
        message("Invalid signature"),
    ),
    (
        "header-kid-swapped-to-the-other-key",
        lambda k: bearer(_swap_header_kid(k.token(KID_A), KID_B)),
        message("Invalid signature"),
    ),
    ("expired", lambda k: bearer(k.token(ttl=-60)), b'{"exp":"token expired"}'),
    # Kong: exp <= now is expired.
    ("expires-this-second", lambda k: bearer(k.token(ttl=0)), b'{"exp":"token expired"}'),
    ("expired-long-ago", lambda k: bearer(k.token(exp=0)), b'{"exp":"token expired"}'),
    ("no-exp", lambda k: bearer(k.token(exp=None)), b'{"exp":"must be a number"}'),
    (
        "exp-as-string",
        lambda k: bearer(k.token(exp=str(int(time.time()) + 300))),
        b'{"exp":"must be a number"}',
    ),
    # Kong reads the first Authorization header only.
    # Kong's (.+) captures the rest of the header: the signature segment is then not base64url.
    (
        "two-tokens-in-one-header",
        lambda k: [("Authorization", f"Bearer {k.token()}, Bearer {k.token(KID_B)}")],
        message("Bad token; invalid signature"),
    ),
]


def _cut_signature_to_4n1(token: str) -> str:
    header, payload, signature = segments(token)
    cut = signature[: len(signature) - (len(signature) - 1) % 4]
    assert len(cut) % 4 == 1
    return f"{header}.{payload}.{cut}"


def _swap_header_kid(token: str, kid: str) -> str:
    _, payload, signature = segments(token)
    return f"{b64url({**_header_of(token), 'kid': kid})}.{payload}.{signature}"


@pytest.mark.parametrize(
    ("build", "body"), [pytest.param(b, body, id=i) for i, b, body in REFUSALS]
)
def test_refused_as_kong_refuses(
    gateway: Gateway, upstream: EchoUpstream, keys: Keys, build: HeaderBuilder, body: bytes
) -> None:
    assert_refused(gateway.get(ME, build(keys)), upstream, body)


def test_refusal_sets_no_consumer_and_no_rate_limit_headers(
    gateway: Gateway, upstream: EchoUpstream
) -> None:
    """jwt runs before rate-limiting: a refused request is not counted nor told its quota."""
    response = gateway.get(ME, bearer("garbage"))
    assert_refused(response, upstream, message("Bad token; invalid JSON"))
    names = {name.lower() for name in response.headers}
    assert not {n for n in names if "ratelimit" in n or n.startswith("x-consumer")}


# --- admissions ---------------------------------------------------------------------------


@pytest.mark.parametrize("kid", KIDS)
def test_a_token_of_either_published_key_passes(
    gateway: Gateway, upstream: EchoUpstream, keys: Keys, kid: str
) -> None:
    """Key rotation: both keys of the JWKS are credentials at the same time."""
    token = keys.token(kid)
    received = assert_admitted(gateway.get(ME, bearer(token)), upstream, kid)
    assert received["headers"]["authorization"] == f"Bearer {token}"
    assert (received["method"], received["path"]) == ("GET", ME)


def test_client_sent_consumer_headers_are_replaced_or_removed(
    gateway: Gateway, upstream: EchoUpstream, keys: Keys
) -> None:
    spoofed = [
        ("X-Consumer-ID", "00000000-0000-0000-0000-000000000000"),
        ("X-Consumer-Username", "admin"),
        ("X-Consumer-Custom-ID", "admin"),
        ("X-Credential-Identifier", "k-spoofed"),
        ("X-Anonymous-Consumer", "true"),
    ]
    response = gateway.get(ME, bearer(keys.token(KID_B)) + spoofed + spoofed)
    assert_admitted(response, upstream, KID_B)


def test_the_payload_kid_wins_over_the_header_kid(
    gateway: Gateway, upstream: EchoUpstream, keys: Keys
) -> None:
    token = sign(access_claims(kid=KID_A), keys.ring[KID_A], kid=KID_B)
    assert_admitted(gateway.get(ME, bearer(token)), upstream, KID_A)


@pytest.mark.parametrize(
    "values",
    [("valid", "garbage"), ("garbage", "valid"), ("Basic xyz", "valid")],
    ids=["valid-first", "garbage-first", "basic-first"],
)
def test_two_authorization_lines_are_nginx_400(
    gateway: Gateway, upstream: EchoUpstream, keys: Keys, values: tuple[str, str]
) -> None:
    """nginx refuses a duplicate Authorization line (a unique header) before any plugin
    runs: Kong's error handler answers 400, text/plain when the client names no format."""
    token = keys.token()
    lines = [
        ("Authorization", f"Bearer {token}" if v == "valid" else v if " " in v else f"Bearer {v}")
        for v in values
    ]
    response = gateway.get(ME, lines)
    assert_kong_error(response, 400, "Bad request", "text/plain; charset=utf-8")
    assert response.header("WWW-Authenticate") is None
    assert upstream.requests == []


@pytest.mark.parametrize(
    "value",
    ["bearer {}", "Bearer \t {}", "Token x Bearer {}"],
    ids=["lower-case-scheme", "blanks-after-scheme", "scheme-mid-header"],
)
def test_kong_bearer_regex_is_unanchored_and_case_tolerant(
    gateway: Gateway, upstream: EchoUpstream, keys: Keys, value: str
) -> None:
    r"""Kong matches ``\s*[Bb]earer\s+(.+)`` anywhere in the header."""
    response = gateway.get(ME, [("Authorization", value.format(keys.token()))])
    assert_admitted(response, upstream, KID_A)


def test_pretty_printed_json_segments_pass(
    gateway: Gateway, upstream: EchoUpstream, keys: Keys
) -> None:
    """Any JSON cjson decodes is a header/payload, whitespace and newlines included."""
    header = json.dumps({"alg": "RS256", "typ": "JWT", "kid": KID_B}, indent=2)
    payload = json.dumps(access_claims(), indent=2)
    token = signed_raw(header, payload, keys.ring[KID_B])
    assert_admitted(gateway.get(ME, bearer(token)), upstream, KID_B)


def test_not_yet_valid_passes_when_only_exp_is_verified(
    gateway: Gateway, upstream: EchoUpstream, keys: Keys
) -> None:
    """kong.yml's claims_to_verify is [exp]: Kong does not look at nbf."""
    assert plugin_of(route_of(kong_document(), "users-api"), "jwt")["config"][
        "claims_to_verify"
    ] == ["exp"]
    token = keys.token(nbf=int(time.time()) + 3600)
    assert_admitted(gateway.get(ME, bearer(token)), upstream, KID_A)


def test_options_is_not_authenticated(gateway: Gateway, upstream: EchoUpstream) -> None:
    """run_on_preflight: false skips jwt for every OPTIONS request; without an Origin it is
    not a CORS preflight, so it reaches the upstream, with no consumer headers."""
    response = gateway.request("OPTIONS", ME)
    assert response.status == 200
    received = upstream.only()
    assert received["method"] == "OPTIONS"
    assert not {name for name in received["headers"] if name.startswith("x-consumer")}


def test_preflight_is_answered_without_a_token(gateway: Gateway, upstream: EchoUpstream) -> None:
    response = gateway.request(
        "OPTIONS",
        ME,
        [("Origin", "http://localhost:3000"), ("Access-Control-Request-Method", "GET")],
    )
    assert (response.status, response.body) == (200, b"")
    assert response.header("Access-Control-Allow-Origin") == "http://localhost:3000"
    assert upstream.requests == []


# --- claims_to_verify: [exp, nbf] (a variant of kong.yml) ---------------------------------


def _verify_nbf(document: dict[str, Any]) -> None:
    plugin_of(route_of(document, "users-api"), "jwt")["config"]["claims_to_verify"] = ["exp", "nbf"]


@pytest.fixture(scope="module")
def nbf_gateway(gateway_factory: GatewayFactory) -> Gateway:
    return gateway_factory(kong_variant(_verify_nbf))


def test_not_yet_valid_is_refused_when_nbf_is_verified(
    nbf_gateway: Gateway, upstream: EchoUpstream, keys: Keys
) -> None:
    token = keys.token(nbf=int(time.time()) + 3600)
    assert_refused(nbf_gateway.get(ME, bearer(token)), upstream, b'{"nbf":"token not valid yet"}')


def test_nbf_of_this_second_is_valid(
    nbf_gateway: Gateway, upstream: EchoUpstream, keys: Keys
) -> None:
    """Kong refuses nbf > now only."""
    token = keys.token(nbf=int(time.time()))
    assert_admitted(nbf_gateway.get(ME, bearer(token)), upstream, KID_A)


def test_a_verified_nbf_is_mandatory(
    nbf_gateway: Gateway, upstream: EchoUpstream, keys: Keys
) -> None:
    """users-service's tokens carry no nbf: verifying it would refuse every one of them."""
    assert_refused(
        nbf_gateway.get(ME, bearer(keys.token())), upstream, b'{"nbf":"must be a number"}'
    )


def test_expired_and_not_yet_valid_reports_both(
    nbf_gateway: Gateway, upstream: EchoUpstream, keys: Keys
) -> None:
    """Both errors in one object (cjson's key order is not specified, so compared parsed)."""
    token = keys.token(ttl=-10, nbf=int(time.time()) + 3600)
    response = nbf_gateway.get(ME, bearer(token))
    assert response.status == 401
    assert response.json() == {"exp": "token expired", "nbf": "token not valid yet"}
    assert upstream.requests == []


# --- segments that are not JSON -----------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "payload"),
    [
        ("{not json}", None),
        ('{"alg":"RS256","kid":"k-2026a",}', None),
        (None, '{"kid":"k-2026a","exp":9999999999,}'),
        (None, "{'kid':'k-2026a'}"),
        (None, '{"kid":"k-2026a","exp":01x}'),
    ],
    ids=[
        "header-words",
        "header-trailing-comma",
        "payload-trailing-comma",
        "single-quotes",
        "bad-number",
    ],
)
def test_brace_wrapped_non_json_is_invalid_json(
    gateway: Gateway, upstream: EchoUpstream, header: str | None, payload: str | None
) -> None:
    """Kong's jwt_parser decodes both segments with cjson before anything else: a segment
    that looks like an object but is not JSON is "Bad token; invalid JSON" (HAProxy's
    json_query alone would find the alg or kid and refuse for another reason)."""
    header = header or json.dumps({"alg": "RS256", "typ": "JWT", "kid": KID_A})
    token = forge(header, payload or json.dumps(access_claims()), b"sig")
    assert_refused(gateway.get(ME, bearer(token)), upstream, message("Bad token; invalid JSON"))


@pytest.mark.parametrize(
    "payload",
    [
        '{"kid":"k-2026a","exp":1e12,"n":[1,-2.5,true,null,{"a":"\\u00e9\\n"}]}',
        ' { "kid" : "k-2026a" , "exp" : 0 } ',
    ],
    ids=["every-kind", "spaces"],
)
def test_valid_json_segments_are_not_refused_as_json(
    gateway: Gateway, upstream: EchoUpstream, payload: str
) -> None:
    """The validator accepts JSON: these forged tokens fail on their signature, as in Kong."""
    header = json.dumps({"alg": "RS256", "typ": "JWT", "kid": KID_A})
    token = forge(header, payload, b"sig")
    assert_refused(gateway.get(ME, bearer(token)), upstream, message("Invalid signature"))


# --- the verified-signature cache -----------------------------------------------------------


def test_a_cached_token_still_expires(
    gateway_factory: GatewayFactory, upstream: EchoUpstream, keys: Keys
) -> None:
    """A token's verified signature is remembered (its SHA-256), its claims are not: the
    same token, admitted while valid, is refused once its exp has passed."""
    fresh = gateway_factory(fresh="jwt-cache")
    token = keys.token(ttl=2)
    assert fresh.get(ME, bearer(token)).status == 200
    deadline = time.monotonic() + 30
    while fresh.get(ME, bearer(token)).status == 200:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    upstream.clear()
    assert_refused(fresh.get(ME, bearer(token)), upstream, b'{"exp":"token expired"}')


def test_a_forged_token_is_refused_after_its_genuine_twin_passed(
    gateway: Gateway, upstream: EchoUpstream, keys: Keys
) -> None:
    """The cache key is the whole token: changing one payload byte of a verified token
    misses the cache and fails the signature check."""
    token = keys.token()
    assert gateway.get(ME, bearer(token)).status == 200
    upstream.clear()
    forged = with_payload(token, {**access_claims(), "sub": "someone-else"})
    assert_refused(gateway.get(ME, bearer(forged)), upstream, message("Invalid signature"))


# --- spec/03-plugins/16-jwt/03-access_spec.lua, case by case -----------------------------
# kong.yml's jwt: key_claim_name kid (the spec's iss), RS256 credentials, exp verified,
# run_on_preflight false, header tokens only. Each case names the spec's test.

JWT_SPEC_REFUSALS = [
    ("returns 401 Unauthorized if no JWT is found in the request", None, "Unauthorized"),
    (
        "returns 401 if the claims do not contain the key to identify a secret",
        lambda k: forge({"alg": "RS256", "typ": "JWT"}, access_claims(), b"sig"),
        "No mandatory 'kid' in claims",
    ),
    (
        "returns 401 if the claims do not contain a valid key to identify a secret",
        lambda k: forge({"alg": "RS256", "typ": "JWT"}, {**access_claims(), "kid": ""}, b"sig"),
        "Invalid 'kid' in claims",
    ),
    (
        "returns 401 Unauthorized if the iss does not match a credential",
        lambda k: forge({"alg": "RS256", "kid": "123456789"}, access_claims(), b"sig"),
        "No credentials found for given 'kid'",
    ),
    (
        "returns 401 Unauthorized if the signature is invalid",
        lambda k: sign(access_claims(), k.foreign, kid=KID_A),
        "Invalid signature",
    ),
    (
        "returns 401 Unauthorized if the alg does not match the credential",
        lambda k: hs256_with_public_key(access_claims(), k.ring[KID_A], KID_A),
        "Invalid algorithm",
    ),
]


@pytest.mark.parametrize(
    ("case", "build", "refusal"),
    JWT_SPEC_REFUSALS,
    ids=[case for case, _, _ in JWT_SPEC_REFUSALS],
)
def test_jwt_spec_refusals(
    gateway: Gateway,
    upstream: EchoUpstream,
    keys: Keys,
    case: str,
    build: Callable[[Keys], str] | None,
    refusal: str,
) -> None:
    """16-jwt/03-access_spec.lua, refusals: the named test (``case``): 401, Kong's message,
    ``WWW-Authenticate: Bearer`` without a token, ``Bearer error="invalid_token"`` with one."""
    response = gateway.get(ME, bearer(build(keys)) if build else [])
    assert_refused(response, upstream, message(refusal))


def test_jwt_spec_options_without_preflight_run(gateway: Gateway, upstream: EchoUpstream) -> None:
    """16-jwt/03-access_spec.lua: "returns 200 on OPTIONS requests if run_on_preflight is
    false" (an OPTIONS that is no CORS preflight reaches the service unauthenticated)."""
    assert gateway.request("OPTIONS", ME).status == 200
    assert upstream.only()["method"] == "OPTIONS"


def test_jwt_spec_rs256_verifies_and_identifies_the_consumer(
    gateway: Gateway, upstream: EchoUpstream, keys: Keys
) -> None:
    """16-jwt/03-access_spec.lua, RS256: "verifies JWT", "identifies Consumer"."""
    assert_admitted(gateway.get(ME, bearer(keys.token())), upstream, KID_A)


@pytest.mark.parametrize(
    ("claims", "body"),
    [
        ({"exp": "x"}, {"exp": "must be a number"}),
        ({"exp": 1}, {"exp": "token expired"}),
    ],
    ids=["requires-number", "exp-claim"],
)
def test_jwt_spec_private_claims_checks(
    gateway: Gateway, upstream: EchoUpstream, keys: Keys, claims: dict[str, Any], body: Any
) -> None:
    """16-jwt/03-access_spec.lua, JWT private claims checks: "requires the checked fields to
    be in the claims" (as a number), "checks if the fields are valid: `exp` claim"."""
    token = sign({**access_claims(), **claims}, keys.ring[KID_A], kid=KID_A)
    expected = json.dumps(body, separators=(",", ":")).encode()
    assert_refused(gateway.get(ME, bearer(token)), upstream, expected)
