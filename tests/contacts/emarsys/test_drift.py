"""The Emarsys drift check, --repair, and ``emarsys_contact import --link`` / ``export --id``
against the simulators over real HTTP."""

from __future__ import annotations

import io

import pytest
import requests
from django.core.management import call_command

from contacts.models import ContactEntity
from profiles.models import SyncStatus
from profiles.services import runs
from profiles.services.connections import emarsys_client
from tests.contacts.test_drift import drift, kinds

pytestmark = pytest.mark.django_db


def test_emarsys_drift_reports_each_disagreement_and_repair_fixes_it(env):
    for name in ("keep", "gone", "edit", "mail", "dup"):
        env.customer(email=f"{name}@example.com", firstname=name.title(), lastname="Q")
    env.tick()
    runs.run_start(profile=env.profile, foreground=True)
    ids = {c["fields"]["3"]: c["id"] for c in env.contacts()}
    client = emarsys_client(env.emarsys)
    gone = {"key_id": "id", "id": ids["gone@example.com"]}
    client._call("POST", "contact/delete", json_body=gone)
    client.upsert_contacts(
        [{"id": ids["edit@example.com"], "2": "Edited in Emarsys"}],
        key_id="id",
        create_if_not_exists=False,
    )
    client.upsert_contacts(
        [{"id": ids["mail@example.com"], "3": "changed@example.com"}],
        key_id="id",
        create_if_not_exists=False,
    )
    requests.post(
        f"{env.em}/_sim/contacts",
        json={"contacts": [{"3": "dup@example.com", "1": "Other"}]},
        timeout=5,
    ).raise_for_status()

    code, report = drift(env.profile)

    assert code == 1
    found = kinds(report)
    assert set(found) == {
        ("deleted", "gone@example.com"),
        ("edited", "edit@example.com"),
        ("edited", "mail@example.com"),
        ("duplicated", "dup@example.com"),
    }
    assert found[("edited", "edit@example.com")]["fields"] == [
        "Last Name (#2)"
    ]  # named, not a bare id
    assert found[("edited", "mail@example.com")]["fields"] == ["E-Mail (#3)"]
    assert report["requests"] == 2  # one getdata by e-mail, one by id for the two not found

    code, _ = drift(env.profile, "--repair")
    assert code == 0
    env.tick()
    runs.run_start(profile=env.profile, foreground=True)
    by_email = {c["fields"]["3"]: c["fields"] for c in env.contacts()}
    assert "gone@example.com" in by_email  # re-created
    assert by_email["edit@example.com"]["2"] == "Q"
    assert "mail@example.com" in by_email
    dup = ContactEntity.objects.get(profile=env.profile, email="dup@example.com")
    assert dup.status == SyncStatus.AMBIGUOUS
    _, after = drift(env.profile)
    assert {i["kind"] for i in after["items"]} == {"duplicated"}


def test_emarsys_import_link_and_export_id_read_magento_first(env):
    customer = env.customer(email="own@example.com", firstname="Own", lastname="Er")
    env.tick()
    runs.run_start(profile=env.profile, foreground=True)
    entity = ContactEntity.objects.get(profile=env.profile)
    env.patch_customer(customer["id"], lastname="Fresh")  # no poll has seen it

    out = io.StringIO()
    call_command(
        "emarsys_contact",
        "export",
        "--profile",
        env.profile.name,
        "--id",
        str(entity.pk),
        stdout=out,
    )
    assert env.contacts()[0]["fields"]["2"] == "Fresh"

    other = requests.post(
        f"{env.em}/_sim/contacts", json={"contacts": [{"3": "own2@example.com"}]}, timeout=5
    ).json()["ids"][0]
    out = io.StringIO()
    call_command(
        "emarsys_contact",
        "import",
        "--profile",
        env.profile.name,
        "--link",
        f"{entity.pk}={other}",
        stdout=out,
    )
    assert "Linked to" in out.getvalue()
    entity.refresh_from_db()
    assert entity.remote_id == other
    assert entity.metadata["identity"]["choice"] == "link"
