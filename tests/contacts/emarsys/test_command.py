"""``manage.py emarsys_contact``: dry run, summary, exit codes."""

from __future__ import annotations

import io
import json

import pytest
import requests
from django.core.management import call_command
from django.core.management.base import CommandError

from contacts.models import ContactEntity
from profiles.models import Run

pytestmark = pytest.mark.django_db


def run_command(*args):
    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        call_command("emarsys_contact", *args, stdout=out, stderr=err)
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def test_dry_run_prints_each_payload_and_sends_nothing(env):
    env.customer(email="dry@example.com", firstname="Dri")
    env.subscriber("guest@example.com", 4)

    code, out, err = run_command("export", "--dry-run")

    assert code == 0, out + err
    assert env.upserts() == []
    assert env.contacts() == []
    payloads = [
        json.loads(line.split("payload: ", 1)[1]) for line in out.splitlines() if "payload:" in line
    ]
    # Fields by name (with their id), as the merchant knows them — not bare ids.
    assert {p["E-Mail (#3)"] for p in payloads} == {"dry@example.com", "guest@example.com"}
    dri = next(p for p in payloads if p["E-Mail (#3)"] == "dry@example.com")
    assert dri["First Name (#1)"] == "Dri"
    assert not any(key.isdigit() for p in payloads for key in p), payloads
    guest = next(p for p in payloads if p["E-Mail (#3)"] == "guest@example.com")
    assert "Opt-In (#31)" not in guest
    assert "would be created" in out
    assert "Dry run — nothing was sent" in out
    assert "created" in out
    assert "2/2 created 2" in err  # the progress bar
    # Nothing was created in Emarsys by the dry run, not even the key fields.
    state = requests.get(f"{env.em}/_sim/state", timeout=5).json()
    assert state["custom_fields"] == []
    # The queue as the dry run found it (both people were new to it)…
    assert not ContactEntity.objects.exists()
    code, out, err = run_command("export")
    assert code == 0, out + err
    assert "2 collected, 2 created" in out  # …so the real export collects them itself
    assert len(env.contacts()) == 2


def test_export_succeeds_with_exit_0_and_fails_with_exit_1(env):
    env.customer(email="ok@example.com", firstname="Okay")
    code, out, _ = run_command("export", "--profile", env.profile.name)
    assert code == 0
    assert "1 collected, 1 created, 0 updated" in out, out
    assert Run.objects.get().created == 1

    entity = ContactEntity.objects.get()
    env.patch_customer(entity.customer_id, firstname="Broken")
    requests.post(
        f"{env.em}/_sim/inject_error",
        json={"key_value": entity.remote_id, "code": 2007, "message": "Invalid field value"},
        timeout=5,
    )
    code, out, _ = run_command("export", "--profile", str(env.profile.pk))
    assert code == 1
    assert "Emarsys replyCode 2007: Invalid field value" in out


def test_export_by_entity_id_resends_that_contact(env):
    env.customer(email="one@example.com", firstname="One")
    run_command("export")
    entity = ContactEntity.objects.get()
    calls = len(env.upserts())

    code, out, _ = run_command("export", "--id", str(entity.pk))

    assert code == 0, out
    assert len(env.upserts()) == calls + 1


@pytest.mark.parametrize(
    "args",
    [
        ("export", "--profile", "nope"),
        ("export", "--type", "customers"),
        ("export", "--initial", "--id", "1"),
    ],
)
def test_usage_errors_exit_2(env, args):
    with pytest.raises(CommandError) as caught:
        call_command("emarsys_contact", *args, stdout=io.StringIO(), stderr=io.StringIO())
    assert caught.value.returncode == 2


def test_initial_export_and_optin_sync_commands(env):
    env.customer(email="init@example.com", firstname="In")
    env.subscriber("sub@example.com", 1)
    env.sims.emarsys.app.export_polls = 0

    code, out, _ = run_command("export", "--initial", "--type", "both")
    assert code == 0, out
    state = requests.get(f"{env.em}/_sim/state", timeout=5).json()
    assert len(state["lists"]["Magento customers"]["contact_ids"]) == 1
    assert len(state["lists"]["Magento subscribers"]["contact_ids"]) == 1

    code, out, _ = run_command("optin-sync")
    assert code == 0
    assert "Opt-in sync of" in out
    assert "applied to Magento" in out
