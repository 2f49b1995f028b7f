"""Accounts: email is the login; ids are UUIDs (they travel in tokens and events).

An address is stored in one normal form, chassis.accounts.account_key (NFKC, case folding,
NFKC: ``Sue@Example.COM``, or ``sue@example.com`` spelt with a long s, U+017F, or a full-width
domain, are all ``sue@example.com``), under a unique constraint; registration, the admin
and the login all compare in that form, so two addresses that read alike are one account.
The token's ``email`` claim carries it too. Mail goes to the normal form: an address whose
mailbox depends on case or on compatibility characters (rare) is not one this service can
tell apart from its look-alikes anyway.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from chassis.accounts import account_key
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.utils import timezone


class UserManager(BaseUserManager["User"]):
    """Creation helpers Django's auth machinery (createsuperuser, admin) relies on."""

    use_in_migrations = True

    @classmethod
    def normalize_email(cls, email: str | None) -> str:
        """The address's normal form (the module's docstring): what is stored and compared."""
        return account_key(email or "")

    def create_user(self, email: str, password: str | None = None, **fields: Any) -> User:
        if not email:
            raise ValueError("email is required")
        user = self.model(email=self.normalize_email(email), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields: Any) -> User:
        fields.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **fields)

    def get_by_natural_key(self, username: str | None) -> User:
        return self.get(email=self.normalize_email(username))


class User(AbstractBaseUser, PermissionsMixin):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(
        "email address",
        max_length=254,
        unique=True,
        help_text="The login, stored in its normal form (NFKC, case-folded).",
    )
    full_name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(
        default=True, help_text="Inactive accounts can neither log in nor refresh tokens."
    )
    is_staff = models.BooleanField(default=False, help_text="May use the admin and staff APIs.")
    date_joined = models.DateTimeField(default=timezone.now, db_index=True)
    password_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    welcome_email_sent_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Set once the welcome email was sent."
    )
    email_verified = models.BooleanField(
        default=False,
        help_text="The owner proved the address (a verification or password-reset link).",
    )
    erased_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="Set when the account was erased: anonymised, no login (users.erasure).",
    )

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = ["full_name"]

    class Meta:
        ordering = ("-date_joined",)
        indexes: ClassVar = [models.Index(fields=["-date_joined", "-id"], name="users_joined_idx")]

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email)

    def get_full_name(self) -> str:
        return self.full_name or self.email

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email
