"""The merchant's whole flow in a real browser (Debian's Chromium driven by Playwright):
log in → create the three clients → connect FreeAgent through the simulator's approve_app
→ collect configuration data → create the profiles → Export now → the entity table →
an explain page → dry run a changed customer. Screenshots go to var/screenshots/."""

from __future__ import annotations

import re

import pytest
import requests

from profiles import registry
from profiles.models import Client, Profile, Run
from tests.ui.screens import SHOTS

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1360, "height": 900})
    context.set_default_timeout(15_000)
    return context.new_page()


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def save(page) -> None:
    page.locator("input[name=_continue]").click()
    page.wait_for_load_state()
    errors = page.locator(".errornote")
    assert errors.count() == 0, page.locator("#content-main").inner_text()[:2000]


def test_merchant_flow(page, live_server, sims, django_user_model):
    django_user_model.objects.create_superuser("merchant", "m@example.com", "Open-sesame-42")
    info = sims.describe()
    m, fa, em = info["magento"], info["freeagent"], info["emarsys"]
    base = live_server.url

    # -- log in -----------------------------------------------------------------------------
    page.goto(f"{base}/admin/")
    page.fill("#id_username", "merchant")
    page.fill("#id_password", "Open-sesame-42")
    page.click("input[type=submit]")
    page.wait_for_selector("text=All clear")
    shot(page, "01-dashboard-empty")

    # -- the three clients --------------------------------------------------------------------
    page.goto(f"{base}/admin/profiles/client/add/")
    page.click("text=Magento 2")
    page.fill("#id_name", "Store")
    page.fill("#id_base_url", m["base_url"])
    page.fill("#id_cred_consumer_key", m["consumer_key"])
    page.fill("#id_cred_consumer_secret", m["consumer_secret"])
    page.fill("#id_cred_access_token", m["access_token"])
    page.fill("#id_cred_access_token_secret", m["access_token_secret"])
    page.select_option("#id_subscribers_source", "rest")
    save(page)
    assert m["consumer_secret"] not in page.content()
    page.click("#collect-config")
    page.wait_for_selector("text=Configuration data of Store collected")
    shot(page, "02-magento-client-collected")

    page.goto(f"{base}/admin/profiles/client/add/?type=freeagent")
    page.fill("#id_name", "Books")
    page.check("input[name=environment][value=custom]")
    page.fill("#id_base_url", fa["base_url"])
    page.fill("#id_cred_client_id", fa["client_id"])
    page.fill("#id_cred_client_secret", fa["client_secret"])
    save(page)
    assert page.locator("text=Not connected").count() >= 1
    page.click("#connect-freeagent")  # → simulator's approve_app → our callback
    page.wait_for_selector("text=Connected to FreeAgent company")
    page.click("#collect-config")
    page.wait_for_selector("text=Configuration data of Books collected")
    shot(page, "03-freeagent-connected")
    books = Client.objects.get(name="Books")
    assert books.token_state["access_token"] not in page.content()

    page.goto(f"{base}/admin/profiles/client/add/?type=emarsys")
    page.fill("#id_name", "Marketing")
    page.fill("#id_base_url", em["base_url"])
    page.select_option("#id_cred_method", "wsse")
    page.fill("#id_cred_username", em["wsse_username"])
    page.fill("#id_cred_secret", em["wsse_secret"])
    save(page)
    page.click("#test-connection")
    page.wait_for_selector("text=Connected to Emarsys")
    page.click("#collect-config")
    page.wait_for_selector("text=Configuration data of Marketing collected")

    # -- the FreeAgent profile ------------------------------------------------------------------
    page.goto(f"{base}/admin/profiles/profile/add/")
    page.click("text=FreeAgent contact export")
    page.fill("#id_name", "FreeAgent contacts")
    page.select_option("#id_source_client", label="Store (Magento 2)")
    page.select_option("#id_client", label="Books (FreeAgent)")
    shot(page, "04-profile-add")
    save(page)
    profile = Profile.objects.get(name="FreeAgent contacts")

    # -- the Emarsys profile (when the type is installed) ---------------------------------------
    if "emarsys_contact_sync" in {t.type_id for t in registry.all_types()}:
        page.goto(f"{base}/admin/profiles/profile/add/?type=emarsys_contact_sync")
        page.fill("#id_name", "Emarsys contacts")
        page.select_option("#id_source_client", label="Store (Magento 2)")
        page.select_option("#id_client", label="Marketing (Emarsys)")
        page.uncheck("#id_status")
        save(page)
        # Now the mapping dropdowns list the collected Emarsys fields; add a row for ours.
        rows_before = page.locator("#mapping-table tbody tr.mapping-row").count()
        page.click("#mapping-add-row")
        assert page.locator("#mapping-table tbody tr.mapping-row").count() == rows_before + 1
        row = page.locator("#mapping-table tbody tr.mapping-row").last
        row.locator("input[name$=-magento]").fill("taxvat")
        row.locator("select[name$=-emarsys]").select_option("new")
        row.locator("input[name$=-new_name]").fill("VAT number")
        row.locator("input[name$=-clear_when_empty]").check()
        save(page)
        shot(page, "05-emarsys-profile")
        mapping = Profile.objects.get(name="Emarsys contacts").settings["field_mapping"]
        assert {
            "magento": "taxvat",
            "emarsys": {"name": "VAT number", "type": "shorttext"},
            "clear_when_empty": True,
        } in mapping
    else:
        print("SKIPPED the Emarsys profile: emarsys_contact_sync is not registered yet")

    # -- Export now → run page → entity table ----------------------------------------------------
    page.goto(f"{base}/admin/profiles/profile/{profile.pk}/change/")
    page.click("#export-now")
    page.wait_for_selector("#run-progress")
    page.wait_for_selector("#run-status .cs-partial, #run-status .cs-success")
    shot(page, "06-run-page")
    run = Run.objects.get(profile=profile, dry_run=False)
    assert run.created > 0
    page.click(f"text=Contacts of {profile.name}")
    page.wait_for_selector("#result_list")
    assert page.locator("#result_list tbody tr").count() == min(50, run.processed)
    shot(page, "07-entity-table")
    page.click("#changelist-filter >> text=Failed (needs attention)")
    page.wait_for_selector("#result_list")
    assert page.locator("#result_list tbody tr").count() == run.failed

    # -- explain page -----------------------------------------------------------------------
    entity = profile_entities(profile).filter(status="created").exclude(customer_id=None).first()
    page.goto(f"{base}/admin/contacts/contactentity/{entity.pk}/change/")
    page.wait_for_selector("text=Remote record now")
    assert page.locator("#explain-attempts tbody tr").count() >= 1
    shot(page, "08-explain")

    # -- a customer changes in Magento → dry run shows the diff ----------------------------------
    requests.post(f"{sims.magento.url}/_sim/clock", json={"advance": 5}, timeout=10)
    requests.patch(
        f"{sims.magento.url}/_sim/customers/{entity.customer_id}",
        json={"lastname": "Marchetti-Changed"},
        timeout=10,
    ).raise_for_status()
    page.goto(f"{base}/admin/profiles/profile/{profile.pk}/change/")
    page.click("#dry-run")
    page.wait_for_selector("#dry-run-results")
    row = page.locator("tr.dry-row", has_text="Marchetti-Changed")
    assert row.count() == 1
    assert "last_name" in row.inner_text()
    shot(page, "09-dry-run")
    row.locator("a").first.click()
    page.wait_for_selector("#explain-changes")
    assert "Marchetti-Changed" in page.locator("#explain-changes").inner_text()
    page.click("#explain-dry-run")
    page.wait_for_selector("#dry-run-results")
    assert re.search(r"What would be sent \(1 contact\)", page.content())
    shot(page, "10-explain-dry-run")

    # -- the dashboard ---------------------------------------------------------------------
    page.goto(f"{base}/admin/")
    page.wait_for_selector("svg.cs-chart")
    assert page.locator("text=permanently failed").count() >= 1
    shot(page, "11-dashboard")


def profile_entities(profile):
    from contacts.models import ContactEntity

    return ContactEntity.objects.filter(profile=profile)
