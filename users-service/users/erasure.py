"""Account erasure: what is left of an account once its owner (or staff) erased it.

Nothing personal stays: the address becomes ``erased-<id>@erased.invalid`` (unique, never
mailable: ``.invalid`` is reserved), the name, last login and groups go, the password becomes
unusable (no login, no reset mail) and the account inactive (no refresh); every refresh token
is revoked, and the password stamp moves so access tokens end at once here (and within their
lifetime elsewhere). The row itself stays: its id is what orders and the books refer to.
Copies of the address kept beside it go too: the ``user.registered`` event in the outbox
(kept a while after it was sent) and the admin's history of changes to the account.

``user.erased`` is published in the same transaction (the outbox), so every service that
keeps data of the account learns it exactly once: orders replaces the buyer's address on its
orders. Erasing is idempotent: an erased account changes nothing and publishes nothing again
(its row is locked first, so two concurrent erasures publish one event).
"""

from __future__ import annotations

from chassis.events.models import OutboxEvent
from chassis.events.outbox import publish
from django.contrib.admin.models import LogEntry
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from users.models import User
from users.services import _field_error, user_password_set

ERASED_DOMAIN = "erased.invalid"


def erased_email(user: User) -> str:
    return f"erased-{user.pk.hex}@{ERASED_DOMAIN}"


@transaction.atomic
def user_erase(*, user: User, password: str) -> bool:
    """The owner erases their account, confirming with their password (InvalidInput
    ``invalid`` on ``password`` when it is wrong): see :func:`user_erasure_apply`."""
    if not user.check_password(password):
        raise _field_error("password", "invalid", ["The password is wrong."])
    return user_erasure_apply(user=user)


@transaction.atomic
def user_erasure_apply(*, user: User) -> bool:
    """Anonymise ``user`` (the module's docstring) and publish ``user.erased``; the users
    admin's erase action calls it for staff. True when erased now, False when it already was.
    """
    locked = User.objects.select_for_update().get(pk=user.pk)
    if locked.erased_at is not None:
        return False
    locked.email = erased_email(locked)
    locked.full_name = ""
    locked.last_login = None
    locked.is_active = locked.is_staff = locked.is_superuser = locked.email_verified = False
    locked.erased_at = timezone.now()
    locked.save(
        update_fields=[
            "email",
            "full_name",
            "last_login",
            "is_active",
            "is_staff",
            "is_superuser",
            "email_verified",
            "erased_at",
        ]
    )
    locked.groups.clear()
    locked.user_permissions.clear()
    user_password_set(user=locked, password=None)  # revokes every refresh token too
    _copies_scrub(user=locked)
    publish("user.erased", {"user_id": str(locked.pk)})
    return True


def _copies_scrub(*, user: User) -> None:
    """Replace the address and name where users-service kept copies of them."""
    user_id = str(user.pk)
    OutboxEvent.objects.filter(type="user.registered", payload__user_id=user_id).update(
        payload={"user_id": user_id, "email": user.email, "full_name": ""}
    )
    LogEntry.objects.filter(
        content_type=ContentType.objects.get_for_model(User), object_id=user_id
    ).update(object_repr=user.email)
