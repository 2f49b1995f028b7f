import base64
import hashlib
import hmac
import json
import pickle
import threading
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from django.core.cache import cache
from django.test import override_settings

from chassis.auth import KeyStore, TokenUser, decode_access_token, fetch_jwks, key_store
from chassis.testing import chassis_with
from tests.factories import DROP, access_claims, access_token, public_jwk

ME = "/api/v1/me/"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: object) -> str:
    return b64url(json.dumps(value).encode())


def get_me(client, token: str):
    return client.get(ME, HTTP_AUTHORIZATION=f"Bearer {token}")


def assert_rejected(response, detail: str, code: str = "token-not-valid") -> None:
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    assert response.json() == {
        "type": f"urn:problem-type:{code}",
        "title": "Authentication required.",
        "status": 401,
        "detail": detail,
        "errors": [],
        "correlation_id": response["X-Request-ID"],
    }


def test_valid_token_authenticates_a_token_user(api_client, jwks, keys):
    token = access_token(keys["k1"], "k1", jti="jti-1", groups=["buyers", "staff-ops"])

    response = get_me(api_client, token)

    assert response.status_code == 200
    assert response.json() == {
        "id": "42",
        "email": "ada@example.com",
        "full_name": "Ada Lovelace",
        "is_staff": False,
        "groups": ["buyers", "staff-ops"],
        "jti": "jti-1",
    }
    assert jwks.requests == 1


def test_keys_are_fetched_once_and_reused(api_client, jwks, keys):
    for _ in range(3):
        assert get_me(api_client, access_token(keys["k1"], "k1")).status_code == 200

    assert jwks.requests == 1


def test_each_process_fetches_its_own_keys_from_the_jwks(api_client, jwks, keys):
    assert get_me(api_client, access_token(keys["k1"], "k1")).status_code == 200
    key_store.clear()  # another process: empty memory

    assert get_me(api_client, access_token(keys["k1"], "k1")).status_code == 200
    assert jwks.requests == 2


def test_the_keys_are_never_written_to_the_shared_cache(api_client, jwks, keys, shared_redis_cache):
    assert get_me(api_client, access_token(keys["k1"], "k1")).status_code == 200

    assert list(shared_redis_cache.scan_iter(cache.make_and_validate_key("*"))) == []


@pytest.mark.parametrize("kid", ["rogue", "k1"])
def test_keys_written_into_the_shared_cache_are_not_trusted(
    api_client, jwks, keys, shared_redis_cache, kid
):
    """Attack: write the attacker's public key where the verifier used to keep the JWKS in
    Redis (under the name the cache gives it, pickled as Django's Redis cache stores values),
    then present a staff token signed with the attacker's private key (a new kid, or the kid
    of the real key)."""
    forged = {"keys": [public_jwk(keys["rogue"], kid)]}
    stored_as = cache.make_and_validate_key("chassis:jwks")  # where the JWKS used to be kept
    shared_redis_cache.set(stored_as, pickle.dumps(forged), ex=300)
    token = access_token(keys["rogue"], kid, is_staff=True)

    response = api_client.get("/api/v1/staff/report/", HTTP_AUTHORIZATION=f"Bearer {token}")

    detail = {
        "rogue": "Token is signed with an unknown key.",
        "k1": "Token is invalid: Signature verification failed",
    }[kid]
    assert_rejected(response, detail)
    assert jwks.requests == 1  # the keys came from users-service's JWKS


@pytest.mark.django_db
def test_authentication_makes_no_database_query(api_client, jwks, keys, django_assert_num_queries):
    token = access_token(keys["k1"], "k1")

    with django_assert_num_queries(0):
        response = get_me(api_client, token)

    assert response.status_code == 200


def test_token_user_from_claims():
    claims = access_claims(sub=7, is_staff=True, groups=["a", "b"])

    user = TokenUser.from_claims(claims)

    assert (user.id, user.pk, user.email, user.full_name) == (
        "7",
        "7",
        "ada@example.com",
        "Ada Lovelace",
    )
    assert user.is_staff is True
    assert user.groups == ("a", "b")
    assert user.in_group("b") is True
    assert user.in_group("c") is False
    assert (user.is_authenticated, user.is_anonymous, user.is_active) == (True, False, True)
    assert str(user) == "ada@example.com"
    assert user.claims is claims


def test_token_user_defaults_for_absent_optional_claims():
    user = TokenUser.from_claims({"sub": "9"})

    assert (user.id, user.email, user.full_name, user.is_staff, user.groups) == (
        "9",
        "",
        "",
        False,
        (),
    )


@pytest.mark.parametrize("claim", [True, "true", 1, "yes", None])
def test_is_staff_only_when_the_claim_is_exactly_true(claim):
    assert TokenUser.from_claims({"sub": "1", "is_staff": claim}).is_staff is (claim is True)


def test_staff_endpoint_admits_staff(api_client, jwks, keys):
    token = access_token(keys["k1"], "k1", is_staff=True)

    response = api_client.get("/api/v1/staff/report/", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 200
    assert response.json() == {"staff": "42"}


@pytest.mark.parametrize("claim", [False, "true", 1])
def test_staff_endpoint_refuses_non_staff(api_client, jwks, keys, claim):
    token = access_token(keys["k1"], "k1", is_staff=claim)

    response = api_client.get("/api/v1/staff/report/", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert response.json() == {
        "type": "urn:problem-type:permission-denied",
        "title": "Permission denied.",
        "status": 403,
        "detail": "You do not have permission to perform this action.",
        "errors": [],
        "correlation_id": response["X-Request-ID"],
    }


def test_expired_token(api_client, jwks, keys):
    now = int(time.time())
    token = access_token(keys["k1"], "k1", iat=now - 600, exp=now - 1)

    assert_rejected(get_me(api_client, token), "Token has expired.")


def test_token_not_yet_valid(api_client, jwks, keys):
    token = access_token(keys["k1"], "k1", nbf=int(time.time()) + 600)

    assert_rejected(get_me(api_client, token), "Token is invalid: The token is not yet valid (nbf)")


def test_tampered_payload(api_client, jwks, keys):
    header, _, signature = access_token(keys["k1"], "k1").split(".")
    forged = b64json(access_claims(sub="1", is_staff=True))

    response = get_me(api_client, f"{header}.{forged}.{signature}")

    assert_rejected(response, "Token is invalid: Signature verification failed")


def test_signed_by_a_key_outside_the_jwks_with_a_known_kid(api_client, jwks, keys):
    token = access_token(keys["rogue"], "k1")

    assert_rejected(get_me(api_client, token), "Token is invalid: Signature verification failed")


def test_alg_none_is_refused(api_client, jwks, keys):
    token = jwt.encode(access_claims(), None, algorithm="none", headers={"kid": "k1"})

    assert_rejected(
        get_me(api_client, token), "Token is invalid: The specified alg value is not allowed"
    )


def test_hs256_signed_with_the_public_key_is_refused(api_client, jwks, keys):
    secret = (
        keys["k1"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    signing_input = (
        f"{b64json({'alg': 'HS256', 'kid': 'k1', 'typ': 'JWT'})}.{b64json(access_claims())}"
    )
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()

    response = get_me(api_client, f"{signing_input}.{b64url(signature)}")

    assert_rejected(response, "Token is invalid: The specified alg value is not allowed")


def test_unknown_kid_refetches_once_per_interval(api_client, jwks, keys):
    assert get_me(api_client, access_token(keys["k1"], "k1")).status_code == 200
    assert jwks.requests == 1

    first = get_me(api_client, access_token(keys["rogue"], "forged-1"))
    assert_rejected(first, "Token is signed with an unknown key.")
    assert jwks.requests == 2

    second = get_me(api_client, access_token(keys["rogue"], "forged-2"))
    assert_rejected(second, "Token is signed with an unknown key.")
    assert jwks.requests == 2


def test_unknown_kid_refetches_again_after_the_interval(jwks, keys, monkeypatch, settings):
    now = [1000.0]
    monkeypatch.setattr(key_store, "clock", lambda: now[0])
    settings.CHASSIS = chassis_with(JWT={"JWKS_MIN_REFRESH_SECONDS": 30})
    assert key_store.key_for("k1") is not None
    assert key_store.key_for("forged") is None
    assert jwks.requests == 2

    now[0] += 29.9
    assert key_store.key_for("forged") is None
    assert jwks.requests == 2

    now[0] += 0.1
    assert key_store.key_for("forged") is None
    assert jwks.requests == 3


def test_keys_reload_after_the_cache_lifetime(jwks, keys, settings):
    now = [0.0]
    store = KeyStore(clock=lambda: now[0])
    settings.CHASSIS = chassis_with(JWT={"JWKS_CACHE_SECONDS": 300})
    assert store.key_for("k1") is not None
    now[0] = 300.0
    assert store.key_for("k1") is not None
    assert jwks.requests == 1

    now[0] = 300.5
    assert store.key_for("k1") is not None
    assert jwks.requests == 2


def test_rotated_key_is_picked_up_on_first_use(api_client, jwks, keys):
    assert get_me(api_client, access_token(keys["k1"], "k1")).status_code == 200
    jwks.document = {"keys": [public_jwk(keys["k1"], "k1"), public_jwk(keys["k2"], "k2")]}

    assert get_me(api_client, access_token(keys["k2"], "k2")).status_code == 200
    assert get_me(api_client, access_token(keys["k2"], "k2")).status_code == 200
    assert get_me(api_client, access_token(keys["k1"], "k1")).status_code == 200
    assert jwks.requests == 2


def test_a_key_rotated_in_during_the_cooldown_is_picked_up_once_it_has_passed(
    jwks, keys, monkeypatch, settings
):
    """A forged kid spends the refetch; the real new key waits for the cooldown, no longer."""
    now = [1000.0]
    monkeypatch.setattr(key_store, "clock", lambda: now[0])
    settings.CHASSIS = chassis_with(JWT={"JWKS_MIN_REFRESH_SECONDS": 30})
    assert key_store.key_for("k1") is not None
    assert key_store.key_for("forged") is None
    jwks.document = {"keys": [public_jwk(keys["k1"], "k1"), public_jwk(keys["k2"], "k2")]}

    now[0] += 10
    assert key_store.key_for("k2") is None
    now[0] += 20
    assert key_store.key_for("k2") is not None
    assert jwks.requests == 3


def test_concurrent_requests_for_an_unknown_kid_share_one_fetch(jwks, keys):
    assert key_store.key_for("k1") is not None
    jwks.document = {"keys": [public_jwk(keys["k1"], "k1"), public_jwk(keys["k2"], "k2")]}
    barrier = threading.Barrier(8)
    found = []

    def verify() -> None:
        barrier.wait(timeout=10)
        found.append(key_store.key_for("k2") is not None)

    threads = [threading.Thread(target=verify) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert found == [True] * 8
    assert jwks.requests == 2


@pytest.mark.parametrize("claim", ["sub", "exp", "jti", "iat"])
def test_required_claim_missing(api_client, jwks, keys, claim):
    token = access_token(keys["k1"], "k1", **{claim: DROP})

    assert_rejected(
        get_me(api_client, token), f'Token is invalid: Token is missing the "{claim}" claim'
    )


def test_wrong_issuer(api_client, jwks, keys):
    token = access_token(keys["k1"], "k1", iss="catalog")

    assert_rejected(get_me(api_client, token), "Token is invalid: Invalid issuer")


def test_missing_issuer(api_client, jwks, keys):
    token = access_token(keys["k1"], "k1", iss=DROP)

    assert_rejected(get_me(api_client, token), 'Token is invalid: Token is missing the "iss" claim')


@pytest.mark.parametrize("token_type", ["refresh", DROP])
def test_only_access_tokens_authenticate(api_client, jwks, keys, token_type):
    token = access_token(keys["k1"], "k1", token_type=token_type)

    assert_rejected(get_me(api_client, token), "Token is not an access token.")


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "a.b.c",
        "....",
        f"{b64json([1, 2])}.{b64json({})}.c2ln",
        f"{b64json({'alg': 'RS256', 'kid': 123})}.{b64json({})}.c2ln",
        f"{b64json({'alg': 'RS256', 'kid': 'k1', 'crit': ['exp']})}.{b64json({})}.c2ln",
    ],
)
def test_malformed_token(api_client, jwks, token):
    assert_rejected(get_me(api_client, token), "Token is malformed.")


@pytest.mark.parametrize("header", [{"alg": "RS256"}, {"alg": "RS256", "kid": ""}])
def test_token_without_kid(api_client, jwks, keys, header):
    token = f"{b64json(header)}.{b64json(access_claims())}.c2ln"

    assert_rejected(get_me(api_client, token), "Token has no 'kid' header.")
    assert jwks.requests == 0


@pytest.mark.parametrize("value", ["Bearer", "Bearer a b", "bearer  one two three"])
def test_bearer_header_must_have_two_parts(api_client, jwks, value):
    response = api_client.get(ME, HTTP_AUTHORIZATION=value)

    assert_rejected(response, "Authorization header must be 'Bearer <token>'.")


def test_non_ascii_token(api_client, jwks):
    response = api_client.get(ME, HTTP_AUTHORIZATION="Bearer t\u00f6k\u00e9n")

    assert_rejected(response, "Token is malformed.")


@pytest.mark.parametrize("groups", ["admins", [1], {"a": "b"}, ["ok", None]])
def test_malformed_groups_claim(api_client, jwks, keys, groups):
    token = access_token(keys["k1"], "k1", groups=groups)

    assert_rejected(get_me(api_client, token), "Token claim 'groups' is malformed.")


@pytest.mark.parametrize("header", [None, "Basic dXNlcjpwYXNz", "Token abc"])
def test_other_schemes_leave_the_request_anonymous(api_client, jwks, header):
    extra = {"HTTP_AUTHORIZATION": header} if header else {}

    response = api_client.get(ME, **extra)

    assert_rejected(
        response, "Authentication credentials were not provided.", code="not-authenticated"
    )
    assert jwks.requests == 0


def test_jwks_server_down_rejects_without_error(api_client, jwks, keys):
    jwks.stop()

    response = get_me(api_client, access_token(keys["k1"], "k1"))

    assert_rejected(response, "Token is signed with an unknown key.")


def test_cached_keys_keep_working_while_the_jwks_server_is_down(api_client, jwks, keys, settings):
    settings.CHASSIS = chassis_with(JWT={"JWKS_CACHE_SECONDS": 0})  # reload each time
    assert get_me(api_client, access_token(keys["k1"], "k1")).status_code == 200
    jwks.stop()

    assert get_me(api_client, access_token(keys["k1"], "k1")).status_code == 200
    assert jwks.requests == 1


def test_verification_works_while_the_shared_cache_is_down(api_client, jwks, keys):
    cache_down = {"default": {"BACKEND": "tests.caches.UnreachableCache"}}
    with override_settings(CACHES=cache_down):
        response = get_me(api_client, access_token(keys["k1"], "k1"))

    assert response.status_code == 200
    assert jwks.requests == 1


def test_unusable_jwks_entries_are_skipped(api_client, jwks, keys):
    jwks.document = {
        "keys": [
            "junk",
            {"kty": "RSA", "kid": "broken", "n": "AQAB"},
            {"kty": "oct", "kid": "symmetric", "k": "c2VjcmV0"},
            {**public_jwk(keys["k2"], "k2"), "kid": ""},
            public_jwk(keys["k1"], "k1"),
        ]
    }

    assert get_me(api_client, access_token(keys["k1"], "k1")).status_code == 200
    assert set(key_store._keys) == {"k1"}


@pytest.mark.parametrize("document", [[], {"keys": "none"}, {"nokeys": []}])
def test_jwks_document_of_the_wrong_shape_yields_no_keys(api_client, jwks, keys, document):
    jwks.document = document

    assert_rejected(
        get_me(api_client, access_token(keys["k1"], "k1")), "Token is signed with an unknown key."
    )


def test_decode_access_token_returns_the_claims(jwks, keys):
    claims = access_claims(groups=["g"])
    token = jwt.encode(claims, keys["k1"], algorithm="RS256", headers={"kid": "k1"})

    assert decode_access_token(token) == claims


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/jwks.json"])
def test_fetch_jwks_accepts_only_http_urls(url):
    with pytest.raises(ValueError, match="JWKS_URL must be http"):
        fetch_jwks(url, 1)


def test_a_dead_jwks_endpoint_is_retried_with_backoff_not_on_every_request(keys, settings):
    """Keys expired and the JWKS endpoint down: the known keys keep verifying and requests do
    not each wait on a fetch; the fetch is retried after JWKS_MIN_REFRESH_SECONDS."""
    settings.CHASSIS = chassis_with(JWT={"JWKS_CACHE_SECONDS": 300, "JWKS_MIN_REFRESH_SECONDS": 30})
    now, calls, up = [0.0], [], [True]

    def fetch(url: str, timeout: float) -> dict:
        calls.append(now[0])
        if not up[0]:
            raise OSError("connection refused")
        return {"keys": [public_jwk(keys["k1"], "k1")]}

    store = KeyStore(fetch=fetch, clock=lambda: now[0])
    assert store.key_for("k1") is not None
    up[0] = False
    for moment in (301.0, 302.0, 320.0, 330.0):
        now[0] = moment
        assert store.key_for("k1") is not None
    assert calls == [0.0, 301.0]
    now[0] = 332.0
    assert store.key_for("k1") is not None
    assert calls == [0.0, 301.0, 332.0]


def test_with_no_key_known_a_failed_fetch_is_retried_after_one_second(settings):
    now, calls = [0.0], []

    def fetch(url: str, timeout: float) -> dict:
        calls.append(now[0])
        raise OSError("connection refused")

    store = KeyStore(fetch=fetch, clock=lambda: now[0])
    assert store.key_for("k1") is None
    now[0] = 0.5
    assert store.key_for("k1") is None
    now[0] = 1.5
    assert store.key_for("k1") is None
    assert calls == [0.0, 1.5]
