"""The staff admin at /admin/users/ and its static files (whitenoise, manifest storage)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Permission
from django.test import Client
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken

from tests.conftest import HTTPS, bearer, issue_tokens
from tests.factories import PASSWORD, GroupFactory, StaffFactory, UserFactory
from tests.utils import assert_problem, claims_of
from users.models import User
from users.tokens import password_stamp

ADMIN = "/admin/users/"
USERS = f"{ADMIN}users/user/"
NEW_PASSWORD = "another-Quiet-river-77"

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("collected_static")]


@pytest.fixture
def superuser(db: None) -> User:
    return StaffFactory(email="root@example.com", is_superuser=True)


@pytest.fixture
def admin(superuser: User) -> Client:
    client = Client(**HTTPS)
    client.force_login(superuser)
    return client


def emails(response) -> list[str]:
    return [user.email for user in response.context["cl"].result_list]


# --- access --------------------------------------------------------------------------------


def test_login_page_is_served(client: Client):
    response = client.get(f"{ADMIN}login/")

    assert response.status_code == 200
    assert b"users-service administration" in response.content
    assert response["Content-Type"] == "text/html; charset=utf-8"


def test_staff_can_log_in_with_email_and_password(client: Client, superuser: User):
    response = client.post(
        f"{ADMIN}login/?next={ADMIN}", {"username": "ROOT@example.com", "password": PASSWORD}
    )

    assert response.status_code == 302
    assert response["Location"] == ADMIN
    assert client.get(ADMIN).status_code == 200


def test_anonymous_is_sent_to_the_login_page(client: Client):
    response = client.get(USERS)

    assert response.status_code == 302
    assert response["Location"] == f"{ADMIN}login/?next={USERS}"


def test_non_staff_is_sent_to_the_login_page(client: Client, user: User):
    client.force_login(user)

    response = client.get(USERS)

    assert response.status_code == 302
    assert response["Location"] == f"{ADMIN}login/?next={USERS}"


def test_non_staff_cannot_log_in(client: Client, user: User):
    response = client.post(f"{ADMIN}login/", {"username": user.email, "password": PASSWORD})

    assert response.status_code == 200  # the form again, with an error
    assert "_auth_user_id" not in client.session


def test_staff_without_permissions_are_refused_at_the_door(client: Client):
    client.force_login(StaffFactory())

    # chassis.admin.AdminSite: no permission here, no admin (the login page, not an empty index)
    assert client.get(ADMIN)["Location"] == f"{ADMIN}login/?next={ADMIN}"
    assert client.get(USERS)["Location"] == f"{ADMIN}login/?next={USERS}"


def test_staff_with_the_view_permission_sees_accounts(client: Client):
    staff = StaffFactory()
    staff.user_permissions.add(Permission.objects.get(codename="view_user"))
    client.force_login(staff)

    assert client.get(USERS).status_code == 200


def test_a_post_without_csrf_token_is_a_403_problem(superuser: User):
    client = Client(enforce_csrf_checks=True, **HTTPS)
    client.force_login(superuser)

    response = client.post(f"{USERS}add/", {}, HTTP_REFERER="https://testserver/")

    body = assert_problem(response, 403, "csrf-failed", errors=[])
    assert body["detail"].startswith("CSRF verification failed: ")


# --- changelist ----------------------------------------------------------------------------


def test_changelist_lists_accounts_with_filters(admin: Client):
    UserFactory(email="alice@example.com", groups=[GroupFactory(name="tea-party")])

    response = admin.get(USERS)

    assert response.status_code == 200
    changelist = response.context["cl"]
    assert changelist.result_count == 2
    assert emails(response) == ["alice@example.com", "root@example.com"]  # newest first
    titles = [str(spec.title) for spec in changelist.filter_specs]
    assert titles == ["is active", "is staff", "superuser status", "groups", "date joined"]
    assert b'id="changelist-search"' in response.content


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("q=alice", ["alice@example.com"]),
        ("q=Hatter", ["hatter@example.com"]),
        ("q=nobody-like-that", []),
        ("is_staff__exact=1", ["root@example.com"]),
        ("is_active__exact=0", ["gone@example.com"]),
        ("groups__id__exact={tea}", ["hatter@example.com"]),
        (
            "is_active__exact=1&q=example",
            ["hatter@example.com", "alice@example.com", "root@example.com"],
        ),
    ],
)
def test_changelist_search_and_filters(admin: Client, query: str, expected: list[str]):
    tea = GroupFactory(name="tea-party")
    UserFactory(email="alice@example.com", full_name="Alice")
    UserFactory(email="hatter@example.com", full_name="The Hatter", groups=[tea])
    UserFactory(email="gone@example.com", is_active=False)

    response = admin.get(f"{USERS}?{query.format(tea=tea.id)}")

    assert response.status_code == 200
    assert emails(response) == expected


def test_change_page_opens(admin: Client, user: User):
    response = admin.get(f"{USERS}{user.id}/change/")

    assert response.status_code == 200
    assert response.context["original"] == user
    assert b"alice@example.com" in response.content


def test_add_user_stores_a_lower_cased_email(admin: Client):
    response = admin.post(
        f"{USERS}add/",
        {
            "email": "New.Person@Example.COM",
            "full_name": "New Person",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
        },
    )

    assert response.status_code == 302, response.context["adminform"].form.errors
    created = User.objects.get(full_name="New Person")
    assert created.email == "new.person@example.com"
    assert created.check_password(NEW_PASSWORD)


def test_add_user_refuses_an_email_taken_in_another_case(admin: Client, user: User):
    response = admin.post(
        f"{USERS}add/",
        {"email": "ALICE@example.com", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["email"] == ["User with this Email address already exists."]
    assert User.objects.filter(email__iexact="alice@example.com").count() == 1


# --- deactivation --------------------------------------------------------------------------


def test_deactivate_action_deactivates_and_revokes_refresh_tokens(admin: Client, superuser: User):
    targets = [UserFactory(), UserFactory()]
    bystander = UserFactory()
    pairs = [issue_tokens(u) for u in targets]
    spared = issue_tokens(bystander)
    own = issue_tokens(superuser)

    response = admin.post(
        USERS,
        {
            "action": "deactivate_users",
            "_selected_action": [str(u.pk) for u in (*targets, superuser)],
            "confirm": "yes",  # on the action's confirmation page (chassis.backoffice)
        },
        follow=True,
    )

    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert messages == [
        "2 account(s) deactivated.",
        f"{superuser}: Staff cannot deactivate their own account.",
    ]
    logged = LogEntry.objects.order_by("object_id").values_list("object_id", "action_flag")
    assert list(logged) == sorted((str(u.pk), CHANGE) for u in targets)
    for target in targets:
        target.refresh_from_db()
        assert target.is_active is False
    superuser.refresh_from_db()
    bystander.refresh_from_db()
    assert (superuser.is_active, bystander.is_active) == (True, True)
    revoked = set(BlacklistedToken.objects.values_list("token__jti", flat=True))
    assert revoked == {claims_of(p.refresh)["jti"] for p in pairs}
    assert claims_of(spared.refresh)["jti"] not in revoked
    assert claims_of(own.refresh)["jti"] not in revoked


def change_form(user: User, **changes) -> dict:
    data = {
        "email": user.email,
        "full_name": user.full_name,
        "is_active": "on" if user.is_active else "",
        "is_staff": "on" if user.is_staff else "",
        "is_superuser": "on" if user.is_superuser else "",
        "groups": [],
        "user_permissions": [],
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v != ""}


def test_unticking_active_in_the_change_form_revokes_refresh_tokens(admin: Client, user: User):
    pair = issue_tokens(user)

    response = admin.post(f"{USERS}{user.id}/change/", change_form(user, is_active=""))

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.is_active is False
    assert BlacklistedToken.objects.get().token.jti == claims_of(pair.refresh)["jti"]


def test_other_edits_in_the_change_form_revoke_nothing(admin: Client, user: User):
    issue_tokens(user)

    response = admin.post(f"{USERS}{user.id}/change/", change_form(user, full_name="Alice P."))

    assert response.status_code == 302
    assert User.objects.get(pk=user.pk).full_name == "Alice P."
    assert BlacklistedToken.objects.count() == 0


def test_a_password_set_by_staff_ends_the_sessions_of_the_old_one(admin: Client, user: User):
    pair = issue_tokens(user)

    response = admin.post(
        f"{USERS}{user.id}/password/",
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)
    assert user.password_changed_at is not None
    assert BlacklistedToken.objects.get().token.jti == claims_of(pair.refresh)["jti"]
    assert bearer(pair.access).get("/api/v1/users/me").status_code == 401
    fresh = issue_tokens(user, password=NEW_PASSWORD)
    assert claims_of(fresh.access)["pwd_at"] == password_stamp(user)
    assert bearer(fresh.access).get("/api/v1/users/me").status_code == 200


def test_staff_can_disable_password_login_which_also_ends_sessions(admin: Client, user: User):
    pair = issue_tokens(user)

    response = admin.post(
        f"{USERS}{user.id}/password/", {"usable_password": "false", "unset-password": "1"}
    )

    assert response.status_code == 302
    user.refresh_from_db()
    assert user.has_usable_password() is False
    assert BlacklistedToken.objects.count() == 1
    assert bearer(pair.access).get("/api/v1/users/me").status_code == 401


def test_refresh_tokens_are_listed_in_the_admin(admin: Client, user: User):
    issue_tokens(user)

    response = admin.get(f"{ADMIN}token_blacklist/outstandingtoken/")

    assert response.status_code == 200
    assert response.context["cl"].result_count == 1


# --- static files --------------------------------------------------------------------------


def test_admin_static_files_are_served_by_whitenoise(client: Client, collected_static: Path):
    response = client.get("/static/users/admin/css/base.css")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
    body = b"".join(response.streaming_content)
    assert body == (collected_static / "admin/css/base.css").read_bytes()


def test_admin_pages_link_hashed_static_files(client: Client):
    html = client.get(f"{ADMIN}login/").content.decode()

    assert "/static/users/admin/css/base." in html
    assert "/static/users/admin/css/base.css" not in html  # the manifest's hashed name


def test_unknown_static_files_are_404(client: Client):
    assert client.get("/static/users/admin/css/nope.css").status_code == 404


# --- login throttle ------------------------------------------------------------------------


@pytest.fixture
def login_rates(settings) -> None:
    """The production rates: 10 attempts a minute per client address and per account."""
    conf = settings.REST_FRAMEWORK
    rates = {**conf["DEFAULT_THROTTLE_RATES"], "login": "10/min", "login-account": "10/min"}
    settings.REST_FRAMEWORK = {**conf, "DEFAULT_THROTTLE_RATES": rates}


def admin_login(email: str, password: str, *, address: str = "198.51.100.7"):
    client = Client(REMOTE_ADDR=address, **HTTPS)
    return client.post(f"{ADMIN}login/", {"username": email, "password": password})


def login_errors(response) -> list[str]:
    return list(response.context["form"].non_field_errors())


def assert_admin_throttled(response) -> None:
    assert response.status_code == 200
    [message] = login_errors(response)
    wait = re.fullmatch(r"Too many attempts, try again in (\d+) s\.", message)
    assert wait is not None, message
    assert 1 <= int(wait[1]) <= 60


def test_admin_login_guesses_are_throttled_like_the_api(login_rates, superuser: User):
    """Attack: the admin's own login form took hundreds of guesses a minute."""
    guesses = [admin_login(superuser.email, f"guess-{n}") for n in range(10)]

    eleventh = admin_login(superuser.email, PASSWORD)

    assert [response.status_code for response in guesses] == [200] * 10
    assert "Please enter the correct email address and password" in login_errors(guesses[0])[0]
    assert_admin_throttled(eleventh)


def test_admin_login_guesses_at_one_account_from_many_addresses(login_rates, superuser: User):
    for n in range(10):
        admin_login(superuser.email, "guess", address=f"198.51.100.{n}")

    assert_admin_throttled(admin_login(superuser.email, PASSWORD, address="203.0.113.9"))


def test_admin_guesses_at_one_account_leave_others_alone(login_rates, superuser: User):
    for _ in range(10):
        admin_login(StaffFactory().email, "guess", address="198.51.100.7")

    response = admin_login(superuser.email, PASSWORD, address="203.0.113.9")

    assert response.status_code == 302


def test_the_admin_and_the_api_share_one_budget(login_rates, superuser: User):
    api = APIClient(REMOTE_ADDR="198.51.100.7", **HTTPS)
    for n in range(10):
        api.post("/api/v1/auth/token", {"email": superuser.email, "password": f"guess-{n}"})

    assert_admin_throttled(admin_login(superuser.email, PASSWORD, address="198.51.100.8"))


@pytest.mark.parametrize("look_alike", ["\u017fue@example.com", "sue@\uff45xample.com"])
def test_add_user_refuses_a_look_alike_of_a_taken_address(admin: Client, look_alike: str):
    """Attack: the admin saved a look-alike of an existing address as a second account."""
    UserFactory(email="sue@example.com")

    response = admin.post(
        f"{USERS}add/",
        {"email": look_alike, "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["email"] == ["User with this Email address already exists."]
    assert list(User.objects.filter(is_staff=False).values_list("email", flat=True)) == [
        "sue@example.com"
    ]
