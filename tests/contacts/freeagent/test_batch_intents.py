"""A batch records the intents of all its creates in one statement before its first POST;
an earlier unrecorded create of any of them costs one listing for the batch; intents of
creates never started are taken back."""

from __future__ import annotations

from datetime import timedelta

import pytest

from connectors.freeagent.client import FreeAgentClient
from contacts.freeagent.export import ContactWriter
from contacts.models import ContactEntity
from profiles.models import RunStatus, RunTrigger
from profiles.services import runs
from tests.contacts.freeagent.killing import Killed, kill_after_post, revive

pytestmark = pytest.mark.django_db


def export(profile):
    return runs.run_start(profile=profile, trigger=RunTrigger.CLI, foreground=True)


def intents():
    return {
        e.email: e.metadata["create_intent"]
        for e in ContactEntity.objects.all()
        if "create_intent" in (e.metadata or {})
    }


def test_every_create_of_the_batch_is_intended_before_the_first_post(world, monkeypatch):
    for n in range(4):
        world.add_customer(email=f"i{n}@example.com")
    profile = world.profile(process_batch_size=10)
    seen = []
    original = FreeAgentClient.create_contact

    def create(self, fields):
        seen.append(dict(intents()))
        return original(self, fields)

    monkeypatch.setattr(FreeAgentClient, "create_contact", create)
    run = export(profile)

    assert (run.status, run.created) == (RunStatus.SUCCESS, 4), run.summary
    assert sorted(seen[0]) == [f"i{n}@example.com" for n in range(4)]
    assert len({i["at"] for i in seen[0].values()}) == 1  # one statement for the batch
    assert intents() == {}  # each linked create took its intent back


def test_a_kill_mid_batch_costs_one_listing_and_no_duplicate(world, monkeypatch):
    """kill -9 right after the third POST: no link of the batch was written (a group's links
    are written after its POSTs), the other two creates never started."""
    for n in range(5):
        world.add_customer(email=f"k{n}@example.com")
    profile = world.profile(process_batch_size=10)
    kill_after_post(monkeypatch, lambda fields, n: n == 3)
    with pytest.raises(Killed):
        export(profile)
    revive(monkeypatch)
    assert len(intents()) == 5  # three posted (never linked) and the two not started
    assert ContactEntity.objects.exclude(remote_id="").count() == 0

    lists_before = len([r for r in world.fa_requests("GET") if r["path"] == "/v2/contacts"])
    runs.entities_reclaim_stale(older_than=timedelta(seconds=0))  # the reaper resumes it

    lists = [r for r in world.fa_requests("GET") if r["path"] == "/v2/contacts"]
    assert len(lists) - lists_before <= 2  # the run's cache read and one reconcile listing
    assert len(world.fa_contacts()) == 5
    assert len(world.fa_requests("POST")) == 5  # the third was linked, never sent again
    urls = set(ContactEntity.objects.filter(profile=profile).values_list("remote_id", flat=True))
    assert urls == {c["url"] for c in world.fa_contacts()}
    assert intents() == {}


def test_creates_never_started_take_their_intent_back(world, monkeypatch):
    for n in range(3):
        world.add_customer(email=f"d{n}@example.com")
    profile = world.profile(process_batch_size=10)
    after_first_batch = []
    release = ContactWriter.intents_release

    def released(self, items):
        release(self, items)
        after_first_batch.append(intents())

    # The first batch's time runs out before any create starts; the next batch sends them.
    monkeypatch.setattr(
        "contacts.freeagent.profile_type.too_late", lambda slack: not after_first_batch
    )
    monkeypatch.setattr(ContactWriter, "intents_release", released)

    run = export(profile)

    assert after_first_batch[0] == {}  # no later batch reconciles creates that never happened
    assert (run.created, len(world.fa_requests("POST"))) == (3, 3)
    # Deferred, then sent by the same run: a success (nothing waits for a later run).
    assert run.status == RunStatus.SUCCESS, run.summary
    lists = [r for r in world.fa_requests("GET") if r["path"] == "/v2/contacts"]
    assert len(lists) == 1  # the run's one cache read: no reconcile listing


@pytest.mark.django_db(transaction=True)  # the time limit resets the connection
def test_a_post_cut_off_in_flight_is_not_looked_for_until_it_can_have_landed(world, monkeypatch):
    """The soft time limit strikes while a POST is in flight; FreeAgent finishes it later.
    The contact waits IN_FLIGHT_SECONDS before it is reconciled, so the late create is found
    and linked instead of a second one being made (the 5,000-contact chaos run's duplicate)."""
    from celery.exceptions import SoftTimeLimitExceeded
    from django.utils import timezone

    from contacts.freeagent.export import IN_FLIGHT_SECONDS

    world.add_customer(email="late@example.com", firstname="La", lastname="Te")
    profile = world.profile()
    original = FreeAgentClient.create_contact
    in_flight = []

    def cut_off(self, fields):
        if not in_flight:
            in_flight.append((self, fields))
            raise SoftTimeLimitExceeded()
        return original(self, fields)

    monkeypatch.setattr(FreeAgentClient, "create_contact", cut_off)
    run = export(profile)

    entity = ContactEntity.objects.get(profile=profile)
    assert entity.queue_status == "pending"
    assert entity.next_attempt_at >= timezone.now() + timedelta(seconds=IN_FLIGHT_SECONDS - 5)
    assert len(world.fa_requests("POST")) == 0
    assert run.created == 0
    client, fields = in_flight[0]
    original(client, fields)  # FreeAgent finishes the request it was still working on

    ContactEntity.objects.filter(pk=entity.pk).update(next_attempt_at=timezone.now())
    again = export(profile)

    assert again.status == RunStatus.SUCCESS, again.summary
    contacts = [c for c in world.fa_contacts() if c["email"] == "late@example.com"]
    assert len(contacts) == 1
    entity.refresh_from_db()
    assert entity.remote_id == contacts[0]["url"]
