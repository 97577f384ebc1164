"""Database connections a task can always trust.

A Celery soft time limit (or any exception) can interrupt a task in the middle of a query
or a transaction; the connection is then left half-way ("another command is already in
progress", an atomic block that never ended) and every later task of that worker process
would fail on it. After a task that did not succeed, every connection is thrown away and
the next use opens a fresh one.
"""

from __future__ import annotations

import logging

from django.db import connections

logger = logging.getLogger(__name__)


def connections_reset(*, only_broken: bool = False) -> int:
    """Close every database connection of this thread, whatever state it was left in
    (``only_broken``: only those inside a transaction that never ended or marked for a
    rollback). Returns how many were reset."""
    reset = 0
    for conn in connections.all(initialized_only=True):
        broken = conn.in_atomic_block or conn.needs_rollback
        if only_broken and not broken:
            continue
        # Forget the transaction state first: closing refuses to inside an atomic block.
        conn.in_atomic_block = False
        conn.atomic_blocks = []
        conn.savepoint_ids = []
        conn.needs_rollback = False
        conn.closed_in_transaction = False
        conn.commit_on_exit = True
        try:
            conn.close()
        except Exception:  # the connection is unusable anyway: drop it
            logger.warning("database connection %s dropped after a failed task", conn.alias)
        conn.connection = None
        reset += 1
    return reset
