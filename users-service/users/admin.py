"""Staff admin for accounts: email login, useful columns, filters and search."""

from datetime import timedelta
from typing import Any

from chassis.backoffice import Panel, confirmed_action
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from users import erasure, services, verification
from users.models import User

RECENT = timedelta(days=7)


def attention(request: HttpRequest) -> list[Panel]:
    """The users admin's "needs attention": accounts registered in the last 7 days, and
    inactive accounts."""
    since = (timezone.now() - RECENT).date()
    recent = User.objects.filter(date_joined__date__gte=since).count()
    inactive = User.objects.filter(is_active=False).count()
    return [
        Panel("Registered in the last 7 days", recent, f"users/user/?date_joined__gte={since}"),
        Panel("Inactive accounts", inactive, "users/user/?is_active__exact=0"),
    ]


class UserCreateForm(UserCreationForm):
    class Meta:
        model = User
        fields = ("email", "full_name")


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = ("email", "full_name")


class PasswordSetForm(AdminPasswordChangeForm):
    """The admin's "change password" form, saved through the service: a password set by staff
    (after a compromise, say) ends the sessions opened with the old one."""

    def save(self, commit: bool = True) -> User:
        usable = self.cleaned_data["set_usable_password"]
        password = self.cleaned_data["password1"] if usable else None
        services.user_password_set(user=self.user, password=password)
        return self.user


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    form = UserEditForm
    add_form = UserCreateForm
    change_password_form = PasswordSetForm
    ordering = ("-date_joined",)
    list_display = (
        "email",
        "full_name",
        "is_active",
        "is_staff",
        "group_names",
        "date_joined",
        "last_login",
    )
    list_filter = ("is_active", "is_staff", "is_superuser", "groups", "date_joined")
    search_fields = ("email", "full_name")
    readonly_fields = (
        "id",
        "date_joined",
        "last_login",
        "password_changed_at",
        "welcome_email_sent_at",
        "email_verified",
        "erased_at",
    )
    filter_horizontal = ("groups", "user_permissions")
    date_hierarchy = "date_joined"
    actions = ("deactivate_users", "erase_users")
    fieldsets = (
        (None, {"fields": ("id", "email", "email_verified", "password")}),
        ("Profile", {"fields": ("full_name",)}),
        (
            "Permissions",
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (
            "Dates",
            {
                "fields": (
                    "date_joined",
                    "last_login",
                    "password_changed_at",
                    "welcome_email_sent_at",
                    "erased_at",
                )
            },
        ),
    )
    add_fieldsets = (
        (None, {"classes": ("wide",), "fields": ("email", "full_name", "password1", "password2")}),
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description="groups")
    def group_names(self, user: User) -> str:
        return ", ".join(sorted(group.name for group in user.groups.all()))

    @confirmed_action(
        "Deactivate selected accounts (revokes their refresh tokens)",
        done="{count} account(s) deactivated.",
        permissions=["change"],
    )
    def deactivate_users(self, request: HttpRequest, user: User) -> None:
        """Their own account is refused (Conflict); an inactive one changes nothing."""
        services.user_deactivate(user=user, by=request.user)  # type: ignore[arg-type]

    @admin.action(description="Erase selected accounts (anonymised, as the owner's request)")
    def erase_users(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        done = 0
        for user in queryset.filter(erased_at__isnull=True).exclude(pk=request.user.pk):  # type: ignore[misc]
            done += erasure.user_erasure_apply(user=user)
        self.message_user(request, f"{done} account(s) erased.")

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        was_active = User.objects.filter(pk=obj.pk, is_active=True).exists() if change else None
        super().save_model(request, obj, form, change)
        if change and "email" in form.changed_data:  # a new address is unverified
            verification.email_change_apply(user=obj)
        if was_active and not obj.is_active:  # unchecked "active": as user_deactivate does
            services.user_deactivation_apply(user=obj)
        elif was_active is False and obj.is_active:  # ticked again: the account is back
            services.user_reactivation_apply(user=obj)
