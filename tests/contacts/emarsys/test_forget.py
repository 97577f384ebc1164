"""``forget`` with an Emarsys profile: the contact hard-deleted there, nothing left here."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from contacts.models import ContactEntity
from profiles.models import RunTrigger
from profiles.services import runs
from tests.traces import traces

pytestmark = pytest.mark.django_db


def test_the_emarsys_contact_is_deleted_and_every_trace_removed(env):
    env.customer(email="eve.erase@example.com", firstname="Eve", lastname="Erasable")
    env.customer(email="stay@example.com", firstname="Stay")
    run = runs.run_start(profile=env.profile, trigger=RunTrigger.CLI, foreground=True)
    assert run.created == 2, run.summary
    emails = {c["fields"]["3"] for c in env.contacts()}
    assert "eve.erase@example.com" in emails
    out = io.StringIO()
    call_command("forget", "--email", "Eve.Erase@example.com", stdout=out)
    assert "deleted" in out.getvalue()
    assert {c["fields"]["3"] for c in env.contacts()} == {"stay@example.com"}
    assert traces(["eve.erase@example.com", "Erasable"]) == []
    assert ContactEntity.objects.filter(email="stay@example.com").exists()
