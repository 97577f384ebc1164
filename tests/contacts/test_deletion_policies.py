"""Deletion policies against the FreeAgent simulator: a customer deleted in Magento is
deleted in FreeAgent (hidden when FreeAgent keeps it: invoices), or hidden; the approval
brake stops a mass deletion before the first DELETE and releases it on approval, or keeps
every contact on rejection; every deletion recorded; the settings in load/dump_config."""

from __future__ import annotations

import io

import pytest
import requests
from django.core.management import call_command

from contacts.models import (
    ContactEntity,
    DeletionOutcome,
    DeletionRecord,
    DeletionRequest,
)
from contacts.services import deletions, propagate
from profiles.models import Profile, Run, RunStatus, RunTrigger, SyncStatus
from profiles.services import runs
from profiles.services.config import ConfigError, config_dump, config_load
from profiles.services.connections import magento_client

pytestmark = pytest.mark.django_db


def remove_in_magento(world, customer_id: int) -> None:
    answer = requests.delete(f"{world.sims.magento.url}/_sim/customers/{customer_id}", timeout=5)
    assert answer.status_code == 200, answer.text


def fa_get(world, url: str) -> requests.Response:
    return requests.get(url, headers={"Authorization": f"Bearer {world.fa_token}"}, timeout=5)


def fa_deletes(world) -> list[dict]:
    log = requests.get(f"{world.sims.freeagent.url}/_sim/requests", timeout=5).json()
    return [r for r in log if r["method"] == "DELETE"]


def exported(world, profile: Profile, count: int) -> None:
    run = runs.run_start(profile=profile, trigger=RunTrigger.CLI, foreground=True)
    assert run.created == count, run.summary


def policy(profile: Profile, name: str, **brake) -> Profile:
    profile.settings = {**(profile.settings or {}), "deletions": {"policy": name, **brake}}
    profile.full_clean()
    profile.save()
    return profile


def url_of(profile: Profile, customer_id: int) -> str:
    return ContactEntity.objects.get(profile=profile, customer_id=customer_id).remote_id


def three_held(world, **settings) -> tuple[Profile, list[dict], DeletionRequest]:
    """Ten customers exported under "delete" with a brake of 1; three deleted in Magento:
    the pass that notices them is held."""
    people = [world.add_customer() for _ in range(10)]
    profile = policy(world.profile(), "delete", brake_max=1)
    if settings:
        profile.settings = {**profile.settings, **settings}
        profile.save()
    exported(world, profile, 10)
    for person in people[:3]:
        remove_in_magento(world, person["id"])
    deletions.magento_deletions_detect(world.store, magento_client(world.store))
    return profile, people, DeletionRequest.objects.get(profile=profile)


def test_delete_policy_deletes_and_hides_what_freeagent_keeps(world):
    invoiced = world.fa_seed_contact(
        first_name="Ivo", last_name="Invoiced", email="ivo@example.com", _sim_has_invoices=True
    )
    ivo = world.add_customer(email="ivo@example.com", firstname="Ivo", lastname="Invoiced")
    ann = world.add_customer(email="ann@example.com", firstname="Ann", lastname="Gone")
    stays = [world.add_customer() for _ in range(40)]  # 42 linked: the brake allows 3
    profile = policy(world.profile(), "delete")
    runs.run_start(profile=profile, trigger=RunTrigger.CLI, foreground=True)
    ann_url, ivo_url = url_of(profile, ann["id"]), url_of(profile, ivo["id"])
    assert ivo_url == invoiced["url"]  # linked to the existing contact
    remove_in_magento(world, ann["id"])
    remove_in_magento(world, ivo["id"])

    report = deletions.magento_deletions_detect(world.store, magento_client(world.store))
    assert report.marked == 2

    assert fa_get(world, ann_url).status_code == 404  # deleted
    kept = fa_get(world, ivo_url).json()["contact"]
    assert kept["status"] == "Hidden"  # FreeAgent keeps it (invoices): hidden instead
    records = {r.remote_id: r for r in DeletionRecord.objects.filter(profile=profile)}
    assert records[ann_url].outcome == DeletionOutcome.DELETED
    assert records[ivo_url].outcome == DeletionOutcome.HIDDEN
    assert records[ivo_url].remote_status == 403
    assert "invoices" in records[ivo_url].remote_answer
    assert {r.actor for r in records.values()} == {"deletion policy"}
    assert all(r.done_at for r in records.values())
    ann_entity = ContactEntity.objects.get(profile=profile, customer_id=ann["id"])
    assert ann_entity.status == SyncStatus.SOURCE_DELETED
    assert ann_entity.remote_id == ""  # the FreeAgent contact no longer exists
    assert "deleted in FreeAgent" in ann_entity.message["text"]
    ivo_entity = ContactEntity.objects.get(profile=profile, customer_id=ivo["id"])
    assert ivo_entity.remote_id == ivo_url
    assert "hidden in FreeAgent" in ivo_entity.message["text"]
    run = profile.runs.filter(scope__job="deletions").get()
    assert (run.status, run.updated, run.failed) == (RunStatus.SUCCESS, 2, 0)
    assert run.kind_label == "Deletion pass"
    assert all(fa_get(world, url_of(profile, s["id"])).ok for s in stays)

    # Idempotent: nothing more is sent by another pass or another detection.
    assert propagate.deletions_propagate(profile, trigger=RunTrigger.CLI) is None
    again = deletions.magento_deletions_detect(world.store, magento_client(world.store))
    assert again.marked == 0
    assert len(fa_deletes(world)) == 2
    # The next export leaves them alone.
    rerun = runs.run_start(profile=profile, trigger=RunTrigger.CLI, foreground=True)
    assert (rerun.created, rerun.failed) == (0, 0), rerun.summary


def test_hide_policy_hides_and_ignore_keeps(world):
    gone = world.add_customer(email="hide.me@example.com")
    world.add_customer(email="stay@example.com")
    hider = policy(world.profile(), "hide", brake_percent=100)
    exported(world, hider, 2)
    url = url_of(hider, gone["id"])
    remove_in_magento(world, gone["id"])
    deletions.magento_deletions_detect(world.store, magento_client(world.store))
    assert fa_get(world, url).json()["contact"]["status"] == "Hidden"
    assert fa_deletes(world) == []
    assert DeletionRecord.objects.get(profile=hider).outcome == DeletionOutcome.HIDDEN


def test_the_brake_holds_a_mass_deletion_until_approved(world):
    people = [world.add_customer() for _ in range(30)]
    profile = policy(world.profile(), "delete")  # 5 % of 30 → 2 may go unapproved
    exported(world, profile, 30)
    doomed = people[:6]
    urls = [url_of(profile, p["id"]) for p in doomed]
    for person in doomed:
        remove_in_magento(world, person["id"])

    deletions.magento_deletions_detect(world.store, magento_client(world.store))
    assert fa_deletes(world) == []  # stopped before the first deletion
    held = DeletionRequest.objects.get(profile=profile)
    assert (held.status, held.threshold, held.linked) == ("waiting", 2, 30)
    assert held.records.filter(outcome=DeletionOutcome.WAITING).count() == 6
    run = profile.runs.filter(scope__job="deletions").get()
    assert run.status == RunStatus.PARTIAL
    assert run.status_label == "Held (6 wait for approval)"
    entity = ContactEntity.objects.get(pk=held.records.first().entity_id)
    assert "wait for a person" in entity.message["text"]
    # Another pass sends nothing while a person has not decided.
    propagate.deletions_propagate(profile, trigger=RunTrigger.SCHEDULE)
    assert fa_deletes(world) == []

    out = io.StringIO()
    call_command("deletions", stdout=out)
    assert f"held {held.pk}: 6 deletions" in out.getvalue()
    call_command("deletions", "--approve", str(held.pk), stdout=out)
    assert len(fa_deletes(world)) == 6
    assert all(fa_get(world, url).status_code == 404 for url in urls)
    records = DeletionRecord.objects.filter(profile=profile)
    assert {r.outcome for r in records} == {DeletionOutcome.DELETED}
    assert {r.actor for r in records} == {f"approved by {DeletionRequest.objects.get().decided_by}"}
    assert DeletionRequest.objects.get().decided_by.startswith("cli:")
    with pytest.raises(Exception, match="already approved"):
        call_command("deletions", "--approve", str(held.pk), stdout=out)


def test_a_rejected_mass_deletion_keeps_every_contact(world):
    profile, people, held = three_held(world)
    propagate.request_decide(held, approve=False, actor="alice")
    assert propagate.deletions_propagate(profile, trigger=RunTrigger.CLI) is None
    assert fa_deletes(world) == []
    assert len([c for c in world.fa_contacts() if c.get("status", "Active") == "Active"]) == 10
    records = DeletionRecord.objects.filter(profile=profile)
    assert {(r.outcome, r.actor) for r in records} == {
        (DeletionOutcome.REJECTED, "deletion rejected by alice")
    }
    entity = ContactEntity.objects.get(profile=profile, customer_id=people[0]["id"])
    assert "kept (deletion rejected by alice)" in entity.message["text"]


def test_a_dry_run_and_the_explain_page_say_what_the_policy_does(world, admin_client):
    people = [world.add_customer() for _ in range(10)]
    profile = policy(world.profile(status=False), "delete")  # disabled: nothing is sent
    exported(world, profile, 10)
    remove_in_magento(world, people[0]["id"])
    deletions.magento_deletions_detect(world.store, magento_client(world.store))
    assert fa_deletes(world) == []
    out = io.StringIO()
    call_command("fa_contact", "export", "--dry-run", "--profile", profile.name, stdout=out)
    assert (
        "Deletion policy delete: 1 contact(s) deleted in Magento would be acted on in "
        "FreeAgent at the next deletion pass." in out.getvalue()
    ), out.getvalue()
    entity = ContactEntity.objects.get(profile=profile, customer_id=people[0]["id"])
    page = admin_client.get(f"/admin/contacts/contactentity/{entity.pk}/change/")
    assert "deletion policy delete: waiting for the next deletion pass" in page.content.decode()


def test_the_policy_round_trips_through_the_config_and_is_checked(world):
    profile = policy(world.profile(), "hide", brake_percent=2.5, brake_max=10)
    dumped = config_dump()
    entry = next(p for p in dumped["profiles"] if p["name"] == profile.name)
    assert entry["deletions"] == {"policy": "hide", "brake_percent": 2.5, "brake_max": 10}
    entry["deletions"] = {"policy": "unsubscribe", "brake_max": -1}
    with pytest.raises(ConfigError) as caught:
        config_load({"profiles": [entry]})
    text = "\n".join(caught.value.errors)
    assert "profiles[0].deletions: policy: one of ignore, hide, delete; got 'unsubscribe'" in text
    assert "brake_max: a whole number, 0 or more; got -1" in text


def test_held_deletions_alert_once_and_resolve_once(world, mailoutbox):
    from profiles.services.alerts import alerts_evaluate

    three_held(world, alerts={"recipients": ["ops@example.com"]})
    assert alerts_evaluate() == 1
    assert alerts_evaluate() == 0  # told once
    (told,) = mailoutbox
    assert "3 deletions held by the approval brake" in told.body
    propagate.request_decide(DeletionRequest.objects.get(), approve=False, actor="ops")
    assert alerts_evaluate() == 1
    assert "resolved" in mailoutbox[-1].subject
    assert alerts_evaluate() == 0


def test_a_pass_cut_short_after_its_deletes_is_finished_by_the_next(world, monkeypatch):
    """A crash between FreeAgent's answers and their record: the next pass sends the same
    deletions again, FreeAgent answers 404, and each is recorded as gone — nothing lost,
    nothing deleted that should not be."""
    people = [world.add_customer() for _ in range(6)]
    profile = policy(world.profile(), "delete", brake_percent=100)
    exported(world, profile, 6)
    urls = {url_of(profile, p["id"]) for p in people[:3]}
    for person in people[:3]:
        remove_in_magento(world, person["id"])

    class Crash(Exception):
        pass

    def crash(*args, **kwargs):
        raise Crash

    monkeypatch.setattr(propagate, "_record", crash)
    with pytest.raises(Crash):
        deletions.magento_deletions_detect(world.store, magento_client(world.store))
    monkeypatch.undo()
    assert {r.outcome for r in DeletionRecord.objects.filter(profile=profile)} == {
        DeletionOutcome.PENDING
    }
    assert {r["path"] for r in fa_deletes(world)} == {
        "/v2/contacts/" + u.rsplit("/", 1)[1] for u in urls
    }
    # An export of the profile is running meanwhile: the pass goes on beside it.
    Run.objects.create(profile=profile, trigger=RunTrigger.SCHEDULE, status=RunStatus.RUNNING)
    run = propagate.deletions_propagate(profile, trigger=RunTrigger.CLI)
    assert run is not None
    assert (run.status, run.updated) == (RunStatus.SUCCESS, 3)
    assert {r.outcome for r in DeletionRecord.objects.filter(profile=profile)} == {
        DeletionOutcome.GONE
    }
    assert len(world.fa_contacts()) == 3  # the other three untouched


def test_deletions_not_sent_follow_a_policy_change(world):
    profile, people, held = three_held(world)
    assert held.status == "waiting"
    policy(profile, "ignore")  # the merchant changes their mind: nothing is to be deleted
    held.refresh_from_db()
    assert (held.status, held.decided_by) == ("rejected", "the deletion policy is now ignore")
    records = DeletionRecord.objects.filter(profile=profile)
    assert {r.outcome for r in records} == {DeletionOutcome.REJECTED}
    assert propagate.deletions_propagate(profile, trigger=RunTrigger.CLI) is None
    assert fa_deletes(world) == []
    # Pending ones take a new propagating policy's action.
    policy(profile, "delete", brake_percent=100)
    remove_in_magento(world, people[3]["id"])
    profile.status = False  # noticed while disabled: stays pending
    profile.save()
    deletions.magento_deletions_detect(world.store, magento_client(world.store))
    policy(profile, "hide", brake_percent=100)
    assert DeletionRecord.objects.get(outcome=DeletionOutcome.PENDING).action == "hide"


def test_a_contact_another_person_is_linked_to_is_never_deleted(world):
    ann, bea = world.add_customer(), world.add_customer()
    profile = policy(world.profile(), "delete", brake_percent=100)
    exported(world, profile, 2)
    shared_url = url_of(profile, ann["id"])
    # Bea was made secondary on Ann's contact (a person's choice): it is hers too.
    ContactEntity.objects.filter(profile=profile, customer_id=bea["id"]).update(
        remote_id=shared_url
    )
    remove_in_magento(world, ann["id"])
    world.add_customer()  # (the listing must not be empty)
    deletions.magento_deletions_detect(world.store, magento_client(world.store))
    assert fa_deletes(world) == []
    assert fa_get(world, shared_url).json()["contact"]["status"] == "Active"
    assert not DeletionRecord.objects.filter(profile=profile).exists()
    entity = ContactEntity.objects.get(profile=profile, customer_id=ann["id"])
    assert entity.status == SyncStatus.SOURCE_DELETED
    assert "another contact of this profile is linked to it too" in entity.message["text"]
