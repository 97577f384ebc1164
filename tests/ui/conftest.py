"""Fixtures of the admin tests: the three simulators over real HTTP, clients pointing at
them (with secrets we can look for in every page), and users with chosen permissions."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from django.contrib.auth.models import Permission, User

from connectors.simulators.serve import SimulatorSet, start_simulators
from profiles.models import Client, ClientType, Environment
from tests.simclients import emarsys_client_for, freeagent_client_for, magento_client_for

# Planted in credentials, tokens and settings: no page may ever contain them.
SECRETS = {
    "consumer_secret": "planted-consumer-secret-0001",
    "access_token_secret": "planted-token-secret-0002",
    "fa_client_secret": "planted-fa-secret-0003",
    "fa_access_token": "planted-fa-access-0004",
    "fa_refresh_token": "planted-fa-refresh-0005",
    "em_secret": "planted-emarsys-secret-0006",
    "dsn": "mysql://reader:planted-dsn-password-0007@db/magento",
    "webhook": "planted-webhook-secret-0008",
}


GOOD_CUSTOMERS = 6


@pytest.fixture
def sims() -> Any:
    """Six ordinary customers and one FreeAgent will refuse (its e-mail is invalid).

    Not the simulator's seeded store: its deliberately odd customers include a 279-character
    company that the mirror cannot store on PostgreSQL (reported to the maintainers).
    """
    sims = start_simulators(magento_port=0, freeagent_port=0, emarsys_port=0, seed_customers=0)
    try:
        for _ in range(GOOD_CUSTOMERS):
            magento_customer_add(sims)
        magento_customer_add(sims, email="john.smith@@example.com")
        yield sims
    finally:
        sims.stop()


def magento_customer_add(sims: SimulatorSet, **fields: Any) -> dict[str, Any]:
    response = requests.post(f"{sims.magento.url}/_sim/customers", json=fields, timeout=10)
    assert response.status_code < 300, response.text
    customer: dict[str, Any] = response.json()
    return customer


def magento_customer_patch(sims: SimulatorSet, customer_id: int, **fields: Any) -> None:
    response = requests.patch(
        f"{sims.magento.url}/_sim/customers/{customer_id}", json=fields, timeout=10
    )
    assert response.status_code < 300, response.text


@pytest.fixture
def live_clients(db, sims) -> dict[str, Client]:
    """Magento, FreeAgent (connected) and Emarsys clients for the simulators."""
    info = sims.describe()
    store = magento_client_for(info, name="Store", subscribers={"source": "rest"})
    books = freeagent_client_for(info, name="Books")
    marketing = emarsys_client_for(info, name="Marketing")
    return {"magento": store, "freeagent": books, "emarsys": marketing}


@pytest.fixture
def planted_clients(db) -> dict[str, Client]:
    """Clients whose every secret is one of SECRETS (no network needed)."""
    store = Client.objects.create(
        name="Planted store",
        type=ClientType.MAGENTO,
        base_url="http://127.0.0.1:9/",
        credentials={
            "method": "oauth1",
            "consumer_key": "ck-visible",
            "consumer_secret": SECRETS["consumer_secret"],
            "access_token": "planted-at-9999",
            "access_token_secret": SECRETS["access_token_secret"],
            "subscribers_dsn": SECRETS["dsn"],
        },
        settings={"subscribers": {"source": "sql"}},
    )
    books = Client.objects.create(
        name="Planted books",
        type=ClientType.FREEAGENT,
        environment=Environment.SANDBOX,
        credentials={"client_id": "fa-id-visible", "client_secret": SECRETS["fa_client_secret"]},
        token_state={
            "access_token": SECRETS["fa_access_token"],
            "refresh_token": SECRETS["fa_refresh_token"],
            "expires_at": 1e12,
        },
    )
    marketing = Client.objects.create(
        name="Planted marketing",
        type=ClientType.EMARSYS,
        base_url="http://127.0.0.1:9/api/v2",
        credentials={"method": "wsse", "username": "api-user", "secret": SECRETS["em_secret"]},
    )
    return {"magento": store, "freeagent": books, "emarsys": marketing}


def staff_user(username: str, *perms: str) -> User:
    user = User.objects.create_user(username, password="pw-12345678", is_staff=True)
    for perm in perms:
        app, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app, codename=codename)
        )
    return user


@pytest.fixture
def viewer(db, client):
    """A staff user who may view everything but change nothing."""
    user = staff_user(
        "viewer",
        "profiles.view_client",
        "profiles.view_profile",
        "profiles.view_run",
        "contacts.view_contactentity",
    )
    client.force_login(user)
    return client


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
]


@pytest.fixture
def chromium(live_server, monkeypatch):
    """Debian's Chromium driven by Playwright (never a downloaded browser); screenshots go
    to var/screenshots/."""
    import shutil
    from pathlib import Path

    from tests.ui.screens import SHOTS

    if not Path(CHROMIUM).exists() or shutil.which(CHROMIUM) is None:
        pytest.skip("Debian's Chromium is not installed (apt-get install chromium)")
    sync_api = pytest.importorskip("playwright.sync_api")
    # Playwright's sync API runs an event loop in this thread; the ORM calls of the test
    # itself are still synchronous.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
