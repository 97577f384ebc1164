"""Foreground (command-line) runs belong to their process: workers never take their
batches while it lives; when it is gone, a new run takes over at once (same machine) and the
reaper hands the rest to the workers."""

from __future__ import annotations

import os
import socket
import subprocess

import pytest
from django.utils import timezone

from profiles.models import QueueStatus, Run, RunStatus, RunTrigger
from profiles.services import runs
from tests.factories import ContactEntityFactory, ProfileFactory

pytestmark = pytest.mark.django_db


def dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def open_run(profile, owner):
    now = timezone.now()
    return Run.objects.create(
        profile=profile,
        trigger=RunTrigger.CLI,
        status=RunStatus.RUNNING,
        owner=owner,
        started_at=now,
        heartbeat_at=now,
        collection_finished_at=now,
    )


def test_workers_never_take_the_batches_of_a_live_foreground_run():
    profile = ProfileFactory()
    entity = ContactEntityFactory(profile=profile)
    run = open_run(profile, f"{socket.gethostname()}:{os.getpid()}")

    assert runs.batch_process(run_id=run.pk, worker_id="worker-host:4242") == 0
    runs.entities_reclaim_stale()  # the run shows signs of life: not stale
    entity.refresh_from_db()
    assert entity.queue_status == QueueStatus.PENDING  # left to its own process
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING


def test_the_reaper_hands_a_dead_foreground_run_to_the_workers():
    profile = ProfileFactory()
    entities = ContactEntityFactory.create_batch(3, profile=profile)
    run = open_run(profile, f"{socket.gethostname()}:{dead_pid()}")

    runs.entities_reclaim_stale()  # eager Celery: the workers' batches run here

    run.refresh_from_db()
    assert run.owner == ""
    assert run.status == RunStatus.SUCCESS
    assert run.created == 3
    assert run.events.filter(message__contains="the workers finish the run").exists()
    for entity in entities:
        entity.refresh_from_db()
        assert entity.queue_status == QueueStatus.COMPLETE


def test_a_new_foreground_run_takes_over_a_dead_one_and_says_so():
    profile = ProfileFactory()
    ContactEntityFactory(profile=profile)
    dead = open_run(profile, f"{socket.gethostname()}:{dead_pid()}")

    run = runs.run_start(profile=profile, trigger=RunTrigger.CLI, foreground=True)

    assert run.status == RunStatus.SUCCESS
    assert run.events.filter(message__startswith=f"Took over from run {dead.pk}").exists()
    dead.refresh_from_db()
    assert dead.status == RunStatus.FAILED
