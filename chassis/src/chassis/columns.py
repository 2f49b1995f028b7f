"""The one check of a value from the outside against the column it is compared with.

Django turns a query value into the field's Python type (``field.to_python``) and leaves the
rest to the database; PostgreSQL then refuses, with a 500 to the client, what Python accepts:
time offsets beyond 15:59, numbers with more digits than ``numeric`` holds (``1e999999``),
integers beyond the column's range, NUL characters and lone surrogates in text. A value that
reaches SQL from a cursor (:mod:`chassis.keyset`, :mod:`chassis.pagination`) or from an admin
list filter (:mod:`chassis.admin`) goes through :func:`column_value` first: what the column
cannot hold is a Django ``ValidationError``, which each caller turns into its 4xx.

Numbers are ASCII: ``int()`` and ``Decimal()`` read other scripts' digits (``"١٢"`` is 12),
which no link, form or client of the API makes.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import DecimalValidator
from django.db import connection, models

__all__ = ["column_value", "is_ascii_digits"]

# PostgreSQL refuses a time zone displacement of 16 hours or more (Python allows 24).
_MAX_OFFSET = timedelta(hours=16)
_TEXT = (models.CharField, models.TextField, models.UUIDField, models.JSONField)


def is_ascii_digits(raw: str) -> bool:
    """``raw`` is a non-empty run of ASCII digits (``str.isdigit()`` also accepts ``"¹"``,
    which ``int()`` refuses, and ``"١٢"``, which it reads)."""
    return raw.isascii() and raw.isdigit()


def column_value(field: models.Field[Any, Any], raw: Any) -> Any:
    """``raw`` as ``field``'s Python value, one the database can compare with the column;
    date-times are returned in UTC. Raises ``ValidationError`` (code ``invalid``)."""
    try:
        if isinstance(raw, str):
            raw.encode("utf-8")  # a lone surrogate has no UTF-8 form: the driver fails
            if "\x00" in raw:
                raise ValueError("PostgreSQL refuses NUL in text")
            if not raw.isascii() and not isinstance(field, _TEXT):
                raise ValueError("numbers, dates and times are ASCII")
        elif isinstance(raw, bool) or not isinstance(raw, int | Decimal):
            raise TypeError("values come as text or integers")
        value = field.to_python(raw)
        return _within_column(field, value)
    except (ValidationError, ValueError, TypeError, OverflowError, ArithmeticError) as exc:
        raise ValidationError("Value out of range for its field.", code="invalid") from exc


def _within_column(field: models.Field[Any, Any], value: Any) -> Any:
    if value is None:
        raise ValueError("no value")
    if isinstance(field, models.DecimalField):
        if not value.is_finite():
            raise ValueError("not a finite number")
        DecimalValidator(field.max_digits, field.decimal_places)(value)
    elif isinstance(field, models.IntegerField):  # AutoFields too
        low, high = connection.ops.integer_field_range(field.get_internal_type())
        if (low is not None and value < low) or (high is not None and value > high):
            raise ValueError("beyond the column's range")
    elif isinstance(value, datetime) and value.tzinfo is not None:
        offset = value.utcoffset()
        if offset is not None and abs(offset) >= _MAX_OFFSET:
            raise ValueError("time zone displacement out of range")
        value = value.astimezone(UTC)
    return value
