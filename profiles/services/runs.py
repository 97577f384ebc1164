"""Starting, executing and closing runs; claiming batches of entities.

The flow of one run::

    run_start ──► run_execute: collect (network, no transaction)
                      │
                      ├─ foreground (CLI): loop batch_process until nothing is claimable
                      └─ background: enqueue N `profiles.run_batches` tasks; each worker loop
                         claims batches with SELECT … FOR UPDATE SKIP LOCKED until none remain
                      ▼
                  run_close_if_done: the last one out closes the Run with honest counts

Stale claims of dead workers are put back to pending by :func:`entities_reclaim_stale`
(a beat task every minute), which also re-enqueues the batches of runs still open.
"""

from __future__ import annotations

import logging
import math
import os
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import timedelta
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from connectors import telemetry
from connectors.errors import ConfigurationError, RateLimited
from profiles import registry
from profiles.fields import undecryptable
from profiles.models import (
    ACTIVE_RUN_STATUSES,
    Profile,
    QueueStatus,
    Run,
    RunEvent,
    RunStatus,
    RunTrigger,
)
from profiles.pipeline import BatchContext, Outcome, WorkItem
from profiles.services import pause
from profiles.services.accounts import AccountChanged
from profiles.services.database import connections_reset

logger = logging.getLogger(__name__)

ProgressCallback = Callable[[Run, int], None]


class RunAlreadyActive(Exception):
    """The profile already has a queued or running run; overlapping runs are refused."""

    def __init__(self, profile: Profile, active: Run | None) -> None:
        self.profile = profile
        self.active = active
        which = f" (run {active.pk}, {active.status})" if active else ""
        super().__init__(f"Profile '{profile.name}' is already running{which}.")


def worker_identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def owner_dead(run: Run) -> bool:
    """True when a foreground run's process is provably gone: it ran on this host and no
    process has its pid any more. (Other hosts' runs end through the stale-claim reaper.)"""
    host, _, pid = (run.owner or "").rpartition(":")
    if not host or host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, someone else's
    return False


def run_release(*, run: Run, reason: str) -> int:
    """End an active run that cannot finish by itself (its process died, or it was queued
    with no worker to start it): the run is closed as failed with ``reason`` and every
    contact it had claimed goes back to the queue. Returns how many were released."""
    ptype = registry.get(run.profile.type)
    released = (
        ptype.entities(run.profile)
        .filter(run=run, queue_status=QueueStatus.PROCESSING)
        .update(queue_status=QueueStatus.PENDING, claimed_by="", claimed_at=None)
    )
    run_close(
        run=run,
        error=f"Released: {reason}."
        + (f" {released} claimed contact(s) went back to the queue." if released else ""),
    )
    logger.warning(
        "run %s released (%s); %d contact(s) back in the queue", run.pk, reason, released
    )
    return released


def run_start(
    *,
    profile: Profile,
    trigger: str = RunTrigger.BUTTON,
    dry_run: bool = False,
    entity_ids: Sequence[int] | None = None,
    foreground: bool = False,
    progress: ProgressCallback | None = None,
    scope: Mapping[str, Any] | None = None,
) -> Run:
    """Create a Run for the profile and execute it — in this process (``foreground``, the
    CLI) or on the Celery workers. Refuses to overlap an active run of the same profile.
    ``scope``: what the run is, for its history (``{"initial": "both"}``).
    """
    registry.get(profile.type)  # unknown types fail before a Run is created
    if undecryptable(profile.settings):
        raise ConfigurationError(
            f"The settings of profile '{profile.name}' cannot be decrypted with "
            "FIELD_ENCRYPTION_KEY (was the key changed?): put the old key back after the new "
            "one and run `manage.py rotate_keys`. Nothing runs on settings it cannot read."
        )
    if trigger in (RunTrigger.CLI, RunTrigger.BUTTON):
        pause.profile_pause_check(profile)  # a paused profile: tried once, or said so
    scope = dict(scope or {})
    if entity_ids:
        scope["entity_ids"] = sorted({int(i) for i in entity_ids})
    owner = worker_identity() if foreground else ""
    run: Run | None = None
    took_over: Run | None = None
    for attempt in range(2):
        try:
            with transaction.atomic():
                run = Run.objects.create(
                    profile=profile, trigger=trigger, dry_run=dry_run, scope=scope, owner=owner
                )
            break
        except IntegrityError:
            active = Run.objects.filter(profile=profile, status__in=ACTIVE_RUN_STATUSES).first()
            if attempt == 0 and active is not None and owner_dead(active):
                run_release(
                    run=active,
                    reason=f"its process ({active.owner}) is gone; a new run took over",
                )
                took_over = active
                continue
            raise RunAlreadyActive(profile, active) from None
    assert run is not None
    if took_over is not None:
        _event(
            run,
            f"Took over from run {took_over.pk}, whose process ({took_over.owner}) is gone; "
            "its claimed contacts went back to the queue.",
            level="warning",
        )
    if foreground:
        run_execute(run_id=run.pk, foreground=True, progress=progress)
        run.refresh_from_db()
    else:
        from profiles.tasks import run_execute_task

        transaction.on_commit(lambda: run_execute_task.delay(run_id=run.pk))
    return run


def run_execute(
    *, run_id: int, foreground: bool = False, progress: ProgressCallback | None = None
) -> Run:
    """Collect, then process every claimable entity (here or by fanning out to workers)."""
    run = Run.objects.select_related("profile").get(pk=run_id)
    if run.status != RunStatus.QUEUED:
        logger.info("run %s is %s, not executing it again", run.pk, run.status)
        return run
    profile = run.profile
    ptype = registry.get(profile.type)
    now = timezone.now()
    Run.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, started_at=now, heartbeat_at=now)
    run.status = RunStatus.RUNNING
    run.started_at = now
    if run.dry_run and not run.scope.get("entity_ids"):
        # A profile's dry run collects, processes and then gives the queue back as it was.
        with ptype.dry_run_scope(profile):
            return _execute(run, ptype, foreground=True, progress=progress)
    return _execute(run, ptype, foreground=foreground, progress=progress)


def _execute(
    run: Run, ptype: registry.ProfileType, *, foreground: bool, progress: ProgressCallback | None
) -> Run:
    profile = run.profile
    try:
        collected = 0 if run.scope.get("entity_ids") else ptype.collect(profile=profile, run=run)
    except Exception as exc:
        logger.exception("collection failed for run %s", run.pk)
        reason = pause.refused_reason(exc)
        if reason and profile.source_client is not None:
            pause.client_refused(profile.source_client, f"Magento: {reason}")
        _event(run, f"Collection failed: {exc}", level="error")
        run_close(run=run, error=f"Collection failed: {exc}")
        run.refresh_from_db()
        return run
    if profile.source_client is not None and profile.source_client.refused_at is not None:
        pause.client_accepted(profile.source_client)  # Magento answered: no longer refused
    claimable = claimable_entities(run=run).count()
    now = timezone.now()
    Run.objects.filter(pk=run.pk).update(
        collected=collected, heartbeat_at=now, collection_finished_at=now
    )
    _event(run, f"Collected {collected} changed contact(s); {claimable} to process.")
    if run.dry_run:
        for note in ptype.dry_run_notes(profile):  # what else the real run would do
            _event(run, note, level="warning")
    if foreground or run.dry_run:
        worker = f"cli:{worker_identity()}"
        while batch_process(run_id=run.pk, worker_id=worker):
            if progress is not None:
                run.refresh_from_db()
                progress(run, claimable)
        run_close_if_done(run_id=run.pk)
    else:
        from profiles.tasks import run_batches_task

        batches = max(1, math.ceil(claimable / profile.process_batch_size))
        for _ in range(batches):
            run_batches_task.delay(run_id=run.pk)
    run.refresh_from_db()
    return run


def claimable_entities(*, run: Run) -> QuerySet[Any]:
    """Pending entities, and retries that are due, of the run's profile (in its scope)."""
    ptype = registry.get(run.profile.type)
    if run.dry_run and run.scope.get("entity_ids"):
        # A dry run of named contacts (the explain page) shows them whatever their state.
        return ptype.entities(run.profile).filter(pk__in=run.scope["entity_ids"])
    now = timezone.now()
    qs = ptype.entities(run.profile).filter(
        Q(queue_status=QueueStatus.PENDING)
        & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        # Contacts waiting for an automatic retry come back once they are due.
        | Q(queue_status=QueueStatus.RETRY, next_attempt_at__lte=now)
    )
    if run.scope.get("entity_ids"):
        qs = qs.filter(pk__in=run.scope["entity_ids"])
    return qs


def run_has_claimable(*, run_id: int) -> bool:
    run = Run.objects.select_related("profile").get(pk=run_id)
    return run.status == RunStatus.RUNNING and claimable_entities(run=run).exists()


def entities_claim(*, run: Run, worker_id: str, limit: int, after_pk: int = 0) -> list[Any]:
    """Claim up to ``limit`` claimable entities for ``worker_id`` and return them.

    On PostgreSQL the rows are locked with ``FOR UPDATE SKIP LOCKED`` so concurrent workers
    never claim the same entity; on SQLite the IMMEDIATE transaction serialises writers,
    which gives the same guarantee on one machine. Dry runs claim nothing: they read the
    next ``limit`` entities after ``after_pk`` and leave them as they are.
    """
    qs = claimable_entities(run=run).order_by("pk")
    if run.dry_run:
        return list(qs.filter(pk__gt=after_pk)[:limit])
    with transaction.atomic():
        locked = qs.select_for_update(skip_locked=True, of=("self",))
        if connection.vendor != "postgresql":
            locked = qs
        ids = list(locked.values_list("pk", flat=True)[:limit])
        if not ids:
            return []
        model = qs.model
        model._default_manager.filter(pk__in=ids).update(
            queue_status=QueueStatus.PROCESSING,
            claimed_by=worker_id[:200],
            claimed_at=timezone.now(),
            run=run,
        )
    return list(model._default_manager.filter(pk__in=ids).order_by("pk"))


def batch_process(*, run_id: int, worker_id: str, after_pk: int = 0) -> int:
    """Claim one batch and walk it through the profile type's stages. Returns its size."""
    worker_id = worker_id[:200]  # as stored in claimed_by, which fences the outcome
    run = Run.objects.select_related("profile").get(pk=run_id)
    if run.status != RunStatus.RUNNING:
        return 0
    if run.owner and worker_id != f"cli:{run.owner}":
        return 0  # a foreground run belongs to its process (the reaper hands over dead ones)
    profile = run.profile
    ptype = registry.get(profile.type)
    if run.dry_run:
        after_pk = int(run.scope.get("dry_run_cursor", after_pk))
    entities = entities_claim(
        run=run, worker_id=worker_id, limit=profile.process_batch_size, after_pk=after_pk
    )
    if not entities:
        return 0
    if run.dry_run:
        run.scope["dry_run_cursor"] = entities[-1].pk
        Run.objects.filter(pk=run.pk).update(scope=run.scope)
    ctx = BatchContext(profile=profile, run=run, worker_id=worker_id, dry_run=run.dry_run)
    items = [WorkItem(entity=e) for e in entities]
    stages = ptype.ordered_stages()
    try:
        ptype.prepare_batch(ctx)
        for stage in stages:
            if stage.kind != "post_processor":
                stage.process(ctx, items)
    except Exception as exc:
        # Nothing is lost: what has no outcome yet is deferred with the reason, and the
        # post-processors below still record every item.
        logger.exception("batch of run %s failed", run.pk)
        timed_out = isinstance(exc, SoftTimeLimitExceeded)
        if timed_out or isinstance(exc, DatabaseError):
            # It may have struck in the middle of a query: record on a fresh connection.
            connections_reset()
        for item in items:
            if item.done:
                continue
            if timed_out:  # the batch's time, not the contact: no attempt used up
                item.finish(Outcome.DEFERRED, "Deferred: the batch reached its time limit.")
            else:
                item.finish(Outcome.RETRY, f"The batch stopped: {type(exc).__name__}: {exc}")
        reason = pause.refused_reason(exc)
        if reason and profile.client is not None:
            pause.items_pause(items, profile.client, reason)
        if isinstance(exc, AccountChanged):  # wait for a person's choice, sending nothing
            for item in items:
                if item.outcome == Outcome.RETRY:
                    item.finish(Outcome.DEFERRED, f"Not sent: {exc.message}")
        if isinstance(exc, RateLimited):  # the batch's deadline, or a rate limit
            for item in items:
                if item.outcome == Outcome.RETRY:
                    item.retry_after = exc.retry_after
                    item.finish(Outcome.DEFERRED, f"Deferred: {exc.message}")
    for stage in stages:
        if stage.kind == "post_processor":
            stage.process(ctx, items)
    telemetry.flush()  # the batch's API counts into the shared store for /metrics
    return len(entities)


def run_close_if_done(*, run_id: int) -> bool:
    """Close the run when nothing of it is claimable or in flight. Returns True if closed."""
    run = Run.objects.select_related("profile").get(pk=run_id)
    if run.status != RunStatus.RUNNING:
        return False
    ptype = registry.get(run.profile.type)
    in_flight = ptype.entities(run.profile).filter(queue_status=QueueStatus.PROCESSING, run=run)
    if in_flight.exists():
        return False
    if not run.dry_run and claimable_entities(run=run).exists():
        return False
    run_close(run=run)
    return True


def run_close(*, run: Run, error: str = "") -> None:
    """Finish the run once: status from its counts, a summary, the type's finish hook."""
    with transaction.atomic():
        locked = Run.objects.select_for_update().get(pk=run.pk)
        if locked.status not in ACTIVE_RUN_STATUSES:
            return
        if error:
            status = RunStatus.FAILED
        elif locked.failed and (
            locked.created + locked.updated + locked.unchanged + locked.skipped
        ):
            status = RunStatus.PARTIAL
        elif locked.failed:
            status = RunStatus.FAILED
        else:
            # Deferred and then sent within the same run is a success; what still waits
            # for a later run is not.
            waiting = _still_waiting(locked) if locked.retried else 0
            status = RunStatus.PARTIAL if waiting else RunStatus.SUCCESS
            if waiting:
                locked.scope = {**(locked.scope or {}), "waiting": waiting}
        locked.status = status
        locked.finished_at = timezone.now()
        locked.summary = error or run_summary(locked)
        locked.live_done = 0
        locked.save(update_fields=["status", "finished_at", "summary", "live_done", "scope"])
    if not error and not locked.dry_run:
        registry.get(locked.profile.type).finish_run(profile=locked.profile, run=locked)
        target = locked.profile.client
        if (
            target is not None
            and target.refused_at is not None
            and (locked.created or locked.updated)
        ):
            pause.client_accepted(target)  # it wrote again: the pause is over
    _event(locked, f"Run finished: {locked.get_status_display()}. {locked.summary}")


def _still_waiting(run: Run) -> int:
    """Contacts this run deferred that still wait for a later run."""
    return (
        registry.get(run.profile.type)
        .entities(run.profile)
        .filter(run=run, queue_status__in=[QueueStatus.PENDING, QueueStatus.RETRY])
        .count()
    )


def run_summary(run: Run) -> str:
    would = "would be " if run.dry_run else ""  # a dry run did none of it
    parts = [
        f"{run.collected} collected",
        f"{run.created} {would}created",
        f"{run.updated} {would}updated",
        f"{run.unchanged} unchanged",
        f"{run.skipped} {would}skipped",
        f"{run.failed} {'would fail' if run.dry_run else 'failed'}",
    ]
    if run.retried:
        parts.append(f"{run.retried} {'would wait' if run.dry_run else 'deferred for retry'}")
    prefix = "Dry run — nothing was sent: " if run.dry_run else ""
    return prefix + ", ".join(parts) + "."


def entities_reclaim_stale(*, older_than: timedelta | None = None) -> int:
    """Put claims of dead workers back to pending and re-enqueue the runs they belong to.

    A claim is stale when it is older than ``PIPELINE_STALE_CLAIM_SECONDS`` (the batch
    task's hard time limit is below it, so a live worker never holds a claim that long).
    Also closes runs that have nothing left to do. Returns the number of entities reclaimed.
    """
    from profiles.tasks import run_batches_task

    if older_than is None:  # (a zero timedelta is falsy, so no `or` here)
        older_than = timedelta(seconds=settings.PIPELINE_STALE_CLAIM_SECONDS)
    cutoff = timezone.now() - older_than
    reclaimed = 0
    # Several profile types may share one entity table: reclaim each table once.
    for model in {ptype.entity_model for ptype in registry.all_types()}:
        with transaction.atomic():
            stale = model._default_manager.filter(
                queue_status=QueueStatus.PROCESSING, claimed_at__lt=cutoff
            )
            if connection.vendor == "postgresql":
                stale = stale.select_for_update(skip_locked=True)
            ids = list(stale.values_list("pk", flat=True))
            if ids:
                reclaimed += model._default_manager.filter(pk__in=ids).update(
                    queue_status=QueueStatus.PENDING, claimed_by="", claimed_at=None
                )
        if ids:
            logger.warning(
                "reclaimed %d stale claim(s) in %s: %s",
                len(ids),
                model._meta.label,
                ", ".join(map(str, ids[:20])),
            )
    never_started = Run.objects.filter(status=RunStatus.QUEUED, created_at__lt=cutoff)
    for run in never_started.select_related("profile"):
        run_close(
            run=run, error="The run was queued but no worker started it (is a worker running?)."
        )
    for run in Run.objects.filter(status=RunStatus.RUNNING).select_related("profile"):
        silent = run.heartbeat_at is None or run.heartbeat_at < cutoff
        if run.collection_finished_at is None:
            # Still collecting: alive while it keeps beating; a silent one died.
            if silent:
                run_close(
                    run=run,
                    error="Collection stopped without finishing (the worker was lost); "
                    "what it had queued is processed by the next run.",
                )
            continue
        if run.dry_run:
            # Dry runs run in one process and claim nothing: silent means it died.
            if silent:
                run_close(run=run, error="The dry run stopped before it finished.")
            continue
        if run.owner:
            if not (owner_dead(run) or silent):
                continue  # its process is alive: its batches are its own
            # Its process is gone: the workers finish what it started.
            Run.objects.filter(pk=run.pk, owner=run.owner).update(owner="")
            _event(run, f"Its process ({run.owner}) is gone; the workers finish the run.")
        if run_close_if_done(run_id=run.pk):
            continue
        if claimable_entities(run=run).exists():
            run_batches_task.delay(run_id=run.pk)
    return reclaimed


_last_beat: dict[int, float] = {}
HEARTBEAT_EVERY = 15.0


def run_heartbeat_for(profile: Profile) -> None:
    """Show the profile's active run is alive (collectors call this per record; it writes
    at most every few seconds per process)."""
    now = time.monotonic()
    if now - _last_beat.get(profile.pk, 0.0) < HEARTBEAT_EVERY:
        return
    _last_beat[profile.pk] = now
    Run.objects.filter(profile=profile, status=RunStatus.RUNNING).update(
        heartbeat_at=timezone.now()
    )


def collection_error_reporter(run: Run | None) -> Callable[[str, str, Exception], None]:
    """A callback for collectors: a source record that cannot be read counts as a failed
    contact of the run (so the run can never end "success") with a message naming it."""

    def report(what: str, ident: str, exc: Exception) -> None:
        message = f"Could not read {what} {ident}: {type(exc).__name__}: {exc}"
        if run is None:
            logger.error("%s", message)
            return
        Run.objects.filter(pk=run.pk).update(failed=F("failed") + 1)
        _event(run, message, level="error")

    return report


def _event(run: Run, message: str, *, level: str = "info") -> None:
    logging.getLogger(f"contactsync.{run.profile.type}").info(
        "profile=%s run=%s %s", run.profile_id, run.pk, message
    )
    RunEvent.objects.create(run=run, level=level, message=message)
