"""chassis.admin: a changelist's lookup values are checked against their columns first."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from chassis.admin import check_lookup
from chassis.events.models import OutboxEvent

OPTS = OutboxEvent._meta


@pytest.mark.parametrize(
    ("lookup", "values"),
    [
        ("occurred_at__gte", ["2024-05-01T10:00:00+02:00"]),
        ("occurred_at__gte", ["2024-05-01"]),
        ("occurred_at__year", ["2024"]),
        ("attempts__gt", ["3"]),
        ("attempts__in", ["1,2,3"]),
        ("type__icontains", ["order"]),
        ("published_at__isnull", ["True"]),
        ("id__exact", ["0b5e4a3c-2d1f-4e6a-9b8c-7d6e5f4a3b2c"]),
        ("no_such_field", ["x"]),  # Django refuses it itself, with its ?e=1
    ],
)
def test_values_the_columns_hold_pass(lookup, values):
    check_lookup(OPTS, lookup, values)


@pytest.mark.parametrize(
    ("lookup", "values"),
    [
        ("occurred_at__gte", ["2024-05-01T10:00:00+23:59"]),  # PostgreSQL refuses the offset
        ("occurred_at__year", ["\u00b9"]),
        ("occurred_at__year", ["9" * 30]),  # datetime() overflows a C long
        ("attempts__gt", ["9" * 30]),
        ("attempts__in", ["1,\u0661"]),
        ("type__icontains", ["a\x00b"]),  # NUL in text
        ("type", ["\ud800"]),
        ("id__exact", ["not-a-uuid"]),
    ],
)
def test_values_the_columns_cannot_hold_are_refused(lookup, values):
    with pytest.raises(ValidationError):
        check_lookup(OPTS, lookup, values)
