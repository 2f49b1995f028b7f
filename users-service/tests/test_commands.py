"""Management commands: jwt_keys, ensure_demo_staff and ensure_demo_roles."""

from __future__ import annotations

import json
import re
import stat
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from users.keys import keyring, keyring_from_settings
from users.models import User


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- jwt_keys ------------------------------------------------------------------------------


def test_jwt_keys_ensure_creates_private_key_files_once(tmp_path: Path, settings):
    directory = tmp_path / "keys" / "users"
    today = f"{datetime.now(UTC):%Y%m%d}"

    first = run("jwt_keys", "--dir", str(directory), "--ensure", "2")

    files = sorted(directory.glob("*.pem"))
    kids = [f.stem for f in files]
    assert len(kids) == 2
    assert all(re.fullmatch(rf"{today}T\d{{6}}-[0-9a-f]{{6}}", kid) for kid in kids), kids
    assert [mode(f) for f in files] == [0o600, 0o600]
    assert mode(directory) == 0o700
    assert sorted(first.splitlines()) == [
        f"generated signing key {kids[0]} in {directory}",
        f"generated signing key {kids[1]} in {directory}",
    ]
    contents = [f.read_bytes() for f in files]
    assert contents[0] != contents[1]

    second = run("jwt_keys", "--dir", str(directory), "--ensure", "2")

    assert second == f"2 signing key(s) present in {directory}\n"
    assert [f.read_bytes() for f in sorted(directory.glob("*.pem"))] == contents

    settings.JWT_KEYS_DIR = str(directory)
    ring = keyring_from_settings()
    assert sorted(ring.keys) == kids
    assert ring.signing_kid == kids[0]


def test_jwt_keys_ensure_tops_up_to_the_wanted_count(tmp_path: Path):
    run("jwt_keys", "--dir", str(tmp_path), "--ensure", "1")

    out = run("jwt_keys", "--dir", str(tmp_path), "--ensure", "2")

    assert len(list(tmp_path.glob("*.pem"))) == 2
    assert re.fullmatch(r"generated signing key \d{8}T\d{6}-[0-9a-f]{6} in .+\n", out)


@pytest.mark.parametrize(
    "args",
    [(), ("--dir", "somewhere"), ("--ensure", "2"), ("--dir", "somewhere", "--ensure", "0")],
)
def test_jwt_keys_needs_a_directory_and_a_count(args, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)

    with pytest.raises(CommandError, match=r"use --dir DIR --ensure N \(N >= 1\), or --jwks"):
        run("jwt_keys", *args)

    assert list(tmp_path.iterdir()) == []


def test_jwt_keys_prints_the_jwks_of_the_configured_ring():
    out = run("jwt_keys", "--jwks")

    assert json.loads(out) == keyring().jwks()
    assert len(json.loads(out)["keys"]) == 2


# --- ensure_demo_staff ---------------------------------------------------------------------


@pytest.mark.django_db
def test_ensure_demo_staff_creates_a_staff_superuser_with_the_password_on_file(tmp_path: Path):
    password_file = tmp_path / "secrets" / "demo-staff-password"

    out = run("ensure_demo_staff", "--password-file", str(password_file))

    assert out == "created staff account admin@example.com\n"
    assert mode(password_file) == 0o600
    password = password_file.read_text()
    assert len(password) == 16
    user = User.objects.get()
    assert user.email == "admin@example.com"
    assert user.full_name == "Demo Staff"
    assert (user.is_active, user.is_staff, user.is_superuser) == (True, True, True)
    assert user.check_password(password)


@pytest.mark.django_db
def test_ensure_demo_staff_twice_changes_nothing(tmp_path: Path):
    password_file = tmp_path / "demo-staff-password"
    run("ensure_demo_staff", "--password-file", str(password_file))
    before = User.objects.values().get()
    password = password_file.read_text()

    out = run("ensure_demo_staff", "--password-file", str(password_file))

    assert out == ""
    assert User.objects.values().get() == before
    assert password_file.read_text() == password


@pytest.mark.django_db
def test_ensure_demo_staff_resets_the_password_to_the_one_on_file(tmp_path: Path):
    password_file = tmp_path / "demo-staff-password"
    run("ensure_demo_staff", "--password-file", str(password_file), "--email", "Ops@Example.com")
    password_file.write_text("a-replaced-password-1\n")

    out = run(
        "ensure_demo_staff", "--password-file", str(password_file), "--email", "ops@example.com"
    )

    assert out == "reset the password of ops@example.com to the one on file\n"
    user = User.objects.get()
    assert user.email == "ops@example.com"
    assert user.check_password("a-replaced-password-1")


# --- ensure_demo_roles ---------------------------------------------------------------------


@pytest.mark.django_db
def test_ensure_demo_roles_creates_one_staff_account_per_role(tmp_path: Path):
    out = run("ensure_demo_roles", "--password-dir", str(tmp_path / "demo-accounts"))

    assert out.splitlines() == [
        "created catalog-editors account catalog-editor@example.com",
        "created order-managers account order-manager@example.com",
        "created support account support@example.com",
    ]
    accounts = {
        u.email: (u.is_staff, u.is_superuser, [g.name for g in u.groups.all()])
        for u in User.objects.all()
    }
    assert accounts == {
        "catalog-editor@example.com": (True, False, ["catalog-editors"]),
        "order-manager@example.com": (True, False, ["order-managers"]),
        "support@example.com": (True, False, ["support"]),
    }
    for user in User.objects.all():
        path = tmp_path / "demo-accounts" / user.email
        assert mode(path) == 0o600
        assert user.check_password(path.read_text())


@pytest.mark.django_db
def test_ensure_demo_roles_twice_puts_them_back_in_their_group(tmp_path: Path):
    run("ensure_demo_roles", "--password-dir", str(tmp_path))
    editor = User.objects.get(email="catalog-editor@example.com")
    editor.groups.clear()
    before = list(User.objects.order_by("email").values("email", "password"))

    assert run("ensure_demo_roles", "--password-dir", str(tmp_path)) == ""

    assert list(User.objects.order_by("email").values("email", "password")) == before
    assert [g.name for g in editor.groups.all()] == ["catalog-editors"]
