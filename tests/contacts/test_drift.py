"""The drift check finds every disagreement with the remote system and --repair brings
Magento, local state and the remote system back into agreement (both profile types,
against the simulators over real HTTP)."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from contacts.models import ContactEntity
from profiles.models import RunTrigger
from profiles.services import runs
from tests.contacts.freeagent.test_identity import fa_delete, fa_put

pytestmark = pytest.mark.django_db


def drift(profile, *args):
    out = io.StringIO()
    code = 0
    try:
        call_command("drift", "--profile", str(profile.pk), "--json", *args, stdout=out)
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, json.loads(out.getvalue())


def export(profile):
    return runs.run_start(profile=profile, trigger=RunTrigger.CLI, foreground=True)


def kinds(report):
    return {(i["kind"], i["email"]): i for i in report["items"]}


def test_freeagent_drift_reports_each_disagreement_and_repair_fixes_it(world):
    for name in ("keep", "gone", "hide", "edit", "dup"):
        world.add_customer(email=f"{name}@example.com", firstname=name.title(), lastname="Q")
    profile = world.profile()
    export(profile)
    contacts = {c["email"]: c for c in world.fa_contacts()}
    fa_delete(world, contacts["gone@example.com"]["url"])
    fa_put(world, contacts["hide@example.com"]["url"], status="Hidden")
    fa_put(world, contacts["edit@example.com"]["url"], last_name="Edited in FreeAgent")
    world.fa_seed_contact(first_name="Dup", last_name="Again", email="dup@example.com")
    requests_before = len(world.fa_requests("GET"))

    code, report = drift(profile)

    assert code == 1
    found = kinds(report)
    assert set(found) == {
        ("deleted", "gone@example.com"),
        ("hidden", "hide@example.com"),
        ("edited", "edit@example.com"),
        ("duplicated", "dup@example.com"),
    }
    assert found[("edited", "edit@example.com")]["fields"] == ["last_name"]
    assert report["checked"] == 5
    assert report["requests"] == 1  # one list page holds all of them (100 per page)
    assert len(world.fa_requests("GET")) - requests_before == 1
    assert all(i["repair"] == "" for i in report["items"])  # a check changes nothing

    code, repaired = drift(profile, "--repair")
    assert code == 0
    assert {i["kind"]: i["repair"] for i in repaired["items"]} == {
        "deleted": "re-queued",
        "edited": "re-queued",
        "hidden": "flagged",
        "duplicated": "flagged",
    }
    export(profile)
    now = [c for c in world.fa_contacts() if c.get("status") != "Hidden"]
    assert any(c["email"] == "gone@example.com" for c in now)  # re-created
    edited = next(c for c in now if c["email"] == "edit@example.com")
    assert edited["last_name"] == "Q"  # Magento's value again
    code, after = drift(profile)
    assert {i["kind"] for i in after["items"]} == {"hidden", "duplicated"}  # for a person
    hidden = ContactEntity.objects.get(profile=profile, email="hide@example.com")
    assert "hidden in FreeAgent" in hidden.message["text"]


def test_freeagent_drift_reports_never_linked_contacts(world):
    world.add_customer(email="bad-email", firstname="No")  # FreeAgent refuses it
    profile = world.profile()
    export(profile)
    _, report = drift(profile)
    assert [i["kind"] for i in report["items"]] == ["unlinked"]


def test_a_flag_clears_once_the_merchant_fixed_its_cause(world):
    for name in ("hide", "dup"):
        world.add_customer(email=f"{name}@example.com", firstname=name.title(), lastname="Q")
    profile = world.profile()
    export(profile)
    contacts = {c["email"]: c for c in world.fa_contacts()}
    fa_put(world, contacts["hide@example.com"]["url"], status="Hidden")
    copy = world.fa_seed_contact(first_name="Dup", last_name="Again", email="dup@example.com")
    drift(profile, "--repair")  # both flagged for a person
    assert ContactEntity.objects.filter(profile=profile, message__outcome="drift").count() == 2

    # The merchant un-hides one contact and hides the duplicate of the other.
    fa_put(world, contacts["hide@example.com"]["url"], status="Active")
    fa_put(world, copy["url"], status="Hidden")
    code, report = drift(profile)

    assert (code, report["items"], report["cleared"]) == (0, [], 2)
    run = export(profile)
    assert run.failed == 0, run.summary
    entities = ContactEntity.objects.filter(profile=profile)
    assert {e.queue_status for e in entities} == {"complete"}
    assert {e.remote_id for e in entities} == {
        contacts["hide@example.com"]["url"],
        contacts["dup@example.com"]["url"],
    }


def test_repair_never_overrides_a_persons_link(world):
    world.add_customer(email="chosen@example.com", firstname="Cho", lastname="Sen")
    profile = world.profile()
    export(profile)
    (mine,) = world.fa_contacts()
    world.fa_seed_contact(first_name="Cho", last_name="Sen", email="chosen@example.com")
    entity = ContactEntity.objects.get(profile=profile)
    call_command(
        "fa_contact", "import", "--profile", str(profile.pk), "--link", f"{entity.pk}={mine['url']}"
    )

    code, report = drift(profile, "--repair")

    assert code == 0
    assert [(i["kind"], i["repair"]) for i in report["items"]] == [
        ("duplicated", "kept: linked by a person")
    ]
    entity.refresh_from_db()
    assert (entity.status, entity.remote_id) != ("ambiguous", "")
    assert entity.queue_status != "failed"
