"""A soft time limit that fires anywhere in a batch never poisons the worker process: the
next task of the same process runs normally and the run ends with every contact exactly
once (FreeAgent export against the simulator, eager Celery: the workers' code path)."""

from __future__ import annotations

import contextlib
import random
from datetime import timedelta

import pytest
from billiard.exceptions import SoftTimeLimitExceeded
from django.db import connection

from connectors.simulators.kit import FixedWindow
from contacts.models import ContactEntity
from profiles.models import QueueStatus, Run, RunStatus, RunTrigger
from profiles.services import runs
from profiles.tasks import reclaim_stale_claims, run_execute_task

pytestmark = pytest.mark.django_db(transaction=True)

TRIALS = 12


class SoftLimitAt:
    """Raise SoftTimeLimitExceeded when the ``at``-th database query made inside a batch
    runs (claims, generator reads, intents, links, cache writes, outcome writes …)."""

    def __init__(self, at: int) -> None:
        self.at = at
        self.seen = 0
        self.fired = False
        self.active = False  # inside a batch …
        self.armed = False  # … of the worker's tasks (not the recovery runs after)

    def __call__(self, execute, sql, params, many, context):
        if self.active and self.armed:
            self.seen += 1
            if not self.fired and self.seen == self.at:
                self.fired = True
                raise SoftTimeLimitExceeded()
        return execute(sql, params, many, context)


def test_a_soft_time_limit_at_random_points_never_loses_or_doubles_a_contact(world, monkeypatch):
    rng = random.Random(20261202)
    fired = 0
    limit = SoftLimitAt(0)
    real_batch = runs.batch_process

    def batch(**kwargs):
        limit.active = True
        try:
            return real_batch(**kwargs)
        finally:
            limit.active = False

    monkeypatch.setattr(runs, "batch_process", batch)
    # Many runs in a row: keep FreeAgent's 120 requests/minute out of the way (both ours
    # and the simulator's).
    world.books.settings = {"rate_limit": {"per_minute": 100_000, "per_hour": 1_000_000}}
    world.books.save()
    monkeypatch.setattr(world.sims.freeagent.app, "per_minute", FixedWindow(100_000, 60))
    for trial in range(TRIALS):
        emails = [f"t{trial}-{n}@example.com" for n in range(4)]
        for email in emails:
            world.add_customer(email=email, firstname="Soft", lastname=f"L{trial}")
        profile = world.profile(name=f"soft-{trial}", process_batch_size=4)
        # A batch of 4 new contacts makes about 100 queries.
        limit.at, limit.seen, limit.fired = rng.randint(1, 110), 0, False
        run = Run.objects.create(profile=profile, trigger=RunTrigger.SCHEDULE)
        limit.armed = True
        with connection.execute_wrapper(limit), contextlib.suppress(SoftTimeLimitExceeded):
            # The worker's tasks (eager: here); the limit fires in whichever task it hits.
            # Where a task does not catch it, the worker records the task as failed and
            # goes on with the next one — as here.
            run_execute_task.apply(kwargs={"run_id": run.pk})
        limit.armed = False
        fired += limit.fired
        # The same process goes on: the reaper hands what was claimed out again.
        for _ in range(3):
            reclaim_stale_claims.apply()
            runs.entities_reclaim_stale(older_than=timedelta(0))
        run = Run.objects.filter(profile=profile).latest("created_at")
        assert run.status in (RunStatus.SUCCESS, RunStatus.PARTIAL, RunStatus.FAILED)
        complete = ContactEntity.objects.filter(
            profile=profile, email__in=emails, queue_status=QueueStatus.COMPLETE
        ).count()
        if complete < len(emails):  # the limit hit collection, or deferred some: next run
            ContactEntity.objects.filter(profile=profile).update(next_attempt_at=None)
            runs.run_start(profile=profile, trigger=RunTrigger.SCHEDULE)
        contacts = [c for c in world.fa_contacts() if c.get("email") in emails]
        assert sorted(c["email"] for c in contacts) == sorted(emails), trial  # once each
        mine = ContactEntity.objects.filter(profile=profile, email__in=emails)
        assert not mine.exclude(queue_status=QueueStatus.COMPLETE).exists(), trial
    assert fired >= TRIALS * 3 // 4  # the limit really fired inside a batch in most trials
