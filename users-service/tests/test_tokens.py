"""The token lifecycle: claims, verification against the JWKS, forgeries, revocation, rotation."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth.models import Group
from django.db import connections
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from tests.conftest import HTTPS, KIDS, bearer, issue_tokens
from tests.factories import PASSWORD, UserFactory
from tests.utils import (
    assert_problem,
    claims_of,
    forge,
    hs256_with,
    in_threads,
    rs256_with,
    sign,
    wait_for_lock_waiter,
)
from users import services
from users.keys import keyring
from users.models import User

ME = "/api/v1/users/me"
REFRESH = "/api/v1/auth/token/refresh"
BAD_REFRESH = "Refresh token is invalid, expired or revoked."
NEW_PASSWORD = "another-Quiet-river-77"

pytestmark = pytest.mark.django_db


def jwks_set(client: APIClient) -> jwt.PyJWKSet:
    return jwt.PyJWKSet.from_dict(client.get("/.well-known/jwks.json").json())


def assert_refused(access: str, detail: str | None = None) -> dict[str, Any]:
    response = bearer(access).get(ME)
    body = assert_problem(response, 401, "token-not-valid")
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    if detail is not None:
        assert body["detail"] == detail
    return body


# --- claims and verification -------------------------------------------------------------


def test_access_token_verifies_against_the_published_jwks(api_client: APIClient):
    editors = Group.objects.create(name="editors")
    user = UserFactory(email="alice@example.com", full_name="Alice Liddell", groups=[editors])
    before = int(time.time())
    pair = issue_tokens(user)

    header = jwt.get_unverified_header(pair.access)
    assert header == {"alg": "RS256", "typ": "JWT", "kid": keyring().signing_kid}
    key = jwks_set(api_client)[header["kid"]]
    claims = jwt.decode(pair.access, key=key.key, algorithms=["RS256"], issuer="users")
    assert set(claims) == {
        "token_type",
        "exp",
        "iat",
        "jti",
        "sub",
        "iss",
        "email",
        "email_verified",
        "name",
        "is_staff",
        "is_superuser",
        "groups",
        "pwd_at",
    }
    assert claims["token_type"] == "access"
    assert claims["sub"] == str(user.id)
    assert claims["iss"] == "users"
    assert claims["email"] == "alice@example.com"
    assert claims["name"] == "Alice Liddell"
    assert claims["is_staff"] is False
    assert claims["is_superuser"] is False
    assert claims["groups"] == ["editors"]
    assert claims["pwd_at"] == 0  # the password never changed
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] - claims["iat"] == 300
    assert uuid.UUID(hex=claims["jti"])


def test_refresh_token_carries_only_identity_claims(api_client: APIClient, user: User):
    pair = issue_tokens(user)

    key = jwks_set(api_client)[jwt.get_unverified_header(pair.refresh)["kid"]]
    claims = jwt.decode(pair.refresh, key=key.key, algorithms=["RS256"], issuer="users")
    assert set(claims) == {"token_type", "exp", "iat", "jti", "sub", "iss", "pwd_at"}
    assert claims["pwd_at"] == 0
    assert claims["token_type"] == "refresh"
    assert claims["exp"] - claims["iat"] == 86_400
    assert claims["jti"] != claims_of(pair.access)["jti"]


def test_the_jwks_publishes_at_least_two_keys(api_client: APIClient):
    assert [key.key_id for key in jwks_set(api_client).keys] == list(KIDS)


def test_staff_and_groups_are_in_the_access_token(user: User):
    user.is_staff = True
    user.save()
    user.groups.add(Group.objects.create(name="zeta"), Group.objects.create(name="alpha"))

    claims = claims_of(issue_tokens(user).access)

    assert (claims["is_staff"], claims["is_superuser"], claims["groups"]) == (
        True,
        False,
        ["alpha", "zeta"],
    )


def test_superuser_flag_is_in_the_access_token(user: User):
    """Other services' admins (single sign-on) make their shadow user a superuser from it."""
    user.is_staff = user.is_superuser = True
    user.save()

    claims = claims_of(issue_tokens(user).access)

    assert (claims["is_staff"], claims["is_superuser"]) == (True, True)


def test_a_valid_access_token_authenticates(user: User):
    response = bearer(issue_tokens(user).access).get(ME)

    assert response.status_code == 200
    assert response.json()["id"] == str(user.id)


# --- refused tokens ----------------------------------------------------------------------


@pytest.fixture
def claims(user: User) -> dict[str, Any]:
    """The claims of a genuine access token of ``user``, ready to be re-signed."""
    return claims_of(issue_tokens(user).access)


def test_expired_token_is_refused(claims: dict[str, Any]):
    now = int(time.time())
    expired = sign({**claims, "iat": now - 400, "exp": now - 100})

    assert_refused(expired)


def test_re_signed_genuine_claims_are_accepted(claims: dict[str, Any]):
    # The control for the forgery tests below: only the forged detail makes them fail.
    assert bearer(sign(claims)).get(ME).status_code == 200


def test_tampered_payload_is_refused(claims: dict[str, Any], user: User):
    genuine = sign(claims)
    head, _, signature = genuine.split(".")
    escalated = forge({}, {**claims, "is_staff": True}).split(".")[1]

    assert_refused(f"{head}.{escalated}.{signature}")


def test_token_signed_by_a_foreign_key_with_a_ring_kid_is_refused(
    claims: dict[str, Any], foreign_key: rsa.RSAPrivateKey
):
    assert_refused(sign(claims, kid=keyring().signing_kid, key=foreign_key))


def test_token_signed_by_another_ring_key_than_its_kid_names_is_refused(claims: dict[str, Any]):
    other = keyring().keys[KIDS[0]].private_key  # test-a signs; the header says test-b

    assert_refused(sign(claims, kid=KIDS[1], key=other))


def test_alg_none_is_refused(claims: dict[str, Any]):
    token = forge({"alg": "none", "typ": "JWT", "kid": keyring().signing_kid}, claims)

    assert_refused(token)


def test_hs256_signed_with_the_public_key_is_refused(claims: dict[str, Any]):
    ring = keyring()
    public_pem = ring.signing_key.public_pem.encode()
    token = hs256_with(public_pem, {"alg": "HS256", "typ": "JWT", "kid": ring.signing_kid}, claims)

    assert_refused(token)


@pytest.mark.parametrize("kid", ["unknown-kid", "", None, 7])
def test_unknown_or_missing_kid_is_refused(claims: dict[str, Any], kid: Any):
    header: dict[str, Any] = {"alg": "RS256", "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid
    token = rs256_with(keyring().signing_key.private_key, header, claims)

    assert_refused(token)


def test_wrong_issuer_is_refused(claims: dict[str, Any]):
    assert_refused(sign({**claims, "iss": "someone-else"}))


@pytest.mark.parametrize("missing", ["exp", "iat", "jti", "sub"])
def test_token_without_a_required_claim_is_refused(claims: dict[str, Any], missing: str):
    assert_refused(sign({k: v for k, v in claims.items() if k != missing}))


def test_refresh_token_used_as_access_token_is_refused(user: User):
    assert_refused(issue_tokens(user).refresh)


def test_token_of_a_deleted_account_is_refused(user: User):
    access = issue_tokens(user).access
    user.delete()

    response = bearer(access).get(ME)

    assert_problem(response, 401, "user-not-found")


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer a b", "Bearer garbage", "Token abc", "Basic YTpi"],
)
def test_malformed_authorization_headers_are_401(header: str):
    client = APIClient(**HTTPS)
    client.credentials(HTTP_AUTHORIZATION=header)

    response = client.get(ME)

    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'


# --- revocation --------------------------------------------------------------------------


def test_password_change_revokes_refresh_and_earlier_access_tokens(user: User):
    old = issue_tokens(user)
    client = bearer(old.access)

    response = client.post(
        f"{ME}/password", {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    )

    assert response.status_code == 204
    refused = APIClient(**HTTPS).post(REFRESH, {"refresh": old.refresh})
    assert_problem(refused, 401, "token-not-valid", detail=BAD_REFRESH)
    assert_refused(old.access, detail="Token was issued before the last password change.")
    new = issue_tokens(user, password=NEW_PASSWORD)
    assert bearer(new.access).get(ME).status_code == 200


def test_deactivated_account_cannot_log_in_refresh_or_use_its_access_token(user: User, staff: User):
    pair = issue_tokens(user)

    services.user_deactivate(user=user, by=staff)

    with pytest.raises(services.InvalidCredentials):
        issue_tokens(user)
    refused = APIClient(**HTTPS).post(REFRESH, {"refresh": pair.refresh})
    assert_problem(refused, 401, "token-not-valid", detail=BAD_REFRESH)
    response = bearer(pair.access).get(ME)
    assert_problem(response, 401, "user-inactive")


def test_a_user_who_lost_staff_gets_is_staff_false_on_refresh(staff: User):
    pair = issue_tokens(staff)
    assert claims_of(pair.access)["is_staff"] is True
    staff.is_staff = False
    staff.save()

    # users-service itself reads the account: the old token no longer opens staff APIs...
    assert_problem(bearer(pair.access).get("/api/v1/users/"), 403, "permission-denied")
    # ...and the next access token tells the other services.
    response = APIClient(**HTTPS).post(REFRESH, {"refresh": pair.refresh})
    assert claims_of(response.json()["access"])["is_staff"] is False


# --- key rotation ------------------------------------------------------------------------


def test_key_rotation_keeps_old_tokens_valid_and_signs_new_ones_with_the_new_key(
    settings, user: User
):
    settings.JWT_SIGNING_KID = KIDS[0]
    before = issue_tokens(user)
    assert jwt.get_unverified_header(before.access)["kid"] == KIDS[0]

    settings.JWT_SIGNING_KID = KIDS[1]

    after = issue_tokens(user)
    assert jwt.get_unverified_header(after.access)["kid"] == KIDS[1]
    assert jwt.get_unverified_header(after.refresh)["kid"] == KIDS[1]
    assert bearer(before.access).get(ME).status_code == 200
    assert bearer(after.access).get(ME).status_code == 200
    rotated = APIClient(**HTTPS).post(REFRESH, {"refresh": before.refresh})
    assert rotated.status_code == 200
    assert jwt.get_unverified_header(rotated.json()["access"])["kid"] == KIDS[1]


def test_a_key_removed_from_the_ring_no_longer_verifies(settings, jwt_keys_dir, user: User):
    settings.JWT_SIGNING_KID = KIDS[0]
    old = issue_tokens(user)
    pem = (jwt_keys_dir / f"{KIDS[1]}.pem").read_text()

    settings.JWT_KEYS_DIR = ""
    settings.JWT_KEYS = {KIDS[1]: pem}
    settings.JWT_SIGNING_KID = ""

    assert_refused(old.access)
    assert [key["kid"] for key in keyring().jwks()["keys"]] == [KIDS[1]]


# --- concurrency (real PostgreSQL row locks) ---------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_refreshes_of_one_token_yield_one_new_pair():
    user = UserFactory()
    refresh = issue_tokens(user).refresh

    def post() -> int:
        return APIClient(**HTTPS).post(REFRESH, {"refresh": refresh}).status_code

    assert sorted(in_threads(post, post)) == [200, 401]
    assert OutstandingToken.objects.count() == 2
    assert BlacklistedToken.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_refresh_waits_for_a_concurrent_rotation_and_then_fails():
    """Deterministic interleaving: rotation A holds the row lock while refresh B arrives."""
    from django.db import transaction

    user = UserFactory()
    refresh = issue_tokens(user).refresh
    results: list[int] = []

    def refresh_b() -> None:
        try:
            results.append(APIClient(**HTTPS).post(REFRESH, {"refresh": refresh}).status_code)
        finally:
            connections.close_all()

    with transaction.atomic():
        row = OutstandingToken.objects.select_for_update().get(jti=claims_of(refresh)["jti"])
        thread = threading.Thread(target=refresh_b)
        thread.start()
        wait_for_lock_waiter()
        BlacklistedToken.objects.create(token=row)  # what rotation A does before committing
    thread.join(timeout=30)

    assert results == [401]
    assert OutstandingToken.objects.count() == 1


def test_refresh_token_from_before_a_password_change_is_refused_even_if_not_revoked(
    api_client: APIClient, user: User
):
    """A refresh token minted while a password change commits escapes the revocation sweep;
    its pwd_at stamp still ties it to the old password."""
    pair = issue_tokens(user)
    User.objects.filter(pk=user.pk).update(password_changed_at=timezone.now())

    response = api_client.post("/api/v1/auth/token/refresh", {"refresh": pair.refresh})

    assert response.status_code == 401
    assert response.json()["type"] == "urn:problem-type:token-not-valid"
