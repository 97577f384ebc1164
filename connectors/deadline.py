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
_length: ContextVar[float | None] = ContextVar("contactsync_deadline_length", default=None)
_killed_at: ContextVar[float | None] = ContextVar("contactsync_hard_limit", default=None)


LOCK_AFTERLIFE = 30.0  # seconds a lock outlives its holder's hard time limit


class DeadlineReached(RateLimited):
    """The wait would run past the task's deadline: defer the work instead."""


@contextmanager
def deadline(seconds: float | None, *, hard_limit: float | None = None) -> Iterator[None]:
    """Work inside the block must end ``seconds`` from now (None: no deadline).

    ``hard_limit``: the seconds from now after which the task is killed, if it is; locks
    taken inside live only a little longer (see :func:`lock_ttl`).
    """
    now = time.monotonic()
    token = _deadline.set(None if seconds is None else now + seconds)
    length = _length.set(seconds)
    killed = _killed_at.set(None if hard_limit is None else now + hard_limit)
    try:
        yield
    finally:
        _deadline.reset(token)
        _length.reset(length)
        _killed_at.reset(killed)


def remaining() -> float | None:
    """Seconds left before the deadline (None when there is none)."""
    end = _deadline.get()
    return None if end is None else end - time.monotonic()


def too_late(slack: float) -> bool:
    """True when less than ``slack`` seconds are left — or, under a short deadline, less than
    a quarter of it: work that needs that long is not started any more."""
    left = remaining()
    length = _length.get()
    if left is None or length is None:
        return False
    return left < min(slack, length / 4)


def check_wait(seconds: float, what: str) -> None:
    """Raise :class:`DeadlineReached` when waiting ``seconds`` would pass the deadline."""
    left = remaining()
    if left is not None and seconds > left:
        raise DeadlineReached(
            f"{what}: waiting {seconds:.0f} s would pass this batch's deadline "
            f"({max(left, 0):.0f} s left); deferred to a later batch",
            retry_after=seconds,
        )


def in_task() -> bool:
    """True inside a task with a hard time limit: whatever runs here ends by then."""
    return _killed_at.get() is not None


def lock_ttl(default: float) -> float:
    """How long a lock taken now may live. Inside a task with a hard time limit its holder
    cannot outlive the limit, so the lock of a killed worker frees half a minute after
    the kill; elsewhere (the command line) the ``default``, long enough for any holder."""
    killed_at = _killed_at.get()
    if killed_at is None:
        return default
    return min(default, max(killed_at - time.monotonic(), 0.0) + LOCK_AFTERLIFE)


def lock_wait(default: float) -> float:
    """How long to wait for a lock: ``default``, but never more than half the time left."""
    left = remaining()
    if left is None:
        return default
    return max(0.5, min(default, left / 2))
