"""The contacts cache is read once per run and at most every REFRESH_EVERY inside one: our
own creates are cached as they are linked, so a per-batch re-read would list them again."""

from __future__ import annotations

from datetime import timedelta

import pytest

from contacts.freeagent import cache
from contacts.models import ContactEntity
from profiles.models import RunStatus, RunTrigger, SyncStatus
from profiles.services import runs

pytestmark = pytest.mark.django_db


def export(profile):
    return runs.run_start(profile=profile, trigger=RunTrigger.CLI, foreground=True)


def list_reads(world):
    return [r for r in world.fa_requests("GET") if r["path"] == "/v2/contacts"]


def test_a_first_sync_lists_contacts_once_not_once_a_batch(world):
    for n in range(30):
        world.add_customer(email=f"batch{n}@example.com")
    profile = world.profile(process_batch_size=5)  # six batches

    run = export(profile)

    assert (run.status, run.created) == (RunStatus.SUCCESS, 30), run.summary
    assert len(list_reads(world)) == 1
    assert len(world.fa_requests("POST")) == 30  # requests grow with the contacts, not batches


def test_every_run_reads_what_was_created_outside_since_the_last_one(world):
    world.add_customer(email="first@example.com")
    profile = world.profile()
    export(profile)
    outside = world.fa_seed_contact(
        first_name="Made", last_name="Outside", email="late@example.com"
    )
    world.add_customer(email="late@example.com", firstname="Made", lastname="Outside")

    run = export(profile)  # seconds later: a new run still reads the cache first

    assert run.status == RunStatus.SUCCESS, run.summary
    entity = ContactEntity.objects.get(profile=profile, email="late@example.com")
    assert entity.remote_id == outside["url"]
    assert len([c for c in world.fa_contacts() if c["email"] == "late@example.com"]) == 1


def test_inside_a_long_run_the_cache_is_read_again_after_refresh_every(world, monkeypatch):
    for n in range(4):
        world.add_customer(email=f"long{n}@example.com")
    world.add_customer(email="dup@example.com", firstname="Dee", lastname="Up")
    profile = world.profile(process_batch_size=2)
    created_outside = []
    original = cache.remote_contacts_collect

    def collect_then_someone_creates(**kwargs):
        result = original(**kwargs)
        if not created_outside:  # after the first read: a person adds the contact by hand
            created_outside.append(
                world.fa_seed_contact(first_name="Dee", last_name="Up", email="dup@example.com")
            )
        return result

    monkeypatch.setattr(cache, "REFRESH_EVERY", timedelta(0))  # every batch is "long ago"
    monkeypatch.setattr(
        "contacts.freeagent.profile_type.remote_contacts_collect", collect_then_someone_creates
    )

    run = export(profile)

    assert run.status == RunStatus.SUCCESS, run.summary
    assert len(list_reads(world)) == 3  # one read per batch once REFRESH_EVERY has passed
    entity = ContactEntity.objects.get(profile=profile, email="dup@example.com")
    assert entity.remote_id == created_outside[0]["url"]
    assert entity.status != SyncStatus.AMBIGUOUS
    assert len([c for c in world.fa_contacts() if c["email"] == "dup@example.com"]) == 1


def test_an_empty_account_under_update_existing_is_read_once_and_the_run_ends(world):
    """Nothing ever reaches the cache: it must not be read in full before every batch, nor
    its ambiguous contacts queued again for the same run (a run that never ended)."""
    world.add_customer(email="twin@example.com", website_id=1, firstname="A")
    world.add_customer(email="twin@example.com", website_id=2, firstname="B")
    for n in range(6):
        world.add_customer(email=f"only{n}@example.com")
    profile = world.profile(process_batch_size=2, api_behaviour="update")

    run = export(profile)

    assert run.status != RunStatus.RUNNING
    assert run.processed == 8, run.summary  # each person decided once
    assert len(list_reads(world)) == 1
    twins = ContactEntity.objects.filter(profile=profile, email="twin@example.com")
    assert {t.status for t in twins} == {SyncStatus.AMBIGUOUS}
