"""The bare-HTTP floor of an export: the requests it cannot do without, and nothing else.

One ``requests.Session``, no database, no mapping, no bookkeeping: the Magento pages a first
sync reads (customers and guest orders, 100 a page), then one ``POST /v2/contacts`` per
FreeAgent contact, or one Emarsys upsert per 1,000 contacts. Our own export is measured as
a ratio to this, against the same simulators, so the figure says what our code costs on
top of what the API needs.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import requests

from connectors.magento.auth import OAuth1Signer, encode_query

PAGE_SIZE = 100  # what collection reads per Magento page
EMARSYS_BATCH = 1000  # contacts per upsert (the API's limit)
TIMEOUT = 60


@dataclass
class Floor:
    seconds: float
    requests: int
    contacts: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "seconds": round(self.seconds, 3),
            "requests": self.requests,
            "contacts": self.contacts,
        }


@dataclass
class Person:
    email: str
    firstname: str
    lastname: str


class _Counter:
    def __init__(self, session: requests.Session) -> None:
        # The floor is the cheapest client: simulators on loopback need no proxy lookup
        # from the environment, which requests would otherwise make for every request.
        session.trust_env = False
        self.session = session
        self.count = 0

    def send(self, method: str, url: str, **kwargs: Any) -> Any:
        self.count += 1
        response = self.session.request(method, url, timeout=TIMEOUT, **kwargs)
        response.raise_for_status()
        return response.json()


def _magento_pages(
    http: _Counter, magento: dict[str, Any], route: str, filters: list[tuple[str, str]]
) -> Iterator[dict[str, Any]]:
    signer = OAuth1Signer(
        magento["consumer_key"],
        magento["consumer_secret"],
        magento["access_token"],
        magento["access_token_secret"],
    )
    base = f"{magento['base_url']}/rest/{magento.get('store_code') or 'default'}/V1/{route}"
    page, pages = 1, 1
    while page <= pages:
        params = [
            *filters,
            ("searchCriteria[sortOrders][0][field]", "updated_at"),
            ("searchCriteria[sortOrders][0][direction]", "ASC"),
            ("searchCriteria[pageSize]", str(PAGE_SIZE)),
            ("searchCriteria[currentPage]", str(page)),
        ]
        url = f"{base}?{encode_query(params)}"
        body = http.send(
            "GET", url, headers={"Authorization": signer.authorization_header("GET", url)}
        )
        pages = max(1, math.ceil(int(body.get("total_count") or 0) / PAGE_SIZE))
        yield from body.get("items") or []
        page += 1


def _people(http: _Counter, magento: dict[str, Any], wanted: int) -> list[Person]:
    """Every Magento page a first sync reads; the first ``wanted`` distinct people."""
    people: dict[str, Person] = {}
    for customer in _magento_pages(http, magento, "customers/search", []):
        key = f"{customer.get('website_id')}:{str(customer.get('email') or '').lower()}"
        people.setdefault(
            key,
            Person(
                str(customer.get("email") or ""),
                str(customer.get("firstname") or ""),
                str(customer.get("lastname") or ""),
            ),
        )
    guest_filter = [
        ("searchCriteria[filter_groups][0][filters][0][field]", "customer_is_guest"),
        ("searchCriteria[filter_groups][0][filters][0][value]", "1"),
        ("searchCriteria[filter_groups][0][filters][0][condition_type]", "eq"),
    ]
    for order in _magento_pages(http, magento, "orders", guest_filter):
        key = f"guest:{order.get('store_id')}:{str(order.get('customer_email') or '').lower()}"
        people.setdefault(
            key,
            Person(
                str(order.get("customer_email") or ""),
                str(order.get("customer_firstname") or ""),
                str(order.get("customer_lastname") or ""),
            ),
        )
    return list(people.values())[:wanted]


def freeagent_floor(sims: dict[str, Any], contacts: int) -> Floor:
    """Magento's pages, then one POST per contact."""
    with requests.Session() as session:
        http = _Counter(session)
        started = time.perf_counter()
        people = _people(http, sims["magento"], contacts)
        url = f"{sims['freeagent']['base_url'].rstrip('/')}/contacts"
        headers = {"Authorization": f"Bearer {sims['freeagent']['access_token']}"}
        for person in people:
            contact = {
                "first_name": person.firstname or "-",
                "last_name": person.lastname or "-",
                "email": person.email,
            }
            http.send("POST", url, json={"contact": contact}, headers=headers)
        return Floor(time.perf_counter() - started, http.count, len(people))


def emarsys_floor(sims: dict[str, Any], contacts: int) -> Floor:
    """Magento's pages, a token, then one upsert per 1,000 contacts."""
    emarsys = sims["emarsys"]
    with requests.Session() as session:
        http = _Counter(session)
        started = time.perf_counter()
        people = _people(http, sims["magento"], contacts)
        token = http.send(
            "POST",
            emarsys["token_url"],
            data={"grant_type": "client_credentials"},
            auth=(emarsys["client_id"], emarsys["client_secret"]),
        )["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        url = f"{emarsys['base_url'].rstrip('/')}/contact/?create_if_not_exists=1"
        for start in range(0, len(people), EMARSYS_BATCH):
            chunk = people[start : start + EMARSYS_BATCH]
            body = {
                "key_id": "3",
                "contacts": [{"1": p.firstname, "2": p.lastname, "3": p.email} for p in chunk],
            }
            http.send("PUT", url, json=body, headers=headers)
        return Floor(time.perf_counter() - started, http.count, len(people))


FLOORS = {
    "freeagent_contact_export": freeagent_floor,
    "emarsys_contact_sync": emarsys_floor,
}
