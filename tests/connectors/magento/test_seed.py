"""The demo store generator: deterministic, realistic, and untidy in the right places."""

from __future__ import annotations

import re
from collections import Counter

from connectors.simulators.magento.seed import generate

POSTCODES = {
    "GB": r"[A-Z]{1,2}\d{1,2}[A-Z]? \d[A-Z]{2}",
    "IE": r"[A-Z]\d{2} [A-Z]\d{3}",
    "DE": r"\d{5}",
    "AT": r"\d{4}",
    "FR": r"\d{5}",
    "NL": r"\d{4} [A-Z]{2}",
    "CZ": r"\d{3} \d{2}",
    "SK": r"\d{3} \d{2}",
    "ES": r"\d{5}",
    "IT": r"\d{5}",
}


def test_same_seed_same_store_other_seed_other_store() -> None:
    a, b, c = generate(50, seed=3), generate(50, seed=3), generate(50, seed=4)
    assert a == b
    assert a.customers != c.customers


def test_realistic_addresses_and_companies() -> None:
    data = generate(300, seed=1)
    addresses = [a for c in data.customers for a in c["addresses"]]
    countries = Counter(a["country_id"] for a in addresses)
    assert set(POSTCODES) <= set(countries)
    for address in addresses:
        pattern = POSTCODES.get(address["country_id"])
        if pattern and address["postcode"]:
            assert re.fullmatch(pattern, address["postcode"]), address
        assert isinstance(address["street"], list)
        assert set(address["region"]) == {"region_code", "region", "region_id"}
    assert any(a.get("vat_id") for a in addresses)
    assert any(a.get("company") for a in addresses)
    assert any(c.get("taxvat") for c in data.customers)
    assert {c["website_id"] for c in data.customers} == {1, 2}
    assert len({c["group_id"] for c in data.customers}) >= 3
    assert any("custom_attributes" in c for c in data.customers)
    assert any("dob" in c for c in data.customers)
    assert any("gender" in c for c in data.customers)
    assert any(a["region_id"] and a["region"]["region"] for a in addresses)  # DE/ES/IT/FR/AT


def test_odd_data_is_present() -> None:
    data = generate(30, seed=2)
    customers = data.customers
    emails = [c["email"] for c in customers]
    assert any(c["firstname"] == "" for c in customers)
    assert any("@@" in e or "@" not in e or e != e.strip() for e in emails)
    assert any(not c["firstname"].isascii() or not c["lastname"].isascii() for c in customers)
    assert any(len(c["firstname"]) > 80 for c in customers)
    addresses = [a for c in customers for a in c["addresses"]]
    assert any(a["country_id"] == "XK" for a in addresses)
    assert any("" in a["street"] for a in addresses)
    assert any(a["region_id"] == 0 and a["region"]["region"] == "London " for a in addresses)
    per_website = Counter((c["email"].lower(), c["website_id"]) for c in customers)
    assert max(per_website.values()) == 1
    assert len({c["email"].lower() for c in customers}) < len(customers)  # one e-mail, two websites


def test_orders_and_subscribers() -> None:
    data = generate(40, seed=5)
    guests = [o for o in data.orders if o["customer_is_guest"] == 1]
    assert guests
    assert any(o["customer_is_guest"] == 0 for o in data.orders)
    registered = {c["email"].strip().lower() for c in data.customers}
    assert any(
        o["customer_email"].strip().lower() in registered and o["customer_email"] not in registered
        for o in guests
    )
    assert max(Counter(o["customer_email"] for o in guests).values()) >= 2
    assert any("customer_firstname" not in o for o in guests)
    assert any("extension_attributes" not in o for o in guests)  # virtual
    statuses = {(s["customer_id"] == 0, s["subscriber_status"]) for s in data.subscribers}
    assert statuses == {(g, st) for g in (True, False) for st in (1, 2, 3, 4)}
    assert any(s["change_status_at"] is None for s in data.subscribers)
