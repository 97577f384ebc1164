"""Writing many rows whose values differ, fast: one prepared statement sent for all of them.

Django's ``bulk_update`` builds one ``CASE WHEN pk = … THEN …`` expression per row and field;
for a batch of 1,000 outcomes of ten fields that is 10,000 expressions to resolve and
compile — seconds of CPU for one statement. Here the statement is prepared once and the
driver sends every row's values (``executemany``: SQLite runs it in-process, psycopg 3
pipelines it), so the cost is the database's, not ours. It counts as one query.

``bulk_create`` has the same cost for a page of wide rows (every value of every row is
compiled into one statement): :func:`rows_insert` prepares one ``INSERT`` — optionally
``ON CONFLICT … DO NOTHING`` or ``DO UPDATE`` (SQLite and PostgreSQL spell it alike) —
and sends each row's values the same way.

Both run inside one transaction (their caller's, or their own): in autocommit, SQLite and
psycopg run each row of an ``executemany`` as a transaction of its own — a commit (and on
SQLite a sync of the WAL) a row, 30 times slower than the statement itself — and a batch
half-written by an error would stay half-written.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connections, models, router, transaction


def rows_update(
    model: type[models.Model], objs: Sequence[models.Model], fields: Sequence[str]
) -> int:
    """``UPDATE … SET field = value … WHERE pk = …`` for each of ``objs`` with its own
    values of ``fields`` (no signals, no ``auto_now``: like ``bulk_update``). Returns how
    many rows were sent."""
    if not objs:
        return 0
    alias = router.db_for_write(model)
    connection = connections[alias]
    meta = model._meta
    columns = [meta.get_field(name) for name in fields]
    pk = meta.pk
    assert pk is not None
    quote = connection.ops.quote_name
    sql = (
        f"UPDATE {quote(meta.db_table)} SET "
        + ", ".join(f"{quote(str(field.column))} = %s" for field in columns)  # type: ignore[union-attr]
        + f" WHERE {quote(str(pk.column))} = %s"
    )
    params: list[list[Any]] = [
        [
            field.get_db_prep_save(getattr(obj, field.attname), connection)  # type: ignore[union-attr]
            for field in columns
        ]
        + [pk.get_db_prep_value(obj.pk, connection)]
        for obj in objs
    ]
    with transaction.atomic(using=alias, savepoint=False), connection.cursor() as cursor:
        cursor.executemany(sql, params)
    return len(params)


def rows_insert(
    model: type[models.Model],
    objs: Sequence[models.Model],
    *,
    ignore_conflicts: bool = False,
    unique_fields: Sequence[str] = (),
    update_fields: Sequence[str] = (),
) -> int:
    """``INSERT`` each of ``objs`` (new rows: their primary key is left to the database
    unless set on the first). ``ignore_conflicts``: a row that collides is skipped;
    ``unique_fields`` with ``update_fields``: it updates those fields of the row it
    collides with instead. Like ``bulk_create``, no signals and no primary keys set on
    ``objs``; ``auto_now`` and ``auto_now_add`` are applied. Returns how many were sent."""
    if not objs:
        return 0
    if update_fields and not unique_fields:
        raise ValueError("update_fields needs the unique_fields the rows may collide on")
    alias = router.db_for_write(model)
    connection = connections[alias]
    if connection.vendor not in ("sqlite", "postgresql"):  # ON CONFLICT spelt otherwise
        model._default_manager.bulk_create(
            objs,
            ignore_conflicts=ignore_conflicts or (bool(unique_fields) and not update_fields),
            update_conflicts=bool(update_fields),
            unique_fields=unique_fields or None,
            update_fields=update_fields or None,
        )
        return len(objs)
    meta = model._meta
    with_pk = objs[0].pk is not None
    columns = [
        f
        for f in meta.concrete_fields
        if f.column and (with_pk or not f.primary_key) and not f.generated
    ]
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ("
        + ", ".join(quote(str(f.column)) for f in columns)
        + ") VALUES ("
        + ", ".join(["%s"] * len(columns))
        + ")"
    )
    if unique_fields:
        conflict = ", ".join(quote(str(meta.get_field(n).column)) for n in unique_fields)  # type: ignore[union-attr]
        if update_fields:
            sets = ", ".join(
                f"{quote(c)} = EXCLUDED.{quote(c)}"
                for c in (str(meta.get_field(n).column) for n in update_fields)  # type: ignore[union-attr]
            )
            sql += f" ON CONFLICT ({conflict}) DO UPDATE SET {sets}"
        else:
            sql += f" ON CONFLICT ({conflict}) DO NOTHING"
    elif ignore_conflicts:
        sql += " ON CONFLICT DO NOTHING"
    params = [
        [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in columns]
        for obj in objs
    ]
    with transaction.atomic(using=alias, savepoint=False), connection.cursor() as cursor:
        cursor.executemany(sql, params)
    return len(params)
