"""users.models: the account and its manager."""

from __future__ import annotations

import importlib

import pytest
from django.apps import apps as django_apps
from django.db import IntegrityError, transaction

from tests.factories import PASSWORD, UserFactory
from users.models import User

pytestmark = pytest.mark.django_db


def test_create_user_lower_cases_the_email_and_hashes_the_password():
    user = User.objects.create_user("Bob.Smith@Example.COM", PASSWORD, full_name="Bob Smith")

    assert user.email == "bob.smith@example.com"
    assert user.password != PASSWORD
    assert user.check_password(PASSWORD)
    assert (user.is_active, user.is_staff, user.is_superuser) == (True, False, False)


def test_create_user_needs_an_email():
    with pytest.raises(ValueError, match="email is required"):
        User.objects.create_user("", PASSWORD)


def test_create_superuser_is_staff_and_superuser():
    user = User.objects.create_superuser("root@example.com", PASSWORD)

    assert (user.is_staff, user.is_superuser) == (True, True)


@pytest.mark.parametrize(
    "email", ["Sue@Example.COM", "\u017fue@example.com", "sue@\uff45xample.com", " sue@example.com"]
)
def test_addresses_are_stored_in_their_normal_form(email):
    """The database no longer checks lower case (migration 0003): the code stores the normal
    form, through the manager and through the model's clean() (the admin's forms)."""
    created = User.objects.create_user(email, PASSWORD)
    cleaned = User(email=email)
    cleaned.clean()

    assert (created.email, cleaned.email) == ("sue@example.com", "sue@example.com")


def test_the_database_refuses_a_duplicate_email():
    UserFactory(email="dup@example.com")

    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(email="dup@example.com")


def test_natural_key_lookup_ignores_case():
    user = UserFactory(email="carol@example.com")

    assert User.objects.get_by_natural_key("CAROL@Example.com") == user


def test_clean_lower_cases_the_email():
    user = User(email="Dan@Example.COM")

    user.clean()

    assert user.email == "dan@example.com"


def test_names():
    named = User(email="erin@example.com", full_name="Erin Mary Smith")
    anonymous = User(email="frank@example.com")

    assert (named.get_full_name(), named.get_short_name()) == ("Erin Mary Smith", "Erin")
    assert (anonymous.get_full_name(), anonymous.get_short_name()) == ("frank@example.com",) * 2
    assert str(named) == "erin@example.com"


def test_ids_are_uuids_and_newest_accounts_come_first():
    first, second = UserFactory(), UserFactory()

    assert first.id.version == 4
    assert list(User.objects.all()) == [second, first]


# --- the addresses' normal form (migration 0003) --------------------------------------------


def test_the_migration_stores_addresses_in_their_normal_form_leaving_collisions(caplog):
    """Rows from before the normal form: rewritten, oldest first; one whose normal form is
    taken stays as it was, logged, for staff to settle."""
    migration = importlib.import_module("users.migrations.0003_email_normal_form")
    sue = UserFactory(email="sue@example.com")
    bob = UserFactory(email="\uff42ob@example.com")  # full-width b
    look_alike = UserFactory(email="\u017fue@example.com")

    migration.emails_normalize(django_apps, None)

    emails = dict(User.objects.values_list("pk", "email"))
    assert emails == {
        sue.pk: "sue@example.com",
        bob.pk: "bob@example.com",
        look_alike.pk: "\u017fue@example.com",
    }
    [record] = [r for r in caplog.records if r.msg == "users.email_normal_form_collision"]
    assert (record.user_id, record.normal_form) == (str(look_alike.pk), "sue@example.com")
