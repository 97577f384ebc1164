"""One person, one contact, always current (FreeAgent), end to end against the simulators:
shared e-mails, resolving ambiguity, remote deletes, configuration changes, per-contact
reads of Magento, refused credentials, dead foreground runs."""

from __future__ import annotations

import io
import os
import socket
import subprocess

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError

from contacts.models import ContactEntity, DeliveryAttempt, RemoteContact
from profiles.models import ApiBehaviour, QueueStatus, Run, RunStatus, RunTrigger, SyncStatus
from profiles.services import runs
from profiles.services.clients import client_connection_test
from profiles.services.pause import ProfilePaused
from profiles.tasks import run_profile_scheduled

pytestmark = pytest.mark.django_db


def export(profile, **kwargs):
    return runs.run_start(profile=profile, trigger=RunTrigger.CLI, foreground=True, **kwargs)


def command(*args):
    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        call_command(*args, stdout=out, stderr=err)
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def entity_of(profile, key):
    return ContactEntity.objects.get(profile=profile, person_key=key)


def fa_delete(world, url):
    contact_id = url.rstrip("/").rsplit("/", 1)[1]
    response = requests.delete(
        f"{world.sims.freeagent.url}/v2/contacts/{contact_id}",
        headers={"Authorization": f"Bearer {world.fa_token}"},
        timeout=5,
    )
    assert response.status_code < 300, response.text


def fa_put(world, url, **fields):
    contact_id = url.rstrip("/").rsplit("/", 1)[1]
    response = requests.put(
        f"{world.sims.freeagent.url}/v2/contacts/{contact_id}",
        json={"contact": fields},
        headers={"Authorization": f"Bearer {world.fa_token}"},
        timeout=5,
    )
    assert response.status_code < 300, response.text


# -- 1. shared e-mails -------------------------------------------------------------------------


def test_twins_on_two_websites_are_flagged_and_no_contact_mixes_them(world):
    one = world.add_customer(
        email="twin@example.com", firstname="Kes", lastname="Trel", website_id=1
    )
    two = world.add_customer(
        email="Twin@example.com", firstname="Kestrel", lastname="BV", website_id=2
    )
    profile = world.profile()

    run = export(profile)

    assert (run.created, run.failed) == (0, 2), run.summary
    assert world.fa_contacts() == []
    for customer in (one, two):
        entity = entity_of(profile, f"customer:{customer['id']}")
        assert entity.status == SyncStatus.AMBIGUOUS
        assert "shares the e-mail twin@example.com" in entity.message["text"]


def test_a_guest_of_another_website_with_a_customers_email_is_flagged_too(world):
    world.add_customer(email="gwen@example.com", firstname="Gwen", website_id=1)
    world.add_guest_order("gwen@example.com", store_id=4)  # a store of website 2
    profile = world.profile()

    run = export(profile)

    assert run.created == 0, run.summary
    statuses = set(ContactEntity.objects.filter(profile=profile).values_list("status", flat=True))
    assert statuses == {SyncStatus.AMBIGUOUS}


def test_with_the_newest_rule_one_person_owns_the_contact_and_the_other_never_writes(world):
    old = world.add_customer(email="sam@example.com", firstname="Old", lastname="Sam", website_id=1)
    world.advance_clock(10)
    new = world.add_customer(email="sam@example.com", firstname="New", lastname="Sam", website_id=2)
    profile = world.profile(settings={"shared_email": "newest"})

    first = export(profile)

    (contact,) = world.fa_contacts()
    assert contact["first_name"] == "New"
    assert entity_of(profile, f"customer:{new['id']}").remote_id == contact["url"]
    secondary = entity_of(profile, f"customer:{old['id']}")
    assert secondary.status == SyncStatus.SKIPPED
    assert secondary.remote_id == ""
    assert (first.created, first.skipped) == (1, 1)

    # A later change of the secondary person never flips the contact to their data.
    world.advance_clock(10)
    world.patch_customer(old["id"], lastname="Changed")
    export(profile)
    (contact,) = world.fa_contacts()
    assert (contact["first_name"], contact["last_name"]) == ("New", "Sam")


def test_website_priority_decides_the_owner(world):
    world.add_customer(email="wp@example.com", firstname="Web1", website_id=1)
    world.add_customer(email="wp@example.com", firstname="Web2", website_id=2)
    profile = world.profile(
        settings={"shared_email": "website_priority", "website_priority": [2, 1]}
    )
    export(profile)
    (contact,) = world.fa_contacts()
    assert contact["first_name"] == "Web2"


# -- 2./3. the local picture is exact; ambiguity can be resolved ----------------------------------


def test_import_link_resolves_an_ambiguous_contact(world):
    first = world.fa_seed_contact(first_name="A", last_name="One", email="amb@example.com")
    world.fa_seed_contact(first_name="A", last_name="Two", email="amb@example.com")
    customer = world.add_customer(email="amb@example.com", firstname="Amb", lastname="Iguous")
    profile = world.profile()
    export(profile)
    entity = entity_of(profile, f"customer:{customer['id']}")
    assert entity.status == SyncStatus.AMBIGUOUS

    code, out, _ = command(
        "fa_contact", "import", "--profile", profile.name, "--link", f"{entity.pk}={first['url']}"
    )

    assert code == 0, out
    assert "Linked to" in out
    run = export(profile)
    assert run.updated == 1, run.summary
    chosen = next(c for c in world.fa_contacts() if c["url"] == first["url"])
    assert chosen["last_name"] == "Iguous"
    decision = DeliveryAttempt.objects.get(entity=entity, action="decision")
    assert "command line" in decision.message


def test_the_same_remote_contact_cannot_be_linked_to_two_people(world):
    contact = world.fa_seed_contact(first_name="X", last_name="Y", email="x@example.com")
    a = world.add_customer(email="x@example.com", firstname="Xa", website_id=1)
    b = world.add_customer(email="x@example.com", firstname="Xb", website_id=2)
    profile = world.profile()
    export(profile)
    ea, eb = entity_of(profile, f"customer:{a['id']}"), entity_of(profile, f"customer:{b['id']}")
    assert (
        command(
            "fa_contact", "import", "--profile", profile.name, "--link", f"{ea.pk}={contact['url']}"
        )[0]
        == 0
    )
    code, out, _ = command(
        "fa_contact", "import", "--profile", profile.name, "--link", f"{eb.pk}={contact['url']}"
    )
    assert code == 1
    assert "already the contact of" in out
    assert (
        command("fa_contact", "import", "--profile", profile.name, "--secondary", str(eb.pk))[0]
        == 0
    )
    run = export(profile)
    assert run.failed == 0, run.summary
    eb.refresh_from_db()
    assert eb.status == SyncStatus.SKIPPED
    (remote,) = world.fa_contacts()
    assert remote["first_name"] == "Xa"


def test_collect_full_removes_deleted_contacts_and_the_ambiguity_clears_by_itself(world):
    world.fa_seed_contact(first_name="D", last_name="One", email="dup@example.com")
    doomed = world.fa_seed_contact(first_name="D", last_name="Two", email="dup@example.com")
    customer = world.add_customer(email="dup@example.com", firstname="Dee", lastname="Dup")
    profile = world.profile()
    export(profile)
    assert entity_of(profile, f"customer:{customer['id']}").status == SyncStatus.AMBIGUOUS

    fa_delete(world, doomed["url"])
    code, out, _ = command("fa_contact", "collect", "--profile", profile.name, "--full")

    assert code == 0
    assert "1 deleted in FreeAgent" in out
    assert not RemoteContact.objects.filter(url=doomed["url"]).exists()
    run = export(profile)
    entity = entity_of(profile, f"customer:{customer['id']}")
    assert entity.status == SyncStatus.UPDATED, (run.summary, entity.message)
    assert entity.remote_id != doomed["url"]


def test_a_linked_contact_deleted_remotely_is_noticed_without_a_magento_change(world):
    customer = world.add_customer(email="gone@example.com", firstname="Gone")
    profile = world.profile()
    export(profile)
    (contact,) = world.fa_contacts()
    fa_delete(world, contact["url"])

    command("fa_contact", "collect", "--profile", profile.name, "--full")
    run = export(profile)

    assert run.created == 1, run.summary
    (again,) = world.fa_contacts()
    assert again["url"] != contact["url"]
    assert entity_of(profile, f"customer:{customer['id']}").remote_id == again["url"]


# -- 4. configuration changes re-evaluate ------------------------------------------------------


def test_switching_from_update_existing_to_create_and_update_creates_the_skipped(world):
    world.add_customer(email="u1@example.com", firstname="U")
    profile = world.profile(api_behaviour=ApiBehaviour.UPDATE)
    first = export(profile)
    assert (first.created, first.skipped) == (0, 1)

    profile.api_behaviour = ApiBehaviour.CREATE_AND_UPDATE
    profile.save()
    second = export(profile)

    assert (second.collected, second.created) == (1, 1), second.summary


def test_a_change_held_back_under_create_new_is_sent_after_switching_back(world):
    customer = world.add_customer(email="c1@example.com", firstname="C", lastname="Old")
    profile = world.profile()
    export(profile)
    profile.api_behaviour = ApiBehaviour.CREATE
    profile.save()
    world.advance_clock(5)
    world.patch_customer(customer["id"], lastname="New")
    held = export(profile)
    assert held.skipped == 1
    assert world.fa_contacts()[0]["last_name"] == "Old"

    profile.api_behaviour = ApiBehaviour.CREATE_AND_UPDATE
    profile.save()
    run = export(profile)

    assert run.updated == 1, run.summary
    assert world.fa_contacts()[0]["last_name"] == "New"


# -- 5. per-contact runs read Magento first ------------------------------------------------------


def test_export_id_reads_magento_before_sending(world):
    customer = world.add_customer(email="id@example.com", firstname="Ida", lastname="Old")
    profile = world.profile()
    export(profile)
    entity = entity_of(profile, f"customer:{customer['id']}")
    world.advance_clock(5)
    world.patch_customer(customer["id"], lastname="Fresh")  # no poll has seen it

    code, out, _ = command(
        "fa_contact", "export", "--profile", profile.name, "--id", str(entity.pk), "--dry-run"
    )
    assert code == 0
    assert '"Old" -> "Fresh"' in out
    code, out, _ = command(
        "fa_contact", "export", "--profile", profile.name, "--id", str(entity.pk)
    )
    assert code == 0, out
    assert world.fa_contacts()[0]["last_name"] == "Fresh"


# -- 6. refused credentials pause the profile, not the contacts ------------------------------------


def test_refused_credentials_pause_the_profile_without_using_up_attempts(world):
    for n in range(3):
        world.add_customer(email=f"p{n}@example.com", firstname="P")
    profile = world.profile(enable_retry_on_failure=True, retry_max_attempts=2)
    good = dict(world.books.token_state)
    world.books.token_state = {**good, "access_token": "revoked", "refresh_token": "revoked"}
    world.books.save()

    export(profile)
    for _ in range(2):  # more runs than attempts allowed: on demand, each says it is paused
        with pytest.raises(ProfilePaused, match="is paused: freeagent client 'books'"):
            export(profile)

    world.books.refresh_from_db()
    assert world.books.refused_at is not None
    for entity in ContactEntity.objects.filter(profile=profile):
        assert entity.attempts == 0
        assert entity.queue_status == QueueStatus.RETRY
        assert entity.next_attempt_at is None
        assert entity.message["text"].startswith("Paused:")
    before = Run.objects.count()
    run_profile_scheduled(profile_id=profile.pk)
    assert Run.objects.count() == before  # the schedule waits

    world.books.token_state = good
    world.books.save()
    client_connection_test(client=world.books)  # "Test connection" succeeds
    world.books.refresh_from_db()
    assert world.books.refused_at is None
    assert set(
        ContactEntity.objects.filter(profile=profile).values_list("queue_status", flat=True)
    ) == {QueueStatus.PENDING}
    run = export(profile)
    assert (run.created, run.failed) == (3, 0), run.summary


def _paused(world, profile):
    """Three contacts paused by revoked FreeAgent tokens; returns the good tokens."""
    for n in range(3):
        world.add_customer(email=f"q{n}@example.com", firstname="Q")
    good = dict(world.books.token_state)
    world.books.token_state = {**good, "access_token": "revoked", "refresh_token": "revoked"}
    world.books.save()
    export(profile)
    world.books.refresh_from_db()
    assert world.books.refused_at is not None
    return good


def test_an_on_demand_run_of_a_paused_profile_resumes_it_once_the_credentials_work(world):
    profile = world.profile()
    good = _paused(world, profile)
    runs_before = Run.objects.count()
    with pytest.raises(ProfilePaused, match="Reconnect it or enter new credentials"):
        export(profile)
    assert Run.objects.count() == runs_before  # no run that silently does nothing

    # The credentials work again (say the merchant re-authorised the app in FreeAgent):
    # the next run on demand tries them, ends the pause and sends the paused contacts.
    world.books.token_state = good
    world.books.save(update_fields=["token_state"])
    run = export(profile)

    assert (run.created, run.failed) == (3, 0), run.summary
    world.books.refresh_from_db()
    assert world.books.refused_at is None


def test_new_credentials_from_a_config_file_end_the_pause(world):
    from profiles.services.config import config_dump, config_load

    profile = world.profile()
    good = _paused(world, profile)
    (books,) = [c for c in config_dump()["clients"] if c["name"] == "books"]
    app = world.sims.describe()["freeagent"]
    books["auth"] = {
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "access_token": good["access_token"],
        "refresh_token": good["refresh_token"],
        "expires_at": 4_000_000_000,  # newer than the stored (revoked) ones
    }

    config_load({"clients": [books]})

    world.books.refresh_from_db()
    assert world.books.refused_at is None
    queued = ContactEntity.objects.filter(profile=profile, queue_status=QueueStatus.PENDING)
    assert queued.count() == 3
    assert export(profile).created == 3


# -- 7. dead foreground runs ----------------------------------------------------------------------


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_a_new_run_takes_over_from_a_killed_foreground_run(world):
    world.add_customer(email="k@example.com", firstname="K")
    profile = world.profile()
    dead = Run.objects.create(
        profile=profile,
        trigger=RunTrigger.CLI,
        status=RunStatus.RUNNING,
        owner=f"{socket.gethostname()}:{_dead_pid()}",
    )

    run = export(profile)

    assert run.created == 1, run.summary
    dead.refresh_from_db()
    assert dead.status == RunStatus.FAILED
    assert "a new run took over" in dead.summary


def test_runs_release_frees_a_profile_whose_run_cannot_finish(world):
    profile = world.profile()
    stuck = Run.objects.create(
        profile=profile, trigger=RunTrigger.CLI, status=RunStatus.RUNNING, owner="elsewhere:1"
    )
    with pytest.raises(CommandError, match="already running"):
        command("fa_contact", "export", "--profile", profile.name)
    code, out, _ = command("runs", "list")
    assert f"run {stuck.pk}" in out
    code, out, _ = command("runs", "release", str(stuck.pk))
    assert code == 0
    assert "released" in out
    assert command("fa_contact", "export", "--profile", profile.name)[0] == 0
    assert os.getpid()  # the test process itself was never treated as dead
