"""chassis.columns: a value from the outside, checked against the column it meets in SQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import models

from chassis.columns import column_value, is_ascii_digits

PRICE = models.DecimalField(max_digits=12, decimal_places=2)
ID = models.BigAutoField(primary_key=True)
COUNT = models.IntegerField()
TIME = models.DateTimeField()
NAME = models.CharField(max_length=20)
KEY = models.UUIDField()


@pytest.mark.parametrize(
    ("field", "raw", "value"),
    [
        (PRICE, "19.90", Decimal("19.90")),
        (PRICE, "9999999999.99", Decimal("9999999999.99")),
        (ID, 9223372036854775807, 9223372036854775807),
        (ID, "42", 42),
        (COUNT, "-2147483648", -2147483648),
        (TIME, "2024-05-01T10:00:00+15:59", datetime(2024, 4, 30, 18, 1, tzinfo=UTC)),
        (TIME, "2024-05-01T10:00:00", datetime(2024, 5, 1, 10, 0)),  # noqa: DTZ001 - naive stays naive
        (NAME, "caf\u00e9 \U0001f6d2", "caf\u00e9 \U0001f6d2"),
        (
            KEY,
            "0b5e4a3c-2d1f-4e6a-9b8c-7d6e5f4a3b2c",
            uuid.UUID("0b5e4a3c2d1f4e6a9b8c7d6e5f4a3b2c"),
        ),
    ],
)
def test_a_value_the_column_holds_is_its_python_value(field, raw, value):
    assert column_value(field, raw) == value


@pytest.mark.parametrize(
    ("field", "raw"),
    [
        (PRICE, "1e999999"),  # numeric overflows: PostgreSQL refuses
        (PRICE, "1e-999999"),
        (PRICE, "NaN"),
        (PRICE, "Infinity"),
        (PRICE, "0.001"),  # more decimal places than the column
        (PRICE, "\u0661\u0662"),  # Decimal() reads Arabic-Indic digits: no link makes them
        (ID, 2**63),  # beyond bigint
        (ID, "\u00b9"),  # str.isdigit() says yes, int() refuses
        (ID, "\uff11\uff12"),
        (ID, 1e308),
        (ID, True),
        (ID, None),
        (COUNT, "2147483648"),  # beyond integer
        (TIME, "2024-05-01T10:00:00+23:59"),  # PostgreSQL: time zone displacement out of range
        (TIME, "0001-01-01T00:00:00+15:00"),  # before year 1 in UTC
        (TIME, "garbage"),
        (NAME, "a\x00b"),  # PostgreSQL refuses NUL in text
        (NAME, "\ud800"),  # a lone surrogate has no UTF-8 form
        (KEY, "not-a-uuid"),
    ],
)
def test_a_value_the_column_cannot_hold_is_a_validation_error(field, raw):
    with pytest.raises(ValidationError) as caught:
        column_value(field, raw)

    assert caught.value.messages == ["Value out of range for its field."]


@pytest.mark.parametrize(
    ("raw", "digits"),
    [("12", True), ("007", True), ("\u00b9", False), ("\u0661", False), ("", False)],
)
def test_ascii_digits(raw, digits):
    assert is_ascii_digits(raw) is digits
