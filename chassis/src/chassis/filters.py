"""django-filter glue: query filters that refuse what they cannot use, with a 400."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import django_filters
from django.core.exceptions import ValidationError
from django_filters.fields import IsoDateTimeField
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field

__all__ = ["StrictBooleanFilter", "StrictFilterSet", "UtcDateTimeFilter", "UtcIsoDateTimeField"]


class StrictFilterSet(django_filters.FilterSet):
    """A filter given as an empty parameter (``?created_before=``) is a 400, not silently
    "no filter": the OpenAPI schema documents a value, and a client that sends none has a
    bug worth reporting. (A parameter the API does not have is refused by the view:
    :mod:`chassis.query`.)"""

    def is_valid(self) -> bool:
        valid = super().is_valid()
        blank = [name for name in self.filters if self.data.get(name) == ""]
        for name in blank:
            if name not in self.form.errors:  # a choice filter already refused it
                error = ValidationError("This field may not be blank.", code="blank")
                self.form.add_error(name, error)
        return valid and not blank


@extend_schema_field(OpenApiTypes.BOOL)
class StrictBooleanFilter(django_filters.TypedChoiceFilter):
    """``true`` or ``false`` only: anything else is a 400, not silently "no filter" (as
    django-filter's BooleanFilter does with ``null`` or ``yes``)."""

    def __init__(self, **kwargs: Any) -> None:
        choices = [("true", "true"), ("false", "false")]
        super().__init__(choices=choices, coerce=lambda value: value == "true", **kwargs)


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time turned into UTC: PostgreSQL refuses offsets beyond 15:59 (which
    Python accepts), and a date at the edge of the calendar may not exist in UTC at all."""

    def to_python(self, value: Any) -> datetime | None:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except (OverflowError, ValueError) as exc:
            raise ValidationError("Date-time out of range.", code="invalid") from exc


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField
