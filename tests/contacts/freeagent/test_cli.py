"""`fa_contact collect|export|import` as a user runs them (in-process call_command)."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from contacts.models import ContactEntity, RemoteContact
from profiles import registry

pytestmark = pytest.mark.django_db


def run(*args):
    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        call_command("fa_contact", *args, stdout=out, stderr=err)
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def table_row(out):
    return next(line.split() for line in out.splitlines() if line.startswith("fa-contacts  "))


def test_export_then_unchanged_rerun_with_summary_and_exit_0(world):
    for _ in range(3):
        world.add_customer()
    world.profile()
    code, out, err = run("export")
    assert code == 0, out
    assert "created" in out
    assert "fa-contacts" in out
    assert "3/3" in err  # progress
    assert table_row(out)[3:6] == ["3", "3", "0"]  # collected, created, updated
    assert "fa-contacts: 3 collected, 3 created" in out
    code, out, _ = run("export", "--profile", "fa-contacts")
    assert code == 0
    assert table_row(out)[4] == "0"  # nothing created again


def test_export_exit_1_when_a_contact_fails(world):
    world.add_customer(email="broken")
    world.add_customer()
    world.profile()
    code, out, _ = run("export")
    assert code == 1
    assert "email: 'broken' is not an e-mail address" in out


def test_dry_run_prints_the_diff_and_sends_nothing(world):
    customer = world.add_customer(firstname="Jane", lastname="Doe")
    world.profile()
    run("export")
    world.advance_clock()
    world.patch_customer(customer["id"], lastname="Smith")
    writes = len(world.fa_writes())
    code, out, _ = run("export", "--dry-run")
    assert code == 0
    assert 'last_name: "Doe" -> "Smith"' in out
    assert "would be updated" in out
    assert len(world.fa_writes()) == writes


def test_id_exports_one_contact_and_unknown_ids_are_usage_errors(world):
    world.add_customer()
    world.add_customer()
    profile = world.profile()
    registry.get(profile.type).collect(profile=profile, run=None)  # queued, nothing sent
    entity = ContactEntity.objects.filter(profile=profile).first()
    code, _, _ = run("export", "--profile", str(profile.pk), "--id", str(entity.pk))
    assert code == 0
    assert len(world.fa_contacts()) == 1
    with pytest.raises(CommandError, match="No contact entity 99999") as exc:
        call_command("fa_contact", "export", "--profile", "fa-contacts", "--id", "99999")
    assert exc.value.returncode == 2


def test_unknown_profile_is_a_usage_error(world):
    world.profile()
    with pytest.raises(CommandError, match="No freeagent_contact_export profile 'nope'") as exc:
        call_command("fa_contact", "export", "--profile", "nope")
    assert exc.value.returncode == 2


def test_collect_fills_the_cache_incrementally(world):
    world.fa_seed_contact(first_name="A", last_name="B", email="a@example.com")
    world.profile()
    code, out, _ = run("collect")
    assert code == 0
    assert "1 contact(s) fetched (full); 1 cached" in out
    assert RemoteContact.objects.count() == 1
    code, out, _ = run("collect")
    assert "(incremental)" in out


def test_import_links_by_email_and_reports_the_rest(world):
    linked = world.fa_seed_contact(first_name="Li", last_name="Nk", email="LINK@example.com")
    world.fa_seed_contact(first_name="Am", last_name="One", email="amb@example.com")
    world.fa_seed_contact(first_name="Am", last_name="Two", email="amb@example.com")
    world.fa_seed_contact(first_name="Only", last_name="Remote", email="remote@example.com")
    world.add_customer(email="link@example.com")
    world.add_customer(email="amb@example.com")
    world.add_customer(email="new@example.com")
    profile = world.profile()
    code, out, _ = run("import")
    assert code == 1  # ambiguous ones need a person
    assert f"-> {linked['url']}" in out
    assert "ambiguous  customer:" in out
    assert "not in FreeAgent (export will create): customer:" in out
    assert "not in Magento:" in out
    assert "remote@example.com" in out
    assert "1 linked, 0 already linked, 1 ambiguous, 1 only in Magento" in out
    entity = ContactEntity.objects.get(profile=profile, email="link@example.com")
    assert entity.remote_id == linked["url"]
    assert len(world.fa_writes()) == 0


def test_id_takes_the_contact_whatever_its_state(world):
    world.add_customer()
    profile = world.profile()
    run("export")
    entity = ContactEntity.objects.get(profile=profile)
    assert entity.queue_status == "complete"
    code, out, _ = run("export", "--profile", "fa-contacts", "--id", str(entity.pk))
    assert code == 0
    assert table_row(out)[6] == "1"  # unchanged: it was looked at, and nothing was sent
