"""Writing many rows whose values differ, fast: one prepared ``UPDATE`` sent for all of them.

Django's ``bulk_update`` builds one ``CASE WHEN pk = … THEN …`` expression per row and field;
for a batch of 1,000 outcomes of ten fields that is 10,000 expressions to resolve and
compile — seconds of CPU for one statement. Here the statement is prepared once and the
driver sends every row's values (``executemany``: SQLite runs it in-process, psycopg 3
pipelines it), so the cost is the database's, not ours. It counts as one query.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connections, models, router


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
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
    return len(params)
