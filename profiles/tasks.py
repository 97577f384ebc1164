"""Celery tasks: thin adapters that pass ids to services. Names are explicit and stable."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from celery import Task, shared_task
from django.conf import settings

from connectors.deadline import deadline
from connectors.errors import ConfigurationError
from profiles.models import Profile, RunTrigger
from profiles.services import pause, retention, runs
from profiles.services.accounts import profile_account_mismatch

logger = logging.getLogger(__name__)

# Seconds kept free before the soft time limit: the longest request (connect + read
# timeouts) and the batch's outcome writes (a quarter of a short limit).
BATCH_DEADLINE_MARGIN = 120


def time_limits(timelimit: Sequence[float | None] | None) -> tuple[float, float]:
    """The soft and hard time limits a task really runs under: the ones its message
    carries (set by whoever queued it), else this process's settings."""
    hard, soft = timelimit or (None, None)
    return (
        float(soft or settings.CELERY_TASK_SOFT_TIME_LIMIT),
        float(hard or settings.CELERY_TASK_TIME_LIMIT),
    )


def batch_deadline(soft: float) -> float:
    """Seconds a batch may wait for budgets, 429s and backoff under a soft limit."""
    return soft - min(BATCH_DEADLINE_MARGIN, soft / 4)


@shared_task(name="profiles.run_profile_scheduled", ignore_result=True)
def run_profile_scheduled(profile_id: int) -> None:
    """Beat entry point: start a scheduled run unless one is already active."""
    profile = Profile.objects.filter(pk=profile_id).first()
    if profile is None:
        logger.warning("scheduled run for missing profile %s ignored", profile_id)
        return
    if not profile.status:
        logger.info("profile %s has its schedule disabled; not running", profile_id)
        return
    changed = profile_account_mismatch(profile)
    if changed:
        logger.warning("profile %s not run: %s", profile_id, changed)
        return
    refused = pause.profile_paused_by(profile)
    if refused is not None:
        logger.info(
            "profile %s is paused: client %s refused the credentials; not running",
            profile_id,
            refused.pk,
        )
        return
    try:
        runs.run_start(profile=profile, trigger=RunTrigger.SCHEDULE)
    except runs.RunAlreadyActive as exc:
        logger.info("%s Skipping this scheduled run.", exc)
    except ConfigurationError as exc:
        logger.error("profile %s not run: %s", profile_id, exc)


@shared_task(
    name="profiles.run_execute",
    ignore_result=True,
    # Collection of a large store's first sync is long but keeps a heartbeat; its cursors
    # are saved as it goes, so a run cut short resumes where it stopped.
    soft_time_limit=3300,
    time_limit=3600,
)
def run_execute_task(run_id: int) -> None:
    """Collect and fan the run out into batch tasks."""
    runs.run_execute(run_id=run_id)


@shared_task(name="profiles.run_batches", acks_late=True, ignore_result=True, bind=True)
def run_batches_task(self: Task, run_id: int) -> None:
    """Claim and process one batch of the run; queue a follow-up while work remains.

    One batch per task keeps every task well inside its time limit (and so inside the
    stale-claim timeout). Idempotent — it only ever takes what is still pending — hence
    ``acks_late``.
    """
    # Waits never run past this, well inside the soft time limit: what does not fit is
    # deferred, never cut off by the limit in the middle of a database write.
    soft, hard = time_limits(self.request.timelimit)
    with deadline(batch_deadline(soft), hard_limit=hard):
        processed = runs.batch_process(run_id=run_id, worker_id=runs.worker_identity())
    if processed and runs.run_has_claimable(run_id=run_id):
        run_batches_task.delay(run_id=run_id)
    runs.run_close_if_done(run_id=run_id)


@shared_task(name="profiles.alerts_evaluate", ignore_result=True)
def alerts_evaluate_task() -> int:
    """Open, remind and resolve the profiles' alert incidents (every five minutes)."""
    from profiles.services.alerts import alerts_evaluate

    return alerts_evaluate()


@shared_task(name="profiles.purge_history", ignore_result=True)
def purge_history() -> None:
    """Delete history older than HISTORY_RETENTION_DAYS (beat, daily)."""
    purged = retention.history_purge()
    logger.info("history purge: %d run(s), %d attempt(s) deleted", purged.runs, purged.attempts)


@shared_task(name="profiles.reclaim_stale_claims", ignore_result=True)
def reclaim_stale_claims() -> int:
    """Hand claims of dead workers out again (beat, every minute) — always on a healthy
    connection, whatever an earlier task of this process left behind."""
    from profiles.services.database import connections_reset

    connections_reset(only_broken=True)
    return runs.entities_reclaim_stale()
