"""The pipeline framework: profile types declare ordered generators, processors and
post-processors (seed 000's stages); a run walks them batch by batch.

A stage works on a whole batch (a list of :class:`WorkItem`), so a processor may send one
API call per item (FreeAgent) or one per batch (Emarsys). Stages never open database
transactions around network calls; :class:`QueueAndLog` writes every outcome of the batch
in one short transaction.
"""

from __future__ import annotations

import enum
import logging
import time
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Greatest
from django.utils import timezone

from profiles.models import Profile, QueueEntity, QueueStatus, Run, RunEvent, SyncStatus
from profiles.services.bulk import rows_insert, rows_update

if TYPE_CHECKING:
    from collections.abc import Sequence


class Outcome(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"
    FAILED = "failed"  # permanent: needs a person
    RETRY = "retry"  # transient: try again later
    AMBIGUOUS = "ambiguous"  # counted as failed: needs a person
    PAUSED = "paused"  # the client's credentials were refused: not the contact's fault
    DEFERRED = "deferred"  # rate limit or the batch's deadline: later, no attempt used up


@dataclass
class WorkItem:
    """One entity travelling through the stages of a batch."""

    entity: Any  # a QueueEntity subclass instance
    payload: dict[str, Any] | None = None
    outcome: Outcome | None = None
    message: str = ""
    details: dict[str, Any] = field(default_factory=dict)
    remote_id: str | None = None
    payload_hash: str | None = None
    retry_after: float | None = None
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        """Later stages skip items that already have an outcome."""
        return self.outcome is not None

    def finish(self, outcome: Outcome, message: str = "", **details: Any) -> None:
        self.outcome = outcome
        self.message = message
        self.details.update(details)


@dataclass
class BatchContext:
    """What every stage of one batch can see."""

    profile: Profile
    run: Run
    worker_id: str
    dry_run: bool = False
    shared: dict[str, Any] = field(default_factory=dict)  # e.g. API clients built once
    reported: int = 0  # contacts of this batch counted in the run's live_done
    reported_at: float = 0.0

    def progress(self, items: Sequence[WorkItem], *, every: float = 1.0) -> None:
        """The contacts of ``items`` that have an outcome show in the run's live progress
        (one small write a second at most, outside any transaction; the batch's outcome
        write takes them back as it counts them)."""
        now = time.monotonic()
        if now - self.reported_at < every:
            return
        done = sum(1 for item in items if item.done)
        if done <= self.reported:
            return
        Run.objects.filter(pk=self.run.pk).update(live_done=F("live_done") + (done - self.reported))
        self.reported, self.reported_at = done, now

    def log(self, message: str, *, level: str = "info", entity_id: int | None = None) -> None:
        """Write a line to the profile type's log file and to the run's history."""
        self.log_many([(message, level, entity_id)])

    def log_many(self, lines: Sequence[tuple[str, str, int | None]]) -> None:
        """:meth:`log` for many ``(message, level, entity id)`` lines: one insert."""
        logger = logging.getLogger(f"contactsync.{self.profile.type}")
        for message, level, _entity_id in lines:
            logger.log(
                logging.getLevelNamesMapping().get(level.upper(), logging.INFO),
                "profile=%s run=%s %s",
                self.profile.pk,
                self.run.pk,
                message,
            )
        rows_insert(
            RunEvent,
            [
                RunEvent(run=self.run, level=level, message=message, entity_id=entity_id)
                for message, level, entity_id in lines
            ],
        )


class Stage(ABC):
    """One step of the pipeline. ``kind`` and ``sort_order`` decide where it runs."""

    kind: ClassVar[str]  # "generator" | "processor" | "post_processor"
    name: ClassVar[str]
    sort_order: ClassVar[int]

    @abstractmethod
    def process(self, ctx: BatchContext, items: Sequence[WorkItem]) -> None:
        """Work on the items of one batch (skip those that are ``done``)."""


class Generator(Stage, ABC):
    kind = "generator"


class Processor(Stage, ABC):
    kind = "processor"


class PostProcessor(Stage, ABC):
    kind = "post_processor"


KIND_ORDER = {"generator": 0, "processor": 1, "post_processor": 2}

_OUTCOME_STATUS = {
    Outcome.CREATED: (SyncStatus.CREATED, QueueStatus.COMPLETE),
    Outcome.UPDATED: (SyncStatus.UPDATED, QueueStatus.COMPLETE),
    Outcome.UNCHANGED: (SyncStatus.UNCHANGED, QueueStatus.COMPLETE),
    Outcome.SKIPPED: (SyncStatus.SKIPPED, QueueStatus.COMPLETE),
    Outcome.FAILED: (SyncStatus.FAILED, QueueStatus.FAILED),
    Outcome.AMBIGUOUS: (SyncStatus.AMBIGUOUS, QueueStatus.FAILED),
}

_RUN_COUNTER = {
    Outcome.CREATED: "created",
    Outcome.UPDATED: "updated",
    Outcome.UNCHANGED: "unchanged",
    Outcome.SKIPPED: "skipped",
    Outcome.FAILED: "failed",
    Outcome.AMBIGUOUS: "failed",
}

RETRY_BASE_DELAY = timedelta(minutes=5)
LOST_CLAIM = "lost_claim"


class QueueAndLog(PostProcessor):
    """Post-processor "Queue & Log" (sort 100): status, queue_status, message, processed_at,
    retry schedule, run counters and a log line — for the whole batch in one transaction.

    Transient failures (``Outcome.RETRY``) are retried on later runs when the profile has
    *Enable automatic retry on failure* on, up to *Maximum retry attempts*; then (or when
    retry is off) the contact is failed with the reason. Dry runs write nothing to entities.
    """

    name = "Queue & Log"
    sort_order = 100

    def process(self, ctx: BatchContext, items: Sequence[WorkItem]) -> None:
        now = timezone.now()
        counts: Counter[str] = Counter()
        for item in items:
            if item.outcome is None:
                item.finish(Outcome.FAILED, "No stage produced an outcome for this contact.")
            if ctx.dry_run:
                counts[_RUN_COUNTER.get(item.outcome, "retried") if item.outcome else "failed"] += 1
        if ctx.dry_run:
            # A dry run changes no entity: it counts, and records what would happen.
            RunEvent.objects.bulk_create(
                RunEvent(
                    run=ctx.run,
                    level="info",
                    entity_id=item.entity.pk,
                    message=f"{item.entity}: {_dry_words(item.outcome)}. {item.message}".strip(),
                    data={
                        # Named here: a contact new to this dry run is gone after it.
                        "label": str(item.entity),
                        "outcome": item.outcome.value if item.outcome else None,
                        "message": item.message,
                        "payload": item.payload,
                        **item.details,
                    },
                )
                for item in items
            )
            self._bump(ctx, counts)
            return
        lines: list[tuple[str, str, int | None]] = []
        with transaction.atomic():
            # Fenced: only the worker that still holds a claim may record its outcome. The
            # rows stay locked (PostgreSQL) from this read to the write, so no reaper can
            # hand one over in between; if it did before, the new holder's result stands.
            entities = [item.entity for item in items]
            model = type(entities[0]) if entities else None
            held: set[int] = set()
            if model is not None:
                held = set(
                    model._default_manager.select_for_update()
                    .filter(
                        pk__in=[e.pk for e in entities],
                        claimed_by=ctx.worker_id,
                        queue_status=QueueStatus.PROCESSING,
                    )
                    .order_by("pk")
                    .values_list("pk", flat=True)
                )
            stored = []
            for item in items:
                counter = self._apply(ctx, item, now)
                if item.entity.pk in held:
                    stored.append(item.entity)
                    counts[counter] += 1
                else:
                    counts[LOST_CLAIM] += 1
                    lines.append(
                        (
                            f"{item.entity}: the claim was handed to another worker; this "
                            f"outcome ({item.outcome.value if item.outcome else '?'}) was not "
                            "recorded.",
                            "warning",
                            item.entity.pk,
                        )
                    )
            if model is not None and stored:
                rows_update(model, stored, OUTCOME_FIELDS)
            self._bump(ctx, counts)
        for item in items:
            if item.outcome in (
                Outcome.FAILED,
                Outcome.AMBIGUOUS,
                Outcome.RETRY,
                Outcome.PAUSED,
                Outcome.DEFERRED,
            ):
                level = (
                    "error" if item.outcome in (Outcome.FAILED, Outcome.AMBIGUOUS) else "warning"
                )
                lines.append(
                    (f"{item.entity} {item.outcome.value}: {item.message}", level, item.entity.pk)
                )
        if lines:
            ctx.log_many(lines)

    def retry_schedule(self, ctx: BatchContext, item: WorkItem, now: Any) -> tuple[Any, str]:
        """When a deferred item is tried again, and a note for its message.

        Exponential from five minutes, never before the server's ``Retry-After``.
        """
        delay = RETRY_BASE_DELAY * (2 ** (item.entity.attempts - 1))
        if item.retry_after:
            delay = max(delay, timedelta(seconds=item.retry_after))
        return now + delay, ""

    def _apply(self, ctx: BatchContext, item: WorkItem, now: Any) -> str:
        entity = item.entity
        profile = ctx.profile
        outcome = item.outcome
        assert outcome is not None
        entity.processed_at = now
        entity.claimed_by = ""
        entity.claimed_at = None
        if item.remote_id:
            entity.remote_id = item.remote_id
        message: dict[str, Any] = {
            "outcome": outcome.value,
            "text": item.message,
            "at": now.isoformat(),
        }
        if item.details:
            message["details"] = item.details
        counter: str
        if outcome == Outcome.DEFERRED:
            # Not the contact's fault either (a rate limit, the batch's time ran out): back
            # in the queue for when the wait is over, no attempt used up.
            entity.queue_status = QueueStatus.PENDING
            entity.next_attempt_at = now + timedelta(seconds=item.retry_after or 0)
            counter = "retried"
        elif outcome == Outcome.PAUSED:
            # Waits for the client to be reconnected (no due time: not claimable until the
            # pause ends, see profiles.services.pause): no attempt used up, nothing failed.
            entity.queue_status = QueueStatus.RETRY
            entity.next_attempt_at = None
            counter = "retried"
        elif outcome == Outcome.RETRY:
            entity.attempts += 1
            if profile.enable_retry_on_failure and entity.attempts < profile.retry_max_attempts:
                entity.next_attempt_at, note = self.retry_schedule(ctx, item, now)
                entity.queue_status = QueueStatus.RETRY
                entity.status = SyncStatus.FAILED
                message["next_attempt_at"] = entity.next_attempt_at.isoformat()
                if note:
                    message["text"] = f"{item.message} ({note})"
                counter = "retried"
            else:
                entity.queue_status = QueueStatus.FAILED
                entity.status = SyncStatus.FAILED
                entity.next_attempt_at = None
                reason = (
                    f"gave up after {entity.attempts} attempt(s)"
                    if profile.enable_retry_on_failure
                    else "automatic retry is disabled"
                )
                message["text"] = f"{item.message} ({reason})"
                counter = "failed"
        else:
            sync_status, queue_status = _OUTCOME_STATUS[outcome]
            entity.status = sync_status
            entity.queue_status = queue_status
            entity.next_attempt_at = None
            if outcome in (Outcome.FAILED, Outcome.AMBIGUOUS):
                entity.attempts += 1
            else:
                entity.attempts = 0
                if item.payload_hash is not None:
                    entity.last_payload_hash = item.payload_hash
            counter = _RUN_COUNTER[outcome]
        entity.message = message
        return counter

    @staticmethod
    def _bump(ctx: BatchContext, counts: Counter[str]) -> None:
        updates: dict[str, Any] = {
            name: F(name) + n for name, n in counts.items() if n and name != LOST_CLAIM
        }
        updates["heartbeat_at"] = timezone.now()
        if ctx.reported:  # counted now: no longer "live"
            updates["live_done"] = Greatest(F("live_done") - ctx.reported, Value(0))
            ctx.reported = 0
        Run.objects.filter(pk=ctx.run.pk).update(**updates)


def _dry_words(outcome: Outcome | None) -> str:
    """What a dry run says would happen to a contact."""
    return (
        {
            Outcome.CREATED: "would be created",
            Outcome.UPDATED: "would be updated",
            Outcome.UNCHANGED: "is unchanged",
            Outcome.SKIPPED: "would be skipped",
            Outcome.FAILED: "would fail",
            Outcome.AMBIGUOUS: "would stop: ambiguous",
        }.get(outcome, "would wait")
        if outcome is not None
        else "would fail"
    )


OUTCOME_FIELDS = [
    "processed_at",
    "claimed_by",
    "claimed_at",
    "remote_id",
    "attempts",
    "next_attempt_at",
    "queue_status",
    "status",
    "message",
    "last_payload_hash",
]


def sorted_stages(stages: Sequence[type[Stage]]) -> list[type[Stage]]:
    """Generators, then processors, then post-processors, each by sort order."""
    return sorted(stages, key=lambda s: (KIND_ORDER[s.kind], s.sort_order))


__all__ = [
    "BatchContext",
    "Generator",
    "Outcome",
    "PostProcessor",
    "Processor",
    "QueueAndLog",
    "QueueEntity",
    "Stage",
    "WorkItem",
    "sorted_stages",
]
