"""Addresses in one normal form (users.models): NFKC, case folding, NFKC.

Every stored address is rewritten to its normal form, oldest account first. An address whose
normal form another account already holds (two accounts that read alike, from before the
normal form) is left as it was and logged (``users.email_normal_form_collision``): logins
reach the account holding the normal form, so staff decide in the admin what becomes of the
other one. The lower-case check constraint goes: the normal form is what the code stores,
and it is not always what the database's LOWER() returns (Cherokee letters fold to capitals).
"""

import logging
import unicodedata

from django.db import migrations, models

logger = logging.getLogger("users.migrations")


def _normal_form(address: str) -> str:
    """chassis.accounts.account_key as of this migration (frozen here on purpose)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", address.strip()).casefold())


def emails_normalize(apps, schema_editor):
    User = apps.get_model("users", "User")
    taken = set(User.objects.values_list("email", flat=True))
    for pk, email in User.objects.order_by("date_joined", "pk").values_list("pk", "email"):
        normal = _normal_form(email)
        if normal == email:
            continue
        if normal in taken:
            logger.warning(
                "users.email_normal_form_collision",
                extra={"user_id": str(pk), "email": email, "normal_form": normal},
            )
            continue
        User.objects.filter(pk=pk).update(email=normal)
        taken.discard(email)
        taken.add(normal)


class Migration(migrations.Migration):
    dependencies = [
        ("users", "0002_user_welcome_email_sent_at"),
    ]

    operations = [
        migrations.RemoveConstraint(model_name="user", name="users_user_email_lowercase"),
        migrations.AlterField(
            model_name="user",
            name="email",
            field=models.EmailField(
                help_text="The login, stored in its normal form (NFKC, case-folded).",
                max_length=254,
                unique=True,
                verbose_name="email address",
            ),
        ),
        migrations.RunPython(emails_normalize, migrations.RunPython.noop, elidable=True),
    ]
