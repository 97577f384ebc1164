"""The target account is part of the identity: pointing a FreeAgent client at another
company stops its profiles before anything is sent, until the merchant starts over in the
new account or reconnects the old one."""

from __future__ import annotations

import pytest
from django.urls import reverse

from connectors.simulators.freeagent import data as simdata
from contacts.models import ContactEntity, RemoteContact
from profiles.models import Run, RunStatus, RunTrigger
from profiles.services import runs
from profiles.tasks import run_profile_scheduled

pytestmark = pytest.mark.django_db


def export(profile):
    return runs.run_start(profile=profile, trigger=RunTrigger.CLI, foreground=True)


@pytest.fixture
def other_company(monkeypatch):
    """Point the simulator at "another company" (the token now opens another account)."""

    def switch():
        monkeypatch.setitem(simdata.COMPANY, "id", 20002)
        monkeypatch.setitem(simdata.COMPANY, "name", "Somebody Else Ltd")

    return switch


def test_another_company_stops_the_profile_before_anything_is_sent(world, other_company):
    customer = world.add_customer(email="acc@example.com", firstname="Acc", lastname="One")
    profile = world.profile()
    export(profile)
    assert profile.__class__.objects.get(pk=profile.pk).state["account"]["id"] == "10001"
    other_company()
    world.advance_clock(5)
    world.patch_customer(customer["id"], lastname="Changed")
    writes = len(world.fa_writes())

    run = export(profile)

    assert run.status == RunStatus.FAILED
    assert "Somebody Else Ltd" in run.summary
    assert "Contact Sync Demo Ltd" in run.summary
    assert len(world.fa_writes()) == writes  # not a single write
    before = Run.objects.count()
    run_profile_scheduled(profile_id=profile.pk)
    assert Run.objects.count() == before  # the schedule waits too


def test_reverting_the_account_resumes_the_profile(world, other_company, monkeypatch):
    world.add_customer(email="rev@example.com", firstname="Rev")
    profile = world.profile()
    export(profile)
    other_company()
    assert export(profile).status == RunStatus.FAILED
    monkeypatch.setitem(simdata.COMPANY, "id", 10001)  # reconnected to the old company
    monkeypatch.setitem(simdata.COMPANY, "name", "Contact Sync Demo Ltd")
    run = export(profile)
    assert run.status == RunStatus.SUCCESS, run.summary


def test_start_over_forgets_the_old_account_and_resolves_again(admin_client, world, other_company):
    world.add_customer(email="so@example.com", firstname="So", lastname="Ver")
    profile = world.profile()
    export(profile)
    other_company()
    export(profile)  # stops, and learns the client reaches another account
    page = admin_client.get(reverse("admin:profiles_profile_change", args=[profile.pk]))
    assert "Stopped: the client reaches another account." in page.content.decode()

    response = admin_client.post(reverse("admin:profiles_profile_start_over", args=[profile.pk]))

    assert response.status_code == 302
    entity = ContactEntity.objects.get(profile=profile)
    assert entity.remote_id == ""
    assert not RemoteContact.objects.filter(client=world.books).exists()
    run = export(profile)
    assert run.status == RunStatus.SUCCESS, run.summary
    entity.refresh_from_db()
    assert entity.remote_id  # resolved by e-mail in "the new account"
    assert profile.__class__.objects.get(pk=profile.pk).state["account"]["id"] == "20002"
