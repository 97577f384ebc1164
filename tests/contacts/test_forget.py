"""``forget --email`` (GDPR erasure) against the FreeAgent simulator: the contact deleted,
one with invoices anonymised and hidden, no trace in any table or log file, one audit
line; idempotent, and resumable after a target that did not answer."""

from __future__ import annotations

import io

import pytest
import requests
from django.core.management import call_command

from contacts.models import ContactEntity, ErasureAudit
from profiles.models import RunTrigger
from profiles.services import runs
from tests.traces import traces

pytestmark = pytest.mark.django_db

EMAIL = "zelda.forget@example.com"
NAMES = ("Zelda", "Vanishing")


def export(profile):
    return runs.run_start(profile=profile, trigger=RunTrigger.CLI, foreground=True)


def forget(*args):
    out, err = io.StringIO(), io.StringIO()
    code = 0
    try:
        call_command("forget", *args, stdout=out, stderr=err)
    except SystemExit as exc:
        code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def logs(settings, tmp_path):
    settings.LOG_DIR = tmp_path / "log"
    (settings.LOG_DIR / "freeagent").mkdir(parents=True)
    log = settings.LOG_DIR / "freeagent" / "contact.log"
    log.write_text(
        "2026-12-03 INFO run=1 Collected 3 changed contact(s)\n"
        f"2026-12-03 ERROR run=1 customer:9 <{EMAIL.upper()}> failed: a test line\n"
        "2026-12-03 INFO run=1 Run finished\n"
    )
    return log


def test_a_person_is_forgotten_everywhere_and_once(world, logs):
    zelda = world.add_customer(email=EMAIL, firstname="Zelda", lastname="Vanishing")
    world.add_guest_order(EMAIL, firstname="Zelda", lastname="Vanishing")
    world.add_customer(email="stays@example.com", firstname="Stay", lastname="Here")
    invoiced = world.fa_seed_contact(
        first_name="Ivo", last_name="Invoiced", email="ivo.invoiced@example.com",
        _sim_has_invoices=True,
    )  # fmt: skip
    world.add_customer(email="ivo.invoiced@example.com", firstname="Ivo", lastname="Invoiced")
    profile = world.profile()
    first = export(profile)
    assert first.failed == 0, first.summary
    zelda_url = ContactEntity.objects.get(profile=profile, customer_id=zelda["id"]).remote_id
    assert traces([EMAIL, *NAMES])

    code, out, _ = forget("--email", EMAIL, "--dry-run")
    assert code == 0, out
    assert f"would erase {zelda_url}" in out
    assert "contacts: 1 would be removed" in out
    assert "log lines: 1 would be erased" in out
    assert traces([EMAIL])  # a dry run erases nothing
    assert requests.get(zelda_url, headers={"Authorization": f"Bearer {world.fa_token}"}).ok

    code, out, _ = forget("--email", f"  {EMAIL.upper()} ")
    assert code == 0, out
    assert f"{zelda_url} deleted" in out
    gone = requests.get(zelda_url, headers={"Authorization": f"Bearer {world.fa_token}"})
    assert gone.status_code == 404
    assert traces([EMAIL, *NAMES]) == []
    assert EMAIL not in logs.read_text().lower()
    assert "Run finished" in logs.read_text()  # the other lines stay
    audit = ErasureAudit.objects.get()
    assert EMAIL not in str(audit.summary)
    assert audit.actor.startswith("cli:")
    assert ContactEntity.objects.filter(email="stays@example.com").exists()

    # Again: nothing left to erase, still one audit line.
    code, out, _ = forget("--email", EMAIL)
    assert code == 0
    assert "contacts: 0 removed" in out
    assert ErasureAudit.objects.count() == 1

    # A contact FreeAgent keeps (invoices): anonymised and hidden, not deleted.
    code, out, _ = forget("--email", "ivo.invoiced@example.com")
    assert code == 0, out
    assert "anonymised and hidden" in out
    kept = requests.get(
        invoiced["url"], headers={"Authorization": f"Bearer {world.fa_token}"}
    ).json()["contact"]
    assert kept["status"] == "Hidden"
    assert kept.get("email", "") == ""
    assert "Ivo" not in (kept.get("first_name", ""), kept.get("last_name", ""))
    assert traces(["ivo.invoiced@example.com", "Invoiced"]) == []


def test_a_target_that_does_not_answer_stops_it_and_it_is_run_again(world):
    world.add_customer(email=EMAIL, firstname="Zelda", lastname="Vanishing")
    profile = world.profile()
    export(profile)
    world.fa_faults(error_rate=1.0)
    code, _, err = forget("--email", EMAIL)
    assert code == 1
    assert "nothing was removed here; run it again" in err
    assert ContactEntity.objects.filter(email=EMAIL).exists()  # all kept for the next try
    assert not ErasureAudit.objects.exists()
    world.fa_faults(error_rate=0.0)
    code, out, _ = forget("--email", EMAIL)
    assert code == 0, out
    assert traces([EMAIL]) == []


def test_no_address_is_a_usage_error():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="is not an e-mail address") as exc:
        call_command("forget", "--email", "nobody")
    assert exc.value.returncode == 2


def test_text_around_an_address_is_not_an_address():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="is not an e-mail address"):
        call_command("forget", "--email", "23 objects imported\nann@example.com")
