"""The pipeline framework, run in the foreground on the test-only 'trace' profile type."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError
from django.utils import timezone

from contacts.models import ContactEntity
from profiles import registry
from profiles.models import QueueStatus, Run, RunStatus, RunTrigger, SyncStatus
from profiles.services import runs
from tests.factories import ContactEntityFactory, ProfileFactory

pytestmark = pytest.mark.django_db


def test_stages_run_in_kind_then_sort_order():
    stages = registry.get("test_trace").ordered_stages()
    assert [(s.kind, s.name, s.sort_order) for s in stages] == [
        ("generator", "Trace Data", 10),
        ("processor", "Trace Export", 40),
        ("post_processor", "Queue & Log", 100),
    ]


def test_foreground_run_processes_every_pending_entity_in_batches():
    profile = ProfileFactory(process_batch_size=7)
    entities = ContactEntityFactory.create_batch(23, profile=profile)
    progress = []

    run = runs.run_start(
        profile=profile,
        trigger=RunTrigger.CLI,
        foreground=True,
        progress=lambda r, total: progress.append((r.processed, total)),
    )

    assert run.status == RunStatus.SUCCESS
    assert (run.collected, run.created, run.failed) == (23, 23, 0)
    assert [p for p, _ in progress] == [7, 14, 21, 23]
    for entity in ContactEntity.objects.filter(pk__in=[e.pk for e in entities]):
        assert entity.queue_status == QueueStatus.COMPLETE
        assert entity.status == SyncStatus.CREATED
        assert entity.remote_id == f"trace/{entity.pk}"
        assert entity.processed_at is not None
        assert entity.claimed_by == ""
    assert run.finished_at is not None
    assert "23 created" in run.summary
    assert run.events.filter(message__startswith="Run finished").exists()


def test_one_bad_entity_never_stops_the_batch_and_the_run_is_partial():
    profile = ProfileFactory(process_batch_size=5)
    ContactEntityFactory.create_batch(4, profile=profile)
    bad = ContactEntityFactory(profile=profile, metadata={"invalid": True})

    run = runs.run_start(profile=profile, foreground=True)

    assert run.status == RunStatus.PARTIAL
    assert (run.created, run.failed) == (4, 1)
    bad.refresh_from_db()
    assert bad.queue_status == QueueStatus.FAILED
    assert bad.message["text"] == "email: malformed address"
    assert run.events.filter(level="error", entity_id=bad.pk).exists()


def test_transient_failure_is_deferred_when_retry_is_on_then_fails_after_max_attempts():
    profile = ProfileFactory(enable_retry_on_failure=True, retry_max_attempts=2)
    flaky = ContactEntityFactory(profile=profile, metadata={"transient": True})

    first = runs.run_start(profile=profile, foreground=True)
    flaky.refresh_from_db()
    assert first.retried == 1
    assert first.status == RunStatus.PARTIAL  # deferred work is never reported as success
    assert flaky.queue_status == QueueStatus.RETRY
    assert flaky.attempts == 1
    assert flaky.next_attempt_at > timezone.now()

    # Not due yet: the next run leaves it alone.
    second = runs.run_start(profile=profile, foreground=True)
    assert second.processed == 0
    assert second.retried == 0

    # Due: the retry is attempted again by the next run and, at the maximum, fails for good.
    ContactEntity.objects.filter(pk=flaky.pk).update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    third = runs.run_start(profile=profile, foreground=True)
    flaky.refresh_from_db()
    assert third.failed == 1
    assert flaky.queue_status == QueueStatus.FAILED
    assert flaky.attempts == 2
    assert "gave up after 2 attempt(s)" in flaky.message["text"]


def test_transient_failure_with_retry_off_fails_with_the_reason():
    profile = ProfileFactory(enable_retry_on_failure=False)
    flaky = ContactEntityFactory(profile=profile, metadata={"transient": True})
    run = runs.run_start(profile=profile, foreground=True)
    flaky.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert flaky.queue_status == QueueStatus.FAILED
    assert "automatic retry is disabled" in flaky.message["text"]


def test_overlapping_run_of_the_same_profile_is_refused():
    profile = ProfileFactory()
    Run.objects.create(profile=profile, trigger=RunTrigger.SCHEDULE, status=RunStatus.RUNNING)
    with pytest.raises(runs.RunAlreadyActive, match="already running"):
        runs.run_start(profile=profile, foreground=True)
    # Another profile is not affected.
    other = ProfileFactory()
    assert runs.run_start(profile=other, foreground=True).status == RunStatus.SUCCESS


def test_database_constraint_refuses_a_second_active_run():
    profile = ProfileFactory()
    Run.objects.create(profile=profile, trigger=RunTrigger.CLI, status=RunStatus.QUEUED)
    with pytest.raises(IntegrityError):
        Run.objects.create(profile=profile, trigger=RunTrigger.CLI, status=RunStatus.RUNNING)


def test_entity_scope_processes_only_the_given_ids():
    profile = ProfileFactory()
    a, b, c = ContactEntityFactory.create_batch(3, profile=profile)
    run = runs.run_start(profile=profile, foreground=True, entity_ids=[b.pk])
    assert run.created == 1
    states = dict(ContactEntity.objects.values_list("pk", "queue_status"))
    assert states == {a.pk: "pending", b.pk: "complete", c.pk: "pending"}


def test_dry_run_processes_everything_and_changes_nothing():
    profile = ProfileFactory(process_batch_size=2)
    ContactEntityFactory.create_batch(5, profile=profile)
    run = runs.run_start(profile=profile, foreground=True, dry_run=True)
    assert run.status == RunStatus.SUCCESS
    assert run.created == 5
    assert run.summary.startswith("Dry run")
    assert set(ContactEntity.objects.values_list("queue_status", flat=True)) == {"pending"}
    assert set(ContactEntity.objects.values_list("remote_id", flat=True)) == {""}


def test_stale_claims_are_reclaimed_and_processed_by_the_next_batch():
    profile = ProfileFactory(process_batch_size=10)
    entities = ContactEntityFactory.create_batch(3, profile=profile)
    run = Run.objects.create(
        profile=profile,
        trigger=RunTrigger.CLI,
        status=RunStatus.RUNNING,
        heartbeat_at=timezone.now(),
        collection_finished_at=timezone.now(),
    )
    claimed = runs.entities_claim(run=run, worker_id="dead-worker:1", limit=10)
    assert {e.pk for e in claimed} == {e.pk for e in entities}
    # A live claim is not reclaimed; nothing else can claim these entities meanwhile.
    assert runs.entities_reclaim_stale(older_than=timedelta(minutes=5)) == 0
    assert runs.entities_claim(run=run, worker_id="other:2", limit=10) == []

    ContactEntity.objects.update(claimed_at=timezone.now() - timedelta(minutes=10))
    # Reclaiming re-enqueues the still-open run (eager in tests), which processes and closes it.
    assert runs.entities_reclaim_stale(older_than=timedelta(minutes=5)) == 3
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCESS
    assert run.created == 3
    assert set(ContactEntity.objects.values_list("queue_status", flat=True)) == {"complete"}


def test_a_run_queued_but_never_started_is_closed_as_failed_by_the_reaper():
    profile = ProfileFactory()
    run = Run.objects.create(
        profile=profile,
        trigger=RunTrigger.SCHEDULE,
        created_at=timezone.now() - timedelta(hours=1),
    )
    runs.entities_reclaim_stale(older_than=timedelta(minutes=5))
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "no worker started it" in run.summary


def test_background_run_through_eager_celery_tasks():
    profile = ProfileFactory(process_batch_size=4)
    ContactEntityFactory.create_batch(9, profile=profile)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("django.db.transaction.on_commit", lambda fn, *a, **k: fn())
        run = runs.run_start(profile=profile, trigger=RunTrigger.BUTTON)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCESS
    assert run.created == 9


def test_the_reaper_leaves_a_live_collection_alone_and_fails_a_silent_one():
    profile = ProfileFactory()
    now = timezone.now()
    live = Run.objects.create(
        profile=profile, trigger=RunTrigger.SCHEDULE, status=RunStatus.RUNNING, heartbeat_at=now
    )
    runs.entities_reclaim_stale(older_than=timedelta(minutes=5))
    live.refresh_from_db()
    assert live.status == RunStatus.RUNNING  # still collecting, and beating

    Run.objects.filter(pk=live.pk).update(heartbeat_at=now - timedelta(minutes=10))
    runs.entities_reclaim_stale(older_than=timedelta(minutes=5))
    live.refresh_from_db()
    assert live.status == RunStatus.FAILED
    assert "Collection stopped without finishing" in live.summary


def test_a_dry_run_that_died_does_not_block_its_profile():
    profile = ProfileFactory()
    old = timezone.now() - timedelta(minutes=10)
    dead = Run.objects.create(
        profile=profile,
        trigger=RunTrigger.CLI,
        status=RunStatus.RUNNING,
        dry_run=True,
        heartbeat_at=old,
        collection_finished_at=old,
    )
    runs.entities_reclaim_stale(older_than=timedelta(minutes=5))
    dead.refresh_from_db()
    assert dead.status == RunStatus.FAILED
    assert runs.run_start(profile=profile, foreground=True).status == RunStatus.SUCCESS


def test_an_outcome_is_only_recorded_by_the_worker_that_holds_the_claim():
    from profiles.pipeline import BatchContext, Outcome, QueueAndLog, WorkItem

    profile = ProfileFactory()
    entity = ContactEntityFactory(profile=profile)
    run = Run.objects.create(
        profile=profile,
        trigger=RunTrigger.CLI,
        status=RunStatus.RUNNING,
        heartbeat_at=timezone.now(),
        collection_finished_at=timezone.now(),
    )
    (claimed,) = runs.entities_claim(run=run, worker_id="slow", limit=1)
    # The slow worker looked dead; its claim went to another worker.
    ContactEntity.objects.filter(pk=entity.pk).update(claimed_by="other")
    item = WorkItem(entity=claimed)
    item.finish(Outcome.CREATED, "late")
    QueueAndLog().process(BatchContext(profile=profile, run=run, worker_id="slow"), [item])
    entity.refresh_from_db()
    assert entity.queue_status == QueueStatus.PROCESSING
    assert entity.claimed_by == "other"
    run.refresh_from_db()
    assert run.created == 0
    assert run.events.filter(message__contains="was not recorded").exists()
