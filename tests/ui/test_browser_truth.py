"""What the merchant sees is true, in a real browser (Debian's Chromium), at 1400 × 900 and
on a 390 × 844 phone: a run's badge and progress move while it runs, the contacts and
runs tables fit, a chart of 100 runs keeps its labels apart, a dry run says "would".
Screenshots go to var/screenshots/ (look at them)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from contacts.models import ContactEntity
from profiles.models import Profile, QueueStatus, Run, RunStatus, RunTrigger
from profiles.services import runs
from profiles.services.config import config_load
from profiles.services.demo import demo_config
from tests.ui.conftest import magento_customer_patch
from tests.ui.screens import SHOTS

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

DESKTOP = {"width": 1400, "height": 900}
NARROW_DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
PASSWORD = "Open-sesame-42"


@pytest.fixture
def browser(chromium):
    return chromium


def _page(browser: Any, live_server: Any, viewport: dict[str, int]) -> Any:
    context = browser.new_context(viewport=viewport)
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "merchant")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_load_state()
    return page


def _shot(page: Any, name: str) -> None:
    """The screen as the merchant sees it (the first screenful: a long list is no read)."""
    page.screenshot(path=str(SHOTS / f"truth-{name}.png"))


def _overflow(page: Any, selector: str) -> int:
    """How many pixels the table sticks out of its box (0: it fits)."""
    return int(
        page.evaluate(
            """(sel) => {
              const table = document.querySelector(sel);
              const box = table.closest('.results') || table.parentElement;
              const page = document.documentElement;
              return Math.max(box.scrollWidth - box.clientWidth,
                              page.scrollWidth - page.clientWidth, 0);
            }""",
            selector,
        )
    )


def _overlaps(boxes: list[dict[str, float]]) -> list[tuple[int, int]]:
    pairs = []
    for i, a in enumerate(boxes):
        for j in range(i + 1, len(boxes)):
            b = boxes[j]
            apart = (
                a["x"] + a["width"] <= b["x"]
                or b["x"] + b["width"] <= a["x"]
                or a["y"] + a["height"] <= b["y"]
                or b["y"] + b["height"] <= a["y"]
            )
            if not apart:
                pairs.append((i, j))
    return pairs


@pytest.fixture
def store(sims, django_user_model) -> Profile:
    """The demo clients and profiles against the simulators, one real FreeAgent export
    (six created, one refused), and a history of 100 runs of every kind."""
    django_user_model.objects.create_superuser("merchant", "m@example.com", PASSWORD)
    config = demo_config(sims.describe())
    for entry in config["profiles"]:
        entry["status"] = False
    config_load(config)
    profile = Profile.objects.get(type="freeagent_contact_export")
    runs.run_start(profile=profile, trigger=RunTrigger.CLI, foreground=True)
    failed = ContactEntity.objects.filter(profile=profile, queue_status=QueueStatus.FAILED)
    assert failed.count() == 1
    # A long message must wrap, not widen the table.
    failed.update(
        message={
            "text": "FreeAgent rejected the contact: email is invalid — "
            + "the address john.smith@@example.com has two @ signs and cannot be stored; " * 3
        }
    )
    now = timezone.now()
    history = []
    for n in range(100):
        job = {0: {"initial": "both"}, 1: {"job": "optin_sync"}}.get(n % 7, {})
        history.append(
            Run(
                profile=profile,
                trigger=RunTrigger.SCHEDULE,
                status=RunStatus.SUCCESS if n % 5 else RunStatus.PARTIAL,
                scope=job,
                created_at=now - timedelta(hours=100 - n),
                started_at=now - timedelta(hours=100 - n),
                finished_at=now - timedelta(hours=100 - n) + timedelta(seconds=40),
                collected=20 + n,
                created=n % 9,
                updated=10 + n % 4,
                unchanged=5,
                failed=0 if n % 5 else 2,
                retried=0,
                summary="from the test's history",
            )
        )
    Run.objects.bulk_create(history)
    return profile


def test_what_the_merchant_sees_is_true(browser, live_server, store, sims):
    profile = store
    entities = ContactEntity.objects.filter(profile=profile).order_by("pk")

    # -- a run under way: its badge and progress move by contact, without a reload ------
    running = Run.objects.create(
        profile=profile,
        trigger=RunTrigger.BUTTON,
        status=RunStatus.RUNNING,
        started_at=timezone.now(),
    )
    page = _page(browser, live_server, DESKTOP)
    page.goto(f"{live_server.url}/admin/profiles/run/{running.pk}/change/")
    assert page.locator("#run-status .cs-chip").inner_text() == "Collecting"
    assert "Collecting changed contacts" in page.locator("#run-processed").inner_text()
    claimed = list(entities[:4].values_list("pk", flat=True))
    ContactEntity.objects.filter(pk__in=claimed).update(
        queue_status=QueueStatus.PROCESSING, run=running, claimed_by="test"
    )
    Run.objects.filter(pk=running.pk).update(collection_finished_at=timezone.now(), live_done=1)
    page.wait_for_function(
        "document.querySelector('#run-status .cs-chip').textContent === 'Running'"
    )
    page.wait_for_function(
        "document.querySelector('#run-processed').textContent.startsWith('1 of 4')"
    )
    _shot(page, "01-run-live-1-of-4")
    Run.objects.filter(pk=running.pk).update(live_done=3)
    page.wait_for_function(
        "document.querySelector('#run-processed').textContent.startsWith('3 of 4')"
    )
    width = page.locator("#run-bar .cs-progress-fill").get_attribute("width")
    assert width == "75"
    # The profile page shows the same live badge.
    other = _page(browser, live_server, DESKTOP)
    other.goto(f"{live_server.url}/admin/profiles/profile/{profile.pk}/change/")
    assert "Running" in other.locator("[data-run-live] .cs-chip").inner_text()
    # The run ends: the page reloads itself to the outcome.
    ContactEntity.objects.filter(pk__in=claimed).update(  # deferred: they wait
        queue_status=QueueStatus.PENDING,
        run=running,
        claimed_by="",
        next_attempt_at=timezone.now() + timedelta(hours=1),
    )
    Run.objects.filter(pk=running.pk).update(updated=0, retried=4, live_done=0)
    runs.run_close(run=Run.objects.get(pk=running.pk))
    page.wait_for_selector("#run-status .cs-partial")
    badge = page.locator("#run-status .cs-chip").inner_text()
    assert badge == "Partial (4 wait for a later run)", badge  # none failed: not "failed"
    _shot(page, "02-run-partial-deferred")
    other.wait_for_function(
        "document.querySelector('[data-run-live] .cs-chip').textContent.startsWith('Partial')"
    )

    # -- the tables fit at 1400 and at 1280 px ---------------------------------------
    for name, viewport in (("1400", DESKTOP), ("1280", NARROW_DESKTOP)):
        page.set_viewport_size(viewport)
        page.goto(
            f"{live_server.url}/admin/contacts/contactentity/?profile__id__exact={profile.pk}"
        )
        page.wait_for_selector("#result_list")
        assert _overflow(page, "#result_list") == 0, f"contacts table overflows at {name}"
        for header in ("Message", "Failed attempts", "Processed"):
            assert page.locator("#result_list thead", has_text=header).count() == 1
        _shot(page, f"03-contacts-{name}")
        page.goto(f"{live_server.url}/admin/profiles/run/")
        page.wait_for_selector("#result_list")
        assert _overflow(page, "#result_list") == 0, f"runs table overflows at {name}"
        _shot(page, f"04-runs-{name}")
    listing = page.locator("#result_list").inner_text()
    assert "Initial export" in listing
    assert "Opt-in sync" in listing
    assert "would" not in listing  # no dry run in this history

    # -- a chart of 100 runs: export runs only, labels apart, initial exports marked ----
    page.set_viewport_size(DESKTOP)
    page.goto(f"{live_server.url}/admin/")
    page.wait_for_selector("svg.cs-chart")
    labels = page.locator("svg.cs-chart text.cs-x-label")
    boxes = [labels.nth(i).bounding_box() for i in range(labels.count())]
    assert len(boxes) >= 4
    assert _overlaps(boxes) == []
    assert page.locator("svg.cs-chart .cs-bar-initial").count() >= 1
    titles = page.eval_on_selector_all("svg.cs-chart title", "els => els.map(e => e.textContent)")
    assert any("Initial export" in t for t in titles)
    assert not any("Opt-in" in t for t in titles)  # an opt-in sync is no export bar
    _shot(page, "05-dashboard-chart")
    page.goto(f"{live_server.url}/admin/profiles/run/")  # the history's chart: 100 runs
    page.wait_for_selector("svg.cs-chart")
    bars = page.eval_on_selector_all("svg.cs-chart rect[fill=transparent]", "els => els.length")
    exports = Run.objects.filter(dry_run=False).exclude(scope__has_key="job").count()
    assert bars == exports == 87  # 85 of the history (15 were opt-in syncs) + 2 real
    labels = page.locator("svg.cs-chart text.cs-x-label")
    boxes = [labels.nth(i).bounding_box() for i in range(labels.count())]
    assert len(boxes) >= 4
    assert _overlaps(boxes) == []
    _shot(page, "05-runs-chart-100")

    # -- a dry run speaks in the conditional -----------------------------------------
    changed = entities.filter(status="created").first()
    magento_customer_patch(sims, changed.customer_id, lastname="Marchetti-Changed")
    page.goto(f"{live_server.url}/admin/profiles/profile/{profile.pk}/change/")
    page.click("#dry-run")
    page.wait_for_selector("#dry-run-results")
    assert page.locator("#run-kind").inner_text() == "Dry run of export"
    stats = page.locator(".cs-counts").inner_text()
    for words in ("would create", "would update", "would fail"):
        assert words in stats
    row = page.locator("tr.dry-row", has_text="Marchetti-Changed")
    assert row.locator(".cs-chip").first.inner_text() == "would update"
    assert "would be updated" in page.locator("#run-summary").inner_text()
    _shot(page, "06-dry-run")

    # -- Retry failed: the contacts it counts go again, now, in a run of their own ------
    page.goto(f"{live_server.url}/admin/profiles/profile/{profile.pk}/change/")
    assert page.locator("#retry-failed").inner_text() == "Retry failed (1)"
    page.click("#retry-failed")
    page.wait_for_selector("#run-kind")
    assert page.locator("#run-kind").inner_text() == "Export of 1 contact"
    assert "john.smith@@example.com" in page.locator("#run-scope").inner_text()
    _shot(page, "06b-retry-failed-run")

    # -- an Emarsys profile: where Magento notifies, and whether the secret is set ------
    emarsys = Profile.objects.get(type="emarsys_contact_sync")
    page.goto(f"{live_server.url}/admin/profiles/profile/{emarsys.pk}/change/")
    url = page.locator("#webhook-url").inner_text()
    assert url == f"{live_server.url}/hooks/emarsys/{emarsys.pk}/"
    secret = page.locator("#webhook-secret").inner_text()
    warning = page.locator("#webhook-warning")
    assert (secret == "not set") == (warning.count() == 1)
    page.click("#webhook-copy")
    page.wait_for_function("document.getElementById('webhook-copied').textContent !== ''")
    _shot(page, "06c-emarsys-webhook")

    # -- a phone: the navigation stays, the tables scroll inside their box -------------
    phone = _page(browser, live_server, PHONE)
    phone.goto(f"{live_server.url}/admin/contacts/contactentity/?profile__id__exact={profile.pk}")
    phone.wait_for_selector("#result_list")
    nav = phone.locator("nav.cs-nav")
    assert nav.is_visible()
    for link in ("Dashboard", "Profiles", "Contacts", "Run history"):
        box = nav.locator(f"a:text-is('{link}')").bounding_box()
        assert box is not None
        assert 0 <= box["x"] <= box["x"] + box["width"] <= PHONE["width"]
    page_overflow = phone.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert page_overflow <= 0, "the page itself scrolls sideways on a phone"
    _shot(phone, "07-phone-contacts")
    phone.goto(f"{live_server.url}/admin/")
    phone.wait_for_selector("svg.cs-chart")
    _shot(phone, "08-phone-dashboard")
