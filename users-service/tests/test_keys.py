"""users.keys: the signing key ring from JWT_KEYS / JWT_KEYS_DIR, and its JWKS."""

from __future__ import annotations

from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from django.core.exceptions import ImproperlyConfigured

from tests.conftest import KIDS
from users.keys import keyring, keyring_from_settings, load_private_key


def pem_of(key) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture
def ring_pems(jwt_keys_dir: Path) -> dict[str, str]:
    """The PEMs of the session's two keys, by kid."""
    return {kid: (jwt_keys_dir / f"{kid}.pem").read_text() for kid in KIDS}


def test_the_session_ring_holds_both_keys_and_the_first_kid_signs():
    """Unset JWT_SIGNING_KID: the oldest (first sorted) key signs, so a key added for a
    rotation is published before it signs."""
    ring = keyring()

    assert sorted(ring.keys) == list(KIDS)
    assert ring.signing_kid == KIDS[0]
    assert ring.signing_key is ring.keys[KIDS[0]]
    assert ring.get("nope") is None


def test_keys_can_come_from_the_environment_as_json(settings, ring_pems):
    settings.JWT_KEYS_DIR = ""
    settings.JWT_KEYS = {"env-1": ring_pems[KIDS[0]]}

    ring = keyring()

    assert list(ring.keys) == ["env-1"]
    assert ring.signing_kid == "env-1"


def test_environment_and_directory_keys_are_merged(settings, ring_pems):
    settings.JWT_KEYS = {"a-from-env": ring_pems[KIDS[0]]}

    assert sorted(keyring().keys) == ["a-from-env", *KIDS]


def test_jwt_signing_kid_picks_the_signer(settings):
    settings.JWT_SIGNING_KID = KIDS[1]

    assert keyring().signing_kid == KIDS[1]


def test_the_ring_is_rebuilt_only_when_a_key_setting_changes(settings):
    first = keyring()
    settings.JWT_ISSUER = "unrelated"
    assert keyring() is first

    settings.JWT_SIGNING_KID = KIDS[0]
    assert keyring() is not first


def test_a_signing_kid_outside_the_ring_is_refused(settings):
    settings.JWT_SIGNING_KID = "gone"

    with pytest.raises(ImproperlyConfigured, match="JWT_SIGNING_KID='gone' is not in the key ring"):
        keyring_from_settings()


def test_an_empty_ring_is_refused_with_a_hint(settings, tmp_path: Path):
    settings.JWT_KEYS_DIR = str(tmp_path)

    with pytest.raises(ImproperlyConfigured, match="jwt_keys --dir DIR --ensure 2"):
        keyring_from_settings()


def test_a_missing_directory_counts_as_empty(settings, tmp_path: Path):
    settings.JWT_KEYS_DIR = str(tmp_path / "absent")

    with pytest.raises(ImproperlyConfigured, match="no JWT signing keys"):
        keyring_from_settings()


@pytest.mark.parametrize("kid", ["has space", "slash/", "x" * 65, "ünïcode"])
def test_invalid_kids_are_refused(settings, ring_pems, kid: str):
    settings.JWT_KEYS_DIR = ""
    settings.JWT_KEYS = {kid: ring_pems[KIDS[0]]}

    with pytest.raises(ImproperlyConfigured, match="invalid key id"):
        keyring_from_settings()


def test_a_file_that_is_not_a_pem_key_is_refused(settings, tmp_path: Path):
    (tmp_path / "broken.pem").write_text("-----BEGIN NOTHING-----\n")
    settings.JWT_KEYS_DIR = str(tmp_path)

    with pytest.raises(ImproperlyConfigured, match=r"broken\.pem: not a PEM private key"):
        keyring_from_settings()


def test_only_pem_files_are_read(settings, jwt_keys_dir: Path, tmp_path: Path):
    for kid in KIDS:
        (tmp_path / f"{kid}.pem").write_bytes((jwt_keys_dir / f"{kid}.pem").read_bytes())
    (tmp_path / "README.txt").write_text("not a key")
    settings.JWT_KEYS_DIR = str(tmp_path)

    assert sorted(keyring_from_settings().keys) == list(KIDS)


@pytest.mark.parametrize(
    "make_key",
    [
        lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024),  # noqa: S505
        lambda: ec.generate_private_key(ec.SECP256R1()),
    ],
    ids=["rsa-1024", "ec-p256"],
)
def test_keys_unfit_for_rs256_are_refused(make_key):
    with pytest.raises(ImproperlyConfigured, match="RS256 needs an RSA key of 2048\\+ bits"):
        load_private_key(pem_of(make_key()), "JWT_KEYS[weak]")


def test_the_jwks_holds_public_members_only_and_round_trips():
    ring = keyring()

    jwks = ring.jwks()

    assert [key["kid"] for key in jwks["keys"]] == list(KIDS)
    for key in jwks["keys"]:
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key)
        public = jwt.PyJWK(key).key
        expected = ring.keys[key["kid"]].public_key
        assert public.public_numbers() == expected.public_numbers()


def test_public_pem_is_the_public_half():
    signing = keyring().signing_key

    loaded = serialization.load_pem_public_key(signing.public_pem.encode())

    assert signing.public_pem.startswith("-----BEGIN PUBLIC KEY-----")
    assert loaded.public_numbers() == signing.public_key.public_numbers()
