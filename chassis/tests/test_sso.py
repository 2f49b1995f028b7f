"""Staff single sign-on: admin login through users-service's token endpoint (a real HTTP
server here), verified with its JWKS, into a local shadow user."""

from collections.abc import Iterator

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.models import Group, Permission
from django.test import RequestFactory

from chassis.admin import LoginForm
from chassis.testing import IdentityServer, TokenSigner, chassis_with

STAFF_SUB = "0b7a4f1e-2c3d-4e5f-8a9b-000000000001"
BACKENDS = ["chassis.sso.UsersServiceBackend", "django.contrib.auth.backends.ModelBackend"]
ACCOUNTS = {
    "root@example.com": ("root-password", {"sub": STAFF_SUB, "name": "Root", "is_staff": True,
                                           "is_superuser": True, "groups": []}),
    "editor@example.com": ("editor-password", {"sub": "sub-editor", "name": "Ed", "is_staff": True,
                                               "groups": ["catalog-editors", "unknown-here"]}),
    "buyer@example.com": ("buyer-password", {"sub": "sub-buyer", "is_staff": False}),
}  # fmt: skip


@pytest.fixture
def identity(settings) -> Iterator[IdentityServer]:
    server = IdentityServer(TokenSigner.generate("sso-key"), ACCOUNTS)
    settings.AUTHENTICATION_BACKENDS = BACKENDS
    settings.CHASSIS = chassis_with(
        JWT={"JWKS_URL": server.url, "ISSUER": "users", "JWKS_TIMEOUT_SECONDS": 1},
        SSO={"TOKEN_URL": server.token_url, "TIMEOUT_SECONDS": 1},
    )
    yield server
    server.stop()


def login(email: str, password: str):
    request = RequestFactory().post("/admin/login/", REMOTE_ADDR="203.0.113.9")
    return authenticate(request, username=email, password=password)


@pytest.mark.django_db
def test_staff_login_creates_a_shadow_superuser_from_the_claims(identity):
    user = login("root@example.com", "root-password")

    assert user is not None
    assert (user.username, user.email, user.first_name) == (STAFF_SUB, "root@example.com", "Root")
    assert (user.is_staff, user.is_superuser, user.is_active) == (True, True, True)
    assert user.has_usable_password() is False
    assert user.backend == "chassis.sso.UsersServiceBackend"
    assert identity.logins == [("root@example.com", "203.0.113.9")]  # client IP passed on


@pytest.mark.django_db
def test_a_second_login_updates_the_same_shadow_user(identity):
    first = login("root@example.com", "root-password")
    identity.accounts["root@example.com"][1]["name"] = "Root Renamed"
    identity.accounts["root@example.com"][1]["is_superuser"] = False

    second = login("root@example.com", "root-password")

    assert second.pk == first.pk
    assert (second.first_name, second.is_superuser) == ("Root Renamed", False)
    assert get_user_model().objects.count() == 1
    identity.accounts["root@example.com"][1].update(name="Root", is_superuser=True)


@pytest.mark.django_db
def test_staff_get_the_local_groups_named_in_their_token(identity):
    editors = Group.objects.create(name="catalog-editors")
    editors.permissions.add(Permission.objects.get(codename="change_group"))

    user = login("editor@example.com", "editor-password")

    assert [g.name for g in user.groups.all()] == ["catalog-editors"]  # unknown names skipped
    assert user.is_superuser is False
    assert user.has_perm("auth.change_group") is True
    assert user.has_perm("auth.delete_group") is False


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("root@example.com", "wrong-password"),  # refused by users-service
        ("nobody@example.com", "root-password"),
        ("buyer@example.com", "buyer-password"),  # a valid account, but not staff
    ],
)
def test_refused_logins_create_no_user(identity, email, password):
    assert login(email, password) is None
    assert get_user_model().objects.count() == 0


@pytest.mark.django_db
def test_a_token_not_signed_by_a_published_key_is_refused(identity):
    identity.document = {"keys": [TokenSigner.generate("sso-key").jwk]}  # same kid, other key

    assert login("root@example.com", "root-password") is None
    assert get_user_model().objects.count() == 0


@pytest.mark.django_db
def test_users_service_down_refuses_the_login(identity, settings):
    settings.CHASSIS = chassis_with(SSO={"TOKEN_URL": "http://127.0.0.1:1/api/v1/auth/token"})

    assert login("root@example.com", "root-password") is None


@pytest.mark.django_db
def test_local_accounts_still_sign_in_through_model_backend(identity):
    get_user_model().objects.create_superuser("localadmin", "", "local-password")

    user = login("localadmin", "local-password")

    assert user is not None
    assert user.backend == "django.contrib.auth.backends.ModelBackend"
    assert identity.logins == []  # usernames without @ never go to users-service


# --- the staff member's real address, and users-service's throttles -------------------------

GATEWAY = "10.0.0.254"


@pytest.mark.django_db
def test_the_staff_members_real_address_is_passed_on_not_the_gateways(identity, settings):
    """Attack: behind the gateway every staff sign-in reached users-service from the gateway's
    address, one throttle bucket for all staff: ten wrong passwords locked everyone out."""
    settings.CHASSIS = chassis_with(TRUSTED_PROXIES=["10.0.0.0/24"])
    request = RequestFactory().post(
        "/admin/login/", REMOTE_ADDR=GATEWAY, HTTP_X_FORWARDED_FOR="spoof, 198.51.100.7"
    )

    user = authenticate(request, username="root@example.com", password="root-password")

    assert user is not None
    assert identity.logins == [("root@example.com", "198.51.100.7")]


@pytest.mark.django_db
def test_a_client_cannot_choose_the_address_passed_on(identity):
    """Nothing trusted (the default): X-Forwarded-For is the client's own word, ignored."""
    request = RequestFactory().post(
        "/admin/login/", REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="198.51.100.7"
    )

    authenticate(request, username="root@example.com", password="root-password")

    assert identity.logins == [("root@example.com", "203.0.113.9")]


@pytest.mark.django_db
def test_users_service_throttling_the_login_says_so_on_the_admin_form(identity):
    """The admin form said "enter a correct email and password" when the real reason was the
    throttle; it says how long to wait."""
    identity.retry_after = 42
    request = RequestFactory().post("/admin/login/", REMOTE_ADDR="203.0.113.9")
    form = LoginForm(request, data={"username": "root@example.com", "password": "root-password"})

    assert form.is_valid() is False
    assert form.errors == {"__all__": ["Too many attempts, try again in 42 s."]}
    assert form.non_field_errors().as_data()[0].code == "throttled"
    assert get_user_model().objects.count() == 0
