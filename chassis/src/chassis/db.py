"""One row written unless its key is taken, in one statement.

Recording that something happened once (an event in the inbox, an email about a status
change) is the hottest write of the event path. Django's ways of doing it cost more than the
row: ``get_or_create`` reads, opens a savepoint, inserts and releases it (four statements);
``create`` inside ``atomic()`` catching ``IntegrityError`` needs the savepoint too; and
``bulk_create(ignore_conflicts=True)`` does not say whether the row was written.
:func:`insert_or_skip` is ``INSERT ... ON CONFLICT (key) DO NOTHING RETURNING pk``, on
PostgreSQL and on SQLite (the local stand-in) alike. A concurrent transaction that inserted
the same key and has not ended makes it wait for that transaction's outcome: skipped if it
commits, written if it rolls back, exactly as a unique constraint behaves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connections, models, router

__all__ = ["insert_or_skip"]


def insert_or_skip(model: type[models.Model], key: Sequence[str], /, **values: Any) -> Any | None:
    """Insert a ``model`` row with ``values`` (fields left out take their defaults) unless a
    row with the same ``key`` fields exists (a unique constraint or the primary key); the new
    row's primary key, or None when it was skipped. Runs in the caller's transaction.
    ``model`` and ``key`` are positional: a model may have fields of those names."""
    connection = connections[router.db_for_write(model)]
    opts = model._meta
    row = model(**values)
    fields = [
        field
        for field in opts.concrete_fields
        if not (field.primary_key and field.name not in values and field.db_returning)
    ]
    quote = connection.ops.quote_name
    params = [field.get_db_prep_save(field.pre_save(row, True), connection) for field in fields]
    columns = ", ".join(quote(_column(field)) for field in fields)
    conflict = ", ".join(quote(_column(opts.get_field(name))) for name in key)
    sql = (  # identifiers from the model's metadata, quoted; values are parameters
        f"INSERT INTO {quote(opts.db_table)} ({columns})"  # noqa: S608
        f" VALUES ({', '.join(['%s'] * len(fields))})"
        f" ON CONFLICT ({conflict}) DO NOTHING RETURNING {quote(_column(opts.pk))}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        inserted = cursor.fetchone()
    return None if inserted is None else opts.pk.to_python(inserted[0])


def _column(field: Any) -> str:
    column = getattr(field, "column", None)
    if not isinstance(column, str):  # a reverse relation or a field without a column
        raise ValueError(f"{field} has no column of its own")
    return column
