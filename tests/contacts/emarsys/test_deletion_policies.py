"""Emarsys deletion policies against the simulator: ``unsubscribe`` opts the person out
and empties the mapped fields (the e-mail stays, so the opt-out stands), ``delete`` removes
the contact; a person still subscribed in Magento is left to the generator; a
``customer.deleted`` notification acts at once; ``forget`` blanks the deletion log."""

from __future__ import annotations

import io

import pytest
import requests
from django.core.management import call_command

from contacts.emarsys.services import emarsys_realtime_sync
from contacts.models import ContactEntity, DeletionOutcome, DeletionRecord
from contacts.services.deletions import magento_deletions_detect
from profiles.models import QueueStatus, RunTrigger, SyncStatus
from profiles.services import runs
from profiles.services.connections import emarsys_client, magento_client
from tests.traces import traces

pytestmark = pytest.mark.django_db


def with_policy(env, name: str) -> None:
    env.profile.settings = {
        **env.profile.settings,
        "deletions": {"policy": name, "brake_percent": 100},
    }
    env.profile.full_clean()
    env.profile.save()


def by_email(env) -> dict[str, dict]:
    return {c["fields"]["3"]: c for c in env.contacts()}


def delete_in_magento(env, customer_id: int) -> None:
    requests.delete(f"{env.mg}/_sim/customers/{customer_id}", timeout=5).raise_for_status()


def detect(env):
    store = env.profile.source_client
    return magento_deletions_detect(store, magento_client(store))


def test_unsubscribe_opts_out_and_empties_the_mapped_fields(env, admin_client):
    with_policy(env, "unsubscribe")
    gone = env.customer(email="una.sub@example.com", firstname="Una", lastname="Subbed")
    env.customer(email="stays@example.com", firstname="Stay")
    first = runs.run_start(profile=env.profile, trigger=RunTrigger.CLI, foreground=True)
    assert first.created == 2, first.summary
    assert by_email(env)["una.sub@example.com"]["fields"]["1"] == "Una"
    # Opted in meanwhile in Emarsys (a form): the deletion must take that back too.
    emarsys_client(env.emarsys).update_contact({"3": "una.sub@example.com", "31": 1})
    assert str(by_email(env)["una.sub@example.com"]["fields"]["31"]) == "1"
    delete_in_magento(env, gone["id"])

    report = detect(env)
    assert report.marked == 1
    contact = by_email(env)["una.sub@example.com"]  # kept, with the e-mail: the opt-out stands
    assert str(contact["fields"]["31"]) == "2"
    assert contact["fields"].get("1") in ("", None)
    assert contact["fields"].get("2") in ("", None)
    assert by_email(env)["stays@example.com"]["fields"]["1"] == "Stay"
    record = DeletionRecord.objects.get(profile=env.profile)
    assert record.outcome == DeletionOutcome.UNSUBSCRIBED
    assert "mapped field(s) emptied" in record.remote_answer
    entity = ContactEntity.objects.get(profile=env.profile, customer_id=gone["id"])
    assert entity.status == SyncStatus.SOURCE_DELETED
    assert entity.remote_id
    page = admin_client.get(f"/admin/contacts/contactentity/{entity.pk}/change/").content.decode()
    assert "deletion policy unsubscribe: unsubscribed and cleared remotely" in page
    after = runs.run_start(profile=env.profile, trigger=RunTrigger.CLI, foreground=True)
    assert after.failed == 0
    assert str(by_email(env)["una.sub@example.com"]["fields"]["31"]) == "2"


def test_delete_removes_the_contact_and_forget_blanks_the_log(env):
    with_policy(env, "delete")
    gone = env.customer(email="dee.lete@example.com", firstname="Dee", lastname="Quorvath")
    env.customer(email="stays@example.com", firstname="Stay")
    runs.run_start(profile=env.profile, trigger=RunTrigger.CLI, foreground=True)
    delete_in_magento(env, gone["id"])
    detect(env)
    assert set(by_email(env)) == {"stays@example.com"}
    record = DeletionRecord.objects.get(profile=env.profile)
    assert (record.outcome, record.email) == (DeletionOutcome.DELETED, "dee.lete@example.com")

    call_command("forget", "--email", "dee.lete@example.com", stdout=io.StringIO())
    record.refresh_from_db()
    assert (record.outcome, record.email, record.person_key) == (
        DeletionOutcome.DELETED,
        "",
        "(forgotten)",
    )  # the line stays: who deleted what, when — not whom
    assert traces(["dee.lete@example.com", "Quorvath"]) == []


def test_a_person_still_subscribed_is_left_to_the_generator(env):
    with_policy(env, "delete")
    kept = env.customer(email="still.subbed@example.com", firstname="Still")
    env.subscriber("still.subbed@example.com", 1)  # also a guest subscription of theirs
    env.customer(email="stays@example.com")
    runs.run_start(profile=env.profile, trigger=RunTrigger.CLI, foreground=True)
    delete_in_magento(env, kept["id"])
    detect(env)
    assert "still.subbed@example.com" in by_email(env)  # not deleted: they still subscribe
    assert not DeletionRecord.objects.filter(profile=env.profile).exists()
    entity = ContactEntity.objects.get(profile=env.profile, customer_id=kept["id"])
    assert entity.queue_status == QueueStatus.PENDING


def test_a_deleted_notification_acts_at_once(env):
    with_policy(env, "delete")
    gone = env.customer(email="quick.gone@example.com", firstname="Quick")
    env.customer(email="stays@example.com")
    runs.run_start(profile=env.profile, trigger=RunTrigger.CLI, foreground=True)
    delete_in_magento(env, gone["id"])
    emarsys_realtime_sync(
        profile=env.profile, event={"event": "customer.deleted", "customer_id": gone["id"]}
    )
    assert "quick.gone@example.com" not in by_email(env)
    assert DeletionRecord.objects.get(profile=env.profile).outcome == DeletionOutcome.DELETED
