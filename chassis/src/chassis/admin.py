"""Admin building blocks shared by the services.

Every service's admin site is :class:`AdminSite` (``chassis.apps.AdminConfig`` stands for
``django.contrib.admin`` in ``DJANGO_APPS``): each ModelAdmin registered on it, Django's own
(groups, users) included, lists through :class:`StrictChangeList`. Django's changelist turns
a lookup it cannot build into its ``?e=1`` redirect, but leaves values to the database:
``?price__gt=1e999999``, ``?created_at__gte=2024-05-01T10:00:00%2B23:59``, a NUL in a text
lookup, or a date hierarchy at the end of the calendar answered 500. The strict changelist
checks each lookup value against its column first (:mod:`chassis.columns`), and answers
those with the same redirect.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.db.models import Field, TextField
from django.db.models.constants import LOOKUP_SEP
from django.db.models.options import Options
from django.http import HttpRequest

from chassis.columns import column_value, is_ascii_digits
from chassis.throttling import LoginThrottled, login_attempt_check

__all__ = [
    "AdminSite",
    "LoginForm",
    "ReadOnlyAdminMixin",
    "StrictChangeList",
    "StrictChangeListMixin",
    "check_lookup",
]

# Lookups whose value is compared with the column as it is.
_COMPARISONS = {"exact", "iexact", "gt", "gte", "lt", "lte", "in", "range"}
# Transforms of dates and times: small ASCII integers.
_DATE_PARTS = {"year", "iso_year", "quarter", "month", "week", "week_day", "iso_week_day", "day"}
_DATE_PARTS |= {"hour", "minute", "second"}
_TEXT = TextField()


class LoginForm(AdminAuthenticationForm):
    """The admin login form of every service (:class:`AdminSite`'s ``login_form``),
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


def _lookup_field(opts: Options[Any], name: str) -> tuple[Field[Any, Any] | None, list[str]]:
    """The field a lookup (``category__id__exact``) compares, and its lookup/transform parts."""
    parts = name.split(LOOKUP_SEP)
    field: Any = None
    for index, part in enumerate(parts):
        try:
            field = opts.get_field(part)
        except FieldDoesNotExist:
            return _compared(field), parts[index:]
        if field.is_relation and field.related_model is not None:
            opts = field.related_model._meta
    return _compared(field), []


def _compared(field: Any) -> Any:
    """A relation compares its target's key."""
    if field is not None and field.is_relation and field.related_model is not None:
        return getattr(field, "target_field", None) or field.related_model._meta.pk
    return field


def check_lookup(opts: Options[Any], name: str, values: list[str]) -> None:
    """Raise ValidationError when a value of lookup ``name`` cannot reach the database."""
    field, lookups = _lookup_field(opts, name)
    if field is None:
        return  # not a field: Django refuses it with its own ?e=1
    if lookups and lookups[0] in _DATE_PARTS:
        if not all(is_ascii_digits(value) and len(value) <= 4 for value in values):
            raise ValidationError("A date part is a small integer.", code="invalid")
        return
    if lookups and lookups[0] not in _COMPARISONS:
        for value in values:  # text lookups (contains, ...) and isnull: text without NUL
            column_value(_TEXT, value)
        return
    if lookups and lookups[0] in ("in", "range"):
        values = [part for value in values for part in value.split(",")]
    for value in values:
        column_value(field, value)


class StrictChangeList(ChangeList):
    """Django's changelist refusing, with its ``?e=1`` redirect, filter values the columns
    cannot hold and date hierarchies past the calendar's end."""

    def get_filters(self, request: HttpRequest) -> Any:
        for name, values in self.get_filters_params().items():
            try:
                check_lookup(self.lookup_opts, name, list(values))
            except ValidationError as exc:
                raise IncorrectLookupParameters(exc) from exc
        try:
            return super().get_filters(request)
        except (OverflowError, ValueError) as exc:  # the year after 9999, a C long overflow
            raise IncorrectLookupParameters(exc) from exc


class StrictChangeListMixin:
    """A ModelAdmin listing through :class:`StrictChangeList`."""

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return StrictChangeList


class AdminSite(admin.AdminSite):
    """The admin site of every service: each ModelAdmin lists through the strict changelist,
    and staff sign in through the throttled :class:`LoginForm`."""

    login_form = LoginForm

    def each_context(self, request: HttpRequest) -> dict[str, Any]:
        """Every page's context, with the back office's header links (chassis.backoffice)."""
        from chassis.backoffice import backoffice_links

        return {**super().each_context(request), "backoffice_links": backoffice_links(request)}

    def index(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> Any:
        """The index, with what needs attention here (chassis.backoffice)."""
        from chassis.backoffice import attention_panels

        extra = {"attention": attention_panels(request), **(extra_context or {})}
        return super().index(request, extra_context=extra)

    def has_permission(self, request: HttpRequest) -> bool:
        """Active staff with at least one permission in this service, or a superuser
        (chassis.roles): a staff member whose roles give nothing here is refused at the door
        (Django's "not authorized" login page), not shown an empty index."""
        user = request.user
        if not (user.is_active and user.is_staff):
            return False
        return bool(user.is_superuser or user.get_all_permissions())  # type: ignore[union-attr]

    def register(self, model_or_iterable: Any, admin_class: Any = None, **options: Any) -> None:
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, StrictChangeListMixin):
            admin_class = type(
                admin_class.__name__,
                (StrictChangeListMixin, admin_class),
                {"__module__": admin_class.__module__, "__doc__": admin_class.__doc__},
            )
        super().register(model_or_iterable, admin_class, **options)
