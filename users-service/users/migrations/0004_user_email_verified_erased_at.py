from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("users", "0003_email_normal_form")]

    operations = [
        migrations.AddField(
            model_name="user",
            name="email_verified",
            field=models.BooleanField(
                default=False,
                help_text="The owner proved the address (a verification or password-reset link).",
            ),
        ),
        migrations.AddField(
            model_name="user",
            name="erased_at",
            field=models.DateTimeField(
                blank=True,
                editable=False,
                help_text="Set when the account was erased: anonymised, no login (users.erasure).",
                null=True,
            ),
        ),
    ]
