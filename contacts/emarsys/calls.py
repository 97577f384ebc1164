"""How every Emarsys call of one batch is made (the base of
:class:`~contacts.emarsys.upsert.Upserter`; see :mod:`contacts.emarsys.upsert`).

Calls are retried with backoff inside the run; refused credentials (401/403) open a breaker
that defers the rest of the batch; under the create lock a call is only started when even
its worst case still ends before the lock's TTL.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import TypeVar

from connectors.emarsys.client import EmarsysClient
from connectors.errors import AuthError, ConnectorError
from connectors.http import call_with_retries
from contacts.emarsys import config
from contacts.emarsys.fields import Schema
from profiles.pipeline import BatchContext, Outcome, WorkItem

T = TypeVar("T")
BY_ID = "id"

# call_with_retries, as used here: attempts per call and the longest 429 wait.
MAX_ATTEMPTS = 4
MAX_RATE_LIMIT_WAIT = 120.0
LATE_RETRY_AFTER = 60.0  # a call that could outlive the create lock: tried again after this


def _pause(seconds: float) -> None:
    time.sleep(seconds)  # looked up at call time, so tests can patch it


class BatchCalls:
    """The state of one batch's writer and the guard around each of its calls."""

    def __init__(
        self,
        *,
        ctx: BatchContext,
        api: EmarsysClient,
        schema: Schema,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.ctx = ctx
        self.api = api
        self.schema = schema
        self.sleep = sleep or _pause
        self.settings = config.effective(ctx.profile.settings)
        self.upsert_calls = 0
        self.broken = ""  # why the breaker opened (refused credentials), if it did
        self.deadline: float | None = None  # while holding the create lock

    def _retrying(self, fn: Callable[[], T]) -> T:
        return call_with_retries(
            fn,
            sleep=self.sleep,
            max_attempts=MAX_ATTEMPTS,
            max_rate_limit_wait=MAX_RATE_LIMIT_WAIT,
        )

    def call_worst_case(self) -> float:
        """The longest one retried call can take: every attempt timing out, the backoff
        between them and the 429 waits."""
        timeout = getattr(self.api, "timeout", (5.0, 60.0))
        per_attempt = sum(timeout) if isinstance(timeout, tuple) else float(timeout)
        backoff = sum(min(30.0, 0.5 * 2**n) for n in range(MAX_ATTEMPTS - 1))
        return MAX_ATTEMPTS * per_attempt + backoff + MAX_RATE_LIMIT_WAIT

    def _may_call(self, items: Sequence[WorkItem]) -> bool:
        """False (the items deferred) when the breaker is open, or when under the create
        lock a call could outlast the lock's TTL."""
        reason = self.broken
        late = self.deadline is not None and (
            time.monotonic() + self.call_worst_case() > self.deadline
        )
        if not reason and late:
            reason = (
                "Not sent: Emarsys answered too slowly to finish this batch's creates "
                "while holding the create lock; retried later."
            )
        if not reason:
            return True
        for item in items:
            if not item.done:
                if late and not self.broken:  # the time, not the contact: no attempt used
                    item.retry_after = LATE_RETRY_AFTER
                    item.finish(Outcome.DEFERRED, reason)
                else:
                    item.finish(Outcome.RETRY, reason)
        return False

    def _refused(self, exc: AuthError) -> str:
        """The message for refused credentials; opens the breaker for the rest of the batch."""
        message = (
            f"Emarsys refused the credentials ({exc.message}, HTTP {exc.status or '?'}); "
            "reconnect the client."
        )
        if not self.broken:
            self.broken = f"Not sent: {message}"
            self.ctx.log(
                f"{message} The rest of this batch is deferred to the failsafe queue.",
                level="error",
            )
        return message

    def _defer(self, items: Sequence[WorkItem], exc: ConnectorError, why: str) -> None:
        """A read the batch depends on failed: its items wait (refused credentials open the
        breaker and pause them; anything else is retried later with ``why`` as reason)."""
        message = self._refused(exc) if isinstance(exc, AuthError) else f"{why} ({exc.message})"
        for item in items:
            if not item.done:
                item.finish(Outcome.RETRY, message, http_status=exc.status)
