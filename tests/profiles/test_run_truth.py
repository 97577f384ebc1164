"""A run's status, kind and progress as the admin shows them are true."""

from __future__ import annotations

import pytest
from django.utils import timezone

from profiles.dashboard import run_progress
from profiles.models import QueueStatus, Run, RunStatus, RunTrigger
from profiles.pipeline import BatchContext, Outcome, WorkItem
from profiles.services import runs
from tests.factories import ContactEntityFactory, ProfileFactory

pytestmark = pytest.mark.django_db


def _run(profile, **fields):
    fields.setdefault("trigger", RunTrigger.BUTTON)
    return Run.objects.create(profile=profile, **fields)


def test_status_labels_say_what_a_partial_run_left_behind():
    profile = ProfileFactory()
    collecting = _run(profile, status=RunStatus.RUNNING)
    assert collecting.status_label == "Collecting"
    collecting.collection_finished_at = timezone.now()
    assert collecting.status_label == "Running"
    collecting.status = RunStatus.SUCCESS
    collecting.save()
    failed = Run(profile=profile, status=RunStatus.PARTIAL, failed=2, created=3)
    assert failed.status_label == "Partial (2 failed)"
    deferred = Run(profile=profile, status=RunStatus.PARTIAL, retried=5, scope={"waiting": 4})
    assert deferred.status_label == "Partial (4 wait for a later run)"


@pytest.mark.parametrize(
    ("scope", "dry_run", "label"),
    [
        ({}, False, "Export"),
        ({}, True, "Dry run of export"),
        ({"initial": "both"}, False, "Initial export"),
        ({"initial": "both"}, True, "Dry run of initial export"),
        ({"entity_ids": [760]}, False, "Export of 1 contact"),
        ({"entity_ids": [1, 2]}, True, "Dry run of export of 2 contacts"),
        ({"job": "optin_sync"}, False, "Opt-in sync (Emarsys → Magento)"),
        ({"job": "drift"}, False, "Drift check"),
    ],
)
def test_kind_labels(scope, dry_run, label):
    assert Run(scope=scope, dry_run=dry_run).kind_label == label


def test_progress_moves_by_contact_and_the_batch_write_takes_it_back():
    profile = ProfileFactory()
    run = _run(profile, status=RunStatus.RUNNING, collection_finished_at=timezone.now())
    entities = [
        ContactEntityFactory(profile=profile, queue_status=QueueStatus.PROCESSING, run=run)
        for _ in range(4)
    ]
    assert run_progress(run)["text"] == "0 of 4 contacts processed."
    ctx = BatchContext(profile=profile, run=run, worker_id="w")
    items = [WorkItem(entity=e) for e in entities]
    items[0].finish(Outcome.CREATED)
    items[1].finish(Outcome.CREATED)
    ctx.progress(items)
    run.refresh_from_db()
    assert run.live_done == 2
    progress = run_progress(run)
    assert (progress["processed"], progress["total"], progress["percent"]) == (2, 4, 50)
    items[2].finish(Outcome.CREATED)
    ctx.progress(items)  # within the second: not written again
    run.refresh_from_db()
    assert run.live_done == 2
    ctx.reported_at -= 2
    ctx.progress(items)
    run.refresh_from_db()
    assert run.live_done == 3
    # The batch's outcome write counts them for real and takes them out of live_done.
    from profiles.pipeline import QueueAndLog

    for entity in entities:
        entity.claimed_by = "w"
        entity.save()
    items[3].finish(Outcome.UNCHANGED)
    QueueAndLog().process(ctx, items)
    run.refresh_from_db()
    assert (run.live_done, run.created, run.unchanged) == (0, 3, 1)
    assert run_progress(run)["processed"] == 4


def test_a_run_that_only_deferred_is_partial_with_how_many_wait():
    profile = ProfileFactory()
    run = _run(profile, status=RunStatus.RUNNING, retried=3)
    for _ in range(3):
        ContactEntityFactory(profile=profile, queue_status=QueueStatus.PENDING, run=run)
    runs.run_close(run=run)
    run.refresh_from_db()
    assert run.status == RunStatus.PARTIAL
    assert run.status_label == "Partial (3 wait for a later run)"
