"""Simulators over real HTTP and an Emarsys contact sync profile pointed at them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import requests

from connectors.simulators.serve import SimulatorSet, start_simulators
from profiles.models import Client, Profile
from tests.simclients import emarsys_client_for, magento_client_for

SECRET = "a-webhook-secret-of-some-length"
MAGENTO_KEYS = ("consumer_key", "consumer_secret", "access_token", "access_token_secret")


@pytest.fixture(scope="session")
def sims():
    running = start_simulators(magento_port=0, freeagent_port=0, emarsys_port=0)
    yield running
    running.stop()


@dataclass
class Env:
    sims: SimulatorSet
    profile: Profile
    magento: Client
    emarsys: Client

    @property
    def mg(self) -> str:
        return self.sims.magento.url.rstrip("/")

    @property
    def em(self) -> str:
        return self.sims.emarsys.url.rstrip("/")

    # -- Magento ------------------------------------------------------------------------------

    def customer(self, **fields: Any) -> dict[str, Any]:
        response = requests.post(f"{self.mg}/_sim/customers", json=fields, timeout=5)
        response.raise_for_status()
        return response.json()

    def patch_customer(self, customer_id: int, **fields: Any) -> dict[str, Any]:
        self.tick()
        response = requests.patch(f"{self.mg}/_sim/customers/{customer_id}", json=fields, timeout=5)
        response.raise_for_status()
        return response.json()

    def subscriber(self, email: str, status: int, customer_id: int = 0) -> dict[str, Any]:
        body = {
            "subscriber_email": email,
            "subscriber_status": status,
            "customer_id": customer_id,
            "store_id": 1,
        }
        requests.post(f"{self.mg}/_sim/subscribers", json=body, timeout=5).raise_for_status()
        return next(s for s in self.subscribers() if s["subscriber_email"] == email)

    def patch_subscriber(self, subscriber_id: int, **fields: Any) -> dict[str, Any]:
        self.tick()
        url = f"{self.mg}/_sim/subscribers/{subscriber_id}"
        response = requests.patch(url, json=fields, timeout=5)
        response.raise_for_status()
        return response.json()

    def subscribers(self) -> list[dict[str, Any]]:
        return requests.get(f"{self.mg}/_sim/subscribers", timeout=5).json()

    def tick(self, seconds: int = 5) -> None:
        """Move Magento's clock on, so changes land after the stored cursors."""
        requests.post(f"{self.mg}/_sim/clock", json={"advance": seconds}, timeout=5)

    # -- Emarsys ------------------------------------------------------------------------------

    def contacts(self) -> list[dict[str, Any]]:
        return requests.get(f"{self.em}/_sim/contacts", timeout=5).json()

    def upserts(self) -> list[dict[str, Any]]:
        log = requests.get(f"{self.em}/_sim/requests", timeout=5).json()
        return [r for r in log if r["method"] == "PUT" and r["path"].startswith("/api/v2/contact")]

    def field_id(self, name: str) -> str:
        fields = requests.get(f"{self.em}/_sim/state", timeout=5).json()["custom_fields"]
        return next(f["id"] for f in fields if f["name"] == name)

    def faults(self, **values: Any) -> None:
        requests.post(f"{self.em}/_sim/faults", json=values, timeout=5).raise_for_status()


@pytest.fixture
def env(sims, db):
    for server in (sims.magento, sims.emarsys):
        requests.post(f"{server.url.rstrip('/')}/_sim/reset", timeout=5).raise_for_status()
    requests.post(f"{sims.emarsys.url.rstrip('/')}/_sim/faults", json={"error_rate": 0}, timeout=5)
    info = sims.describe()
    magento = magento_client_for(info, name="Store", subscribers={"source": "rest"})
    emarsys = emarsys_client_for(info, name="Emarsys")
    profile = Profile.objects.create(
        name="Emarsys sync",
        type="emarsys_contact_sync",
        source_client=magento,
        client=emarsys,
        process_batch_size=1000,
        enable_retry_on_failure=True,  # the type's default (the failsafe queue)
        settings={"webhook_secret": SECRET, "export_types": "both"},
    )
    return Env(sims=sims, profile=profile, magento=magento, emarsys=emarsys)


@pytest.fixture(autouse=True)
def _no_backoff(monkeypatch):
    """Retries back off for real in production; here they must not slow the suite."""
    monkeypatch.setattr("contacts.emarsys.upsert.time.sleep", lambda seconds: None)
