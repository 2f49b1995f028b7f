"""Admin building blocks shared by the services."""

from __future__ import annotations

from typing import Any

from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from chassis.throttling import LoginThrottled, login_attempt_check

__all__ = ["LoginForm", "ReadOnlyAdminMixin"]


class LoginForm(AdminAuthenticationForm):
    """The admin login form of every service (``admin.site.login_form``, set in config/urls),
    throttled like the API's login: each attempt counts against the client's real address and
    the account named (chassis.throttling, scopes ``login`` and ``login-account``). A refusal,
    here or from users-service behind the single sign-on, says "Too many attempts, try again
    in N s." instead of blaming the password."""

    error_messages = {  # noqa: RUF012 - Django's forms declare it so
        **AdminAuthenticationForm.error_messages,
        "throttled": "Too many attempts, try again in %(wait)s s.",
    }

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        password = self.cleaned_data.get("password")
        try:
            if username and password:
                login_attempt_check(self.request, account=username)
            return super().clean()
        except LoginThrottled as exc:
            raise ValidationError(
                self.error_messages["throttled"], code="throttled", params={"wait": exc.wait}
            ) from None


class ReadOnlyAdminMixin:
    """For a ModelAdmin or inline of records that change only through services (ledgers,
    events, orders): staff can look, never add, edit or delete."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
