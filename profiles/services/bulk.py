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

On PostgreSQL a statement a row is still a parse, a plan and an executor start a row in the
server (a quarter of a millisecond; it was most of a first sync's database time), so there
the rows go in multi-row statements of up to :data:`PG_ROWS` rows: ``INSERT … VALUES (…),
(…)`` and ``UPDATE … FROM (VALUES (…), (…)) AS v(…) WHERE pk = v.pk``. One statement
touches a row once, so where ``objs`` name a row twice the last one wins — as it would
have row by row. Their values are bound by the server (psycopg's C dumpers), not quoted
into the SQL text in Python as Django's client-side cursor does: that quoting was most of
a wide row's cost. Rows inserted with no conflict to resolve (delivery attempts, run
events) go by ``COPY`` instead: streamed, no statement to parse — a quarter of the
multi-row ``INSERT``'s time for a batch's 1,000 attempts. (Staging upserts and updates
through a scratch table and ``COPY`` was measured too: little gain for two more statements
and a temporary table created per call, so they stay multi-row statements.) SQLite runs a
prepared statement in-process: there ``executemany`` is the cheapest way.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from typing import Any

from django.db import connections, models, router, transaction

PG_ROWS = 1000  # rows per multi-row statement on PostgreSQL…
PG_PARAMETERS = 65535  # …and never more parameters than its protocol carries


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
    if connection.vendor == "postgresql":
        return _pg_update(connection, model, objs, columns)
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
    head = (
        f"INSERT INTO {quote(meta.db_table)} ("
        + ", ".join(quote(str(f.column)) for f in columns)
        + ") VALUES "
    )
    row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"
    tail = ""
    if unique_fields:
        conflict = ", ".join(quote(str(meta.get_field(n).column)) for n in unique_fields)  # type: ignore[union-attr]
        if update_fields:
            sets = ", ".join(
                f"{quote(c)} = EXCLUDED.{quote(c)}"
                for c in (str(meta.get_field(n).column) for n in update_fields)  # type: ignore[union-attr]
            )
            tail = f" ON CONFLICT ({conflict}) DO UPDATE SET {sets}"
        else:
            tail = f" ON CONFLICT ({conflict}) DO NOTHING"
    elif ignore_conflicts:
        tail = " ON CONFLICT DO NOTHING"
    params = [
        [field.get_db_prep_save(field.pre_save(obj, True), connection) for field in columns]
        for obj in objs
    ]
    with transaction.atomic(using=alias, savepoint=False), connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            cursor.executemany(head + row_sql + tail, params)
            return len(params)
        if update_fields:  # one statement may not update a row twice: the last one wins
            at = [columns.index(meta.get_field(n)) for n in unique_fields]  # type: ignore[arg-type]
            params = list({tuple(row[i] for i in at): row for row in params}.values())
        if not tail:  # plain rows: COPY streams them, no statement to parse at all
            names = ", ".join(quote(str(f.column)) for f in columns)
            _copy(cursor, f"COPY {quote(meta.db_table)} ({names}) FROM STDIN", params)
            return len(objs)
        _server_side_binding(cursor)
        for chunk in _chunks(params, _rows_per_statement(len(columns))):
            cursor.execute(
                head + ", ".join([row_sql] * len(chunk)) + tail,
                [value for row in chunk for value in row],
            )
    return len(objs)


def _copy(cursor: Any, sql: str, rows: list[list[Any]]) -> None:
    """PostgreSQL's COPY of ``rows`` (values adapted by psycopg's dumpers, streamed: no
    statement to parse however many rows). Through Django's execute wrappers, so it is
    logged and counted as one query like any other."""

    def run(sql: str, params: Any, many: bool, context: dict[str, Any]) -> None:
        # psycopg's errors become Django's (IntegrityError …), as for any other query.
        with context["connection"].wrap_database_errors, context["cursor"].cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row(row)

    logged = getattr(cursor, "debug_sql", None)  # Django's debug cursor (DEBUG, tests)
    with logged(sql, None) if logged is not None else nullcontext():
        cursor._execute_with_wrappers(sql, None, False, executor=run)


def _pg_update(
    connection: Any,
    model: type[models.Model],
    objs: Sequence[models.Model],
    columns: Sequence[Any],
) -> int:
    """One ``UPDATE … FROM (VALUES …)`` per :data:`PG_ROWS` rows. A ``VALUES`` list's
    column takes its type from its values (text for a quoted string), so each is cast to
    its column's type where it is used."""
    meta = model._meta
    pk = meta.pk
    assert pk is not None
    quote = connection.ops.quote_name
    names = ["pk"] + [f"c{i}" for i in range(len(columns))]
    sets = ", ".join(
        f"{quote(str(field.column))} = CAST(v.c{i} AS {field.cast_db_type(connection)})"
        for i, field in enumerate(columns)
    )
    head = f"UPDATE {quote(meta.db_table)} SET {sets} FROM (VALUES "
    tail = (
        f") AS v({', '.join(names)}) "
        f"WHERE {quote(meta.db_table)}.{quote(str(pk.column))} = "
        f"CAST(v.pk AS {pk.cast_db_type(connection)})"  # type: ignore[attr-defined]
    )
    rows: dict[Any, list[Any]] = {}  # one statement updates a row once: the last one wins
    for obj in objs:
        rows[obj.pk] = [pk.get_db_prep_value(obj.pk, connection)] + [
            field.get_db_prep_save(getattr(obj, field.attname), connection) for field in columns
        ]
    row_sql = "(" + ", ".join(["%s"] * len(names)) + ")"
    with transaction.atomic(using=connection.alias, savepoint=False), connection.cursor() as cursor:
        _server_side_binding(cursor)
        for chunk in _chunks(list(rows.values()), _rows_per_statement(len(names))):
            cursor.execute(
                head + ", ".join([row_sql] * len(chunk)) + tail,
                [value for row in chunk for value in row],
            )
    return len(objs)


def _server_side_binding(cursor: Any) -> None:
    """Swap the Django cursor's psycopg ``ClientCursor`` for a plain (server-binding) cursor
    on the same connection and transaction; Django's wrapper stays around it, so the
    statements are logged, counted and wrapped as any other."""
    import psycopg

    client_side = cursor.cursor
    cursor.cursor = psycopg.Cursor(client_side.connection)
    client_side.close()


def _rows_per_statement(columns: int) -> int:
    return max(1, min(PG_ROWS, PG_PARAMETERS // max(1, columns)))


def _chunks(rows: list[list[Any]], size: int) -> list[list[list[Any]]]:
    return [rows[i : i + size] for i in range(0, len(rows), size)]
