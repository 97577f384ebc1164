"""Encryption keys that rotate: every stored secret re-encrypted with the first key.

``FIELD_ENCRYPTION_KEY=new,old`` lets both keys decrypt while :func:`secrets_rotate` (the
``rotate_keys`` command) re-encrypts every encrypted column with the new one, row by row —
resumable, and a second run finds nothing left to do. Then the old key can go. Values no
configured key opens are reported by client or profile name, and left as they are.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.fernet import InvalidToken
from django.db import connection

from profiles.fields import PREFIX, Ciphertext, encrypt, rotate
from profiles.models import Client, Profile

ENCRYPTED = ((Client, ("credentials", "token_state")), (Profile, ("settings",)))


@dataclass
class RotationReport:
    rotated: int = 0  # re-encrypted with the first key
    current: int = 0  # already encrypted with it
    encrypted: int = 0  # plain (older) values encrypted for the first time
    unreadable: list[str] = field(default_factory=list)  # "client 'x'.credentials", …


def secrets_rotate() -> RotationReport:
    """Re-encrypt every encrypted value with the first key (see the module docstring)."""
    report = RotationReport()
    for model, columns in ENCRYPTED:
        table = model._meta.db_table
        for column in columns:
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT {connection.ops.quote_name('id')}, "
                    f"{connection.ops.quote_name(column)} FROM {connection.ops.quote_name(table)}"
                )
                rows = cursor.fetchall()
            for pk, raw in rows:
                _one(model, column, pk, raw or "", report)
    return report


def _one(
    model: type[Client] | type[Profile], column: str, pk: int, raw: str, report: RotationReport
) -> None:
    if not raw:
        return
    if not raw.startswith(PREFIX):
        model._default_manager.filter(pk=pk).update(**{column: Ciphertext(encrypt(raw))})
        report.encrypted += 1
        return
    try:
        token = rotate(raw)
    except InvalidToken:
        name = model._default_manager.filter(pk=pk).values_list("name", flat=True).first()
        report.unreadable.append(f"{model._meta.model_name} '{name}'.{column}")
        return
    if token is None:
        report.current += 1
        return
    model._default_manager.filter(pk=pk).update(**{column: Ciphertext(token)})
    report.rotated += 1
