"""A small world for contact-export tests: the three simulators over real HTTP, and
clients + profiles pointing at them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
import requests

from connectors.simulators.serve import SimulatorSet, start_simulators
from profiles.models import Client, Profile
from tests.simclients import freeagent_client_for, magento_client_for


@dataclass
class World:
    sims: SimulatorSet
    store: Client
    books: Client

    # -- Magento ---------------------------------------------------------------------------
    def _magento(self, method: str, path: str, body: Any = None) -> Any:
        response = requests.request(method, f"{self.sims.magento.url}/_sim/{path}", json=body)
        assert response.status_code < 300, response.text
        return response.json()

    def add_customer(self, **fields: Any) -> dict[str, Any]:
        return self._magento("POST", "customers", fields)

    def patch_customer(self, customer_id: int, **fields: Any) -> dict[str, Any]:
        return self._magento("PATCH", f"customers/{customer_id}", fields)

    def add_guest_order(self, email: str, **fields: Any) -> dict[str, Any]:
        return self._magento("POST", "orders", {"email": email, **fields})

    def advance_clock(self, seconds: int = 5) -> None:
        self._magento("POST", "clock", {"advance": seconds})

    # -- FreeAgent ---------------------------------------------------------------------------
    @property
    def freeagent(self) -> Any:
        return self.sims.freeagent.app

    def fa_contacts(self) -> list[dict[str, Any]]:
        return [c.render() if hasattr(c, "render") else c for c in self._fa_contacts_raw()]

    def _fa_contacts_raw(self) -> list[Any]:
        response = requests.get(
            f"{self.sims.freeagent.url}/v2/contacts",
            params={"view": "all", "per_page": 100},
            headers={"Authorization": f"Bearer {self.fa_token}"},
        )
        assert response.status_code == 200, response.text
        contacts: list[Any] = response.json()["contacts"]
        link = response.headers.get("Link", "")
        while 'rel="next"' in link or "rel='next'" in link:
            url = link.split(";")[0].strip("<> ")
            response = requests.get(url, headers={"Authorization": f"Bearer {self.fa_token}"})
            contacts += response.json()["contacts"]
            link = response.headers.get("Link", "")
        return contacts

    @property
    def fa_token(self) -> str:
        return str(self.sims.describe()["freeagent"]["access_token"])

    def fa_seed_contact(self, **fields: Any) -> dict[str, Any]:
        response = requests.post(f"{self.sims.freeagent.url}/_sim/contacts", json=[fields])
        assert response.status_code < 300, response.text
        contact: dict[str, Any] = response.json()["contacts"][0]
        return contact

    def fa_requests(self, *methods: str) -> list[dict[str, Any]]:
        log = requests.get(f"{self.sims.freeagent.url}/_sim/requests").json()
        return [
            r
            for r in log
            if r["path"].startswith("/v2/contacts") and (not methods or r["method"] in methods)
        ]

    def fa_writes(self) -> list[dict[str, Any]]:
        return self.fa_requests("POST", "PUT", "DELETE")

    def fa_faults(self, **faults: Any) -> None:
        requests.post(f"{self.sims.freeagent.url}/_sim/faults", json=faults).raise_for_status()

    def profile(self, **overrides: Any) -> Profile:
        values: dict[str, Any] = {
            "name": "fa-contacts",
            "type": "freeagent_contact_export",
            "source_client": self.store,
            "client": self.books,
            "process_batch_size": 10,
        }
        values.update(overrides)
        return Profile.objects.create(**values)


@pytest.fixture
def world(db) -> Any:
    sims = start_simulators(magento_port=0, freeagent_port=0, emarsys_port=0, seed_customers=0)
    info = sims.describe()
    store = magento_client_for(info, name="store")
    books = freeagent_client_for(info, name="books")
    try:
        yield World(sims=sims, store=store, books=books)
    finally:
        sims.stop()
