"""A deadline for the work of one task: waits (rate-limit budgets, 429s, backoff) never
run past it.

A batch task sets it well inside its soft time limit; a wait that would pass it raises
:class:`DeadlineReached` (a :class:`RateLimited`: "not now, later") instead, so the work is
put back for a later batch rather than cut off in the middle of a database write by the
time limit. No deadline (the command line) means waits are bounded by their own limits.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from connectors.errors import RateLimited

_deadline: ContextVar[float | None] = ContextVar("contactsync_deadline", default=None)


class DeadlineReached(RateLimited):
    """The wait would run past the task's deadline: defer the work instead."""


@contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Work inside the block must end ``seconds`` from now (None: no deadline)."""
    token = _deadline.set(None if seconds is None else time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def remaining() -> float | None:
    """Seconds left before the deadline (None when there is none)."""
    end = _deadline.get()
    return None if end is None else end - time.monotonic()


def check_wait(seconds: float, what: str) -> None:
    """Raise :class:`DeadlineReached` when waiting ``seconds`` would pass the deadline."""
    left = remaining()
    if left is not None and seconds > left:
        raise DeadlineReached(
            f"{what}: waiting {seconds:.0f} s would pass this batch's deadline "
            f"({max(left, 0):.0f} s left); deferred to a later batch",
            retry_after=seconds,
        )
