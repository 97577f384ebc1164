"""The approval brake in a real browser (Debian's Chromium): held deletions are listed on
the profile page, nothing reaches FreeAgent until a person clicks Approve (and confirms),
then all of them do; the form shows the type's own policies. Screenshots go to
var/screenshots/deletions-*.png."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from contacts.models import ContactEntity, DeletionOutcome, DeletionRecord
from contacts.services.deletions import magento_deletions_detect
from profiles.models import Profile, RunTrigger
from profiles.services import runs
from profiles.services.connections import magento_client
from tests.ui.screens import SHOTS

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "Open-sesame-42"


def deletes(sims: Any) -> list[dict[str, Any]]:
    log = requests.get(f"{sims.freeagent.url}/_sim/requests", timeout=5).json()
    return [r for r in log if r["method"] == "DELETE"]


def test_held_deletions_wait_for_the_click_and_then_all_go(
    chromium, live_server, sims, live_clients, django_user_model
):
    django_user_model.objects.create_superuser("merchant", "m@example.com", PASSWORD)
    profile = Profile.objects.create(
        name="Books export",
        type="freeagent_contact_export",
        source_client=live_clients["magento"],
        client=live_clients["freeagent"],
        settings={"deletions": {"policy": "delete", "brake_percent": 5, "brake_max": 50}},
    )
    first = runs.run_start(profile=profile, trigger=RunTrigger.CLI, foreground=True)
    assert first.created == 6, first.summary
    linked = ContactEntity.objects.filter(profile=profile).exclude(remote_id="").order_by("pk")
    doomed = [e.customer_id for e in linked[:2]]  # 2 of 6 linked > 5 % (1): held
    for customer_id in doomed:
        requests.delete(f"{sims.magento.url}/_sim/customers/{customer_id}", timeout=5)
    store = live_clients["magento"]
    magento_deletions_detect(store, magento_client(store))
    assert deletes(sims) == []

    page = chromium.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.set_default_timeout(15_000)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "merchant")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.goto(f"{live_server.url}/admin/profiles/profile/{profile.pk}/change/")
    panel = page.locator("#deletions-held")
    assert "2 deletions wait for approval" in panel.inner_text()
    assert page.locator("#deletions-list tbody tr").count() == 2
    assert "Approve 2 deletions" in page.locator("#deletions-approve").inner_text()
    # The policy's own choices, and nothing of Emarsys'.
    options = page.locator("#id_deletion_policy option").all_inner_texts()
    assert len(options) == 3
    assert not [o for o in options if "Emarsys" in o or "nsubscribe" in o]
    page.locator("#deletions-held").scroll_into_view_if_needed()
    page.screenshot(path=str(SHOTS / "deletions-held.png"))

    page.once("dialog", lambda dialog: dialog.dismiss())  # "Cancel": nothing happens
    page.click("#deletions-approve")
    assert deletes(sims) == []
    page.once("dialog", lambda dialog: dialog.accept())
    page.click("#deletions-approve")
    page.wait_for_selector(".messagelist")
    assert "Approved: 2 deletion(s) are being sent" in page.locator(".messagelist").inner_text()
    assert len(deletes(sims)) == 2
    assert page.locator("#deletions-held").count() == 0
    records = DeletionRecord.objects.filter(profile=profile)
    assert {(r.outcome, r.actor) for r in records} == {
        (DeletionOutcome.DELETED, "approved by merchant")
    }
    page.goto(f"{live_server.url}/admin/profiles/run/?profile__id__exact={profile.pk}")
    assert "Deletion pass" in page.content()
    assert "2 carried out" in page.content()
    page.screenshot(path=str(SHOTS / "deletions-after.png"))
