"""A deterministic demo store: customers, guest orders and newsletter subscribers.

Everything comes from one seeded :class:`random.Random` (no Faker), so ``generate(200,
seed=1)`` is the same store on every machine. Payloads are in Magento's REST shape
(omitted optional nulls, string ``default_billing``, address default flags only when
true); ``is_subscribed`` is left to the simulator, which derives it from the subscriber
rows as Magento's ``CustomerPlugin`` does.

The data is deliberately untidy where real shops are: empty names, malformed e-mails,
an unknown country, very long fields, non-ASCII names, empty street lines, ``region_id`` 0
with stray spaces, the same e-mail on two websites, guest orders placed with a registered
customer's e-mail in another case, repeat guests, orders without ``customer_firstname``,
virtual orders without a shipping address and guest orders later converted to customers.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from connectors.simulators.magento.seed_data import (
    COMPANY_SUFFIX,
    COMPANY_WORDS,
    COUNTRIES,
    COUNTRY_WEIGHTS,
    EMAIL_DOMAINS,
    PRODUCTS,
    Country,
)
from connectors.simulators.magento.seed_store import STORE_VIEWS, WEBSITE_OF_STORE

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
DEFAULT_NOW = datetime(2025, 6, 1, 12, 0, 0)


def fmt(moment: datetime) -> str:
    """Magento's timestamp format (UTC, one-second resolution)."""
    return moment.strftime(TIME_FORMAT)


@dataclass
class StoreSeed:
    """The generated rows, ready for the simulator's tables."""

    customers: list[dict[str, Any]] = field(default_factory=list)
    orders: list[dict[str, Any]] = field(default_factory=list)
    subscribers: list[dict[str, Any]] = field(default_factory=list)


class Factory:
    """Makes one realistic record at a time; the simulator's ``/_sim/`` routes use it too."""

    def __init__(self, seed: int = 1, *, now: datetime = DEFAULT_NOW) -> None:
        self.rng = random.Random(seed)
        self.now = now
        self.next_address_id = 1
        self.next_order_id = 1
        self.next_order_address_id = 1
        self.next_subscriber_id = 1
        self.used_emails: set[str] = set()

    # -- small pieces --------------------------------------------------------------------

    def _pattern(self, pattern: str) -> str:
        out = []
        for ch in pattern:
            if ch == "#":
                out.append(str(self.rng.randint(0, 9)))
            elif ch == "@":
                out.append(self.rng.choice("ABCDEFGHJKLMNPRSTUVWXY"))
            else:
                out.append(ch)
        return "".join(out)

    def country(self) -> Country:
        codes, weights = zip(*COUNTRY_WEIGHTS, strict=True)
        return COUNTRIES[self.rng.choices(codes, weights)[0]]

    def person(self, country: Country) -> tuple[str, str, int]:
        """(firstname, lastname, gender) with gender 1 male / 2 female."""
        gender = self.rng.choice((1, 2))
        first = self.rng.choice(country.first_male if gender == 1 else country.first_female)
        return first, self.rng.choice(country.surnames), gender

    def email(self, first: str, last: str, domain: str | None = None) -> str:
        local = f"{first}.{last}".lower()
        ascii_local = "".join(c for c in _fold(local) if c.isalnum() or c in "._-")
        while True:
            suffix = self.rng.randint(1, 9999)
            email = f"{ascii_local}{suffix}@{domain or self.rng.choice(EMAIL_DOMAINS)}"
            if email not in self.used_emails:
                self.used_emails.add(email)
                return email

    def company(self, country: Country) -> str:
        return f"{self.rng.choice(COMPANY_WORDS)} {self.rng.choice(COMPANY_SUFFIX[country.code])}"

    def moment(self, *, after: datetime | None = None, days: int = 1000) -> datetime:
        start = after or (self.now - timedelta(days=days))
        span = max(1, int((self.now - start).total_seconds()))
        return start + timedelta(seconds=self.rng.randint(0, span))

    def street_lines(self, country: Country) -> list[str]:
        line = country.street_format.format(
            n=self.rng.randint(1, 180), street=self.rng.choice(country.streets)
        )
        roll = self.rng.random()
        if roll < 0.15:
            return [f"Flat {self.rng.randint(1, 40)}", line]
        if roll < 0.2:
            return [line, ""]  # an empty second line, as the checkout stores it
        return [line]

    def place(self, country: Country) -> dict[str, Any]:
        city, postcode, region, region_code, region_id = self.rng.choice(country.cities)
        return {
            "city": city,
            "postcode": self._pattern(postcode),
            "region": region,
            "region_code": region_code,
            "region_id": region_id,
        }

    # -- customers -----------------------------------------------------------------------

    def customer_address(
        self, country: Country, first: str, last: str, customer_id: int, company: str | None
    ) -> dict[str, Any]:
        """A ``customer-data-address-interface`` payload (without default flags)."""
        place = self.place(country)
        region_text = place["region"] or None
        address: dict[str, Any] = {
            "id": self.next_address_id,
            "customer_id": customer_id,
            "region": {
                "region_code": place["region_code"] or region_text,
                "region": region_text,
                "region_id": place["region_id"],
            },
            "region_id": place["region_id"],
            "country_id": country.code,
            "street": self.street_lines(country),
            "telephone": self._pattern(country.phone),
            "postcode": place["postcode"],
            "city": place["city"],
            "firstname": first,
            "lastname": last,
        }
        self.next_address_id += 1
        if company:
            address["company"] = company
            if self.rng.random() < 0.7:
                address["vat_id"] = self._pattern(country.vat)
        return address

    def customer(self, customer_id: int, *, store_id: int | None = None) -> dict[str, Any]:
        """One registered customer in Magento's GET shape."""
        country = self.country()
        first, last, gender = self.person(country)
        store = store_id if store_id is not None else self._store_for(country)
        created = self.moment()
        updated = self.moment(after=created)
        company = self.company(country) if self.rng.random() < 0.25 else None
        customer: dict[str, Any] = {
            "id": customer_id,
            "group_id": self.rng.choice((1, 1, 1, 2, 3)) if not company else 2,
            "created_at": fmt(created),
            "updated_at": fmt(updated),
            "created_in": STORE_VIEWS[store]["name"],
        }
        if self.rng.random() < 0.6:
            birth = datetime(1950, 1, 1) + timedelta(days=self.rng.randint(0, 365 * 55))
            customer["dob"] = birth.strftime("%Y-%m-%d")
        customer.update({"email": self.email(first, last), "firstname": first, "lastname": last})
        if self.rng.random() < 0.1:
            customer["prefix"] = (
                "Dr" if self.rng.random() < 0.5 else ("Mr" if gender == 1 else "Ms")
            )
        if self.rng.random() < 0.7:
            customer["gender"] = gender
        customer["store_id"] = store
        if company and self.rng.random() < 0.4:
            customer["taxvat"] = self._pattern(country.vat)
        customer["website_id"] = WEBSITE_OF_STORE[store]
        count = self.rng.choices((0, 1, 2), (1, 6, 2))[0]
        addresses = [
            self.customer_address(country, first, last, customer_id, company) for _ in range(count)
        ]
        if addresses:
            addresses[0]["default_billing"] = True
            addresses[-1]["default_shipping"] = True
            customer["default_billing"] = str(addresses[0]["id"])
            customer["default_shipping"] = str(addresses[-1]["id"])
        customer["addresses"] = addresses
        customer["disable_auto_group_change"] = 0
        attributes = []
        if self.rng.random() < 0.5:
            attributes.append({"attribute_code": "loyalty_tier", "value": self.rng.choice("123")})
        if self.rng.random() < 0.3:
            source = self.rng.choice(("newsletter", "trade_show", "referral", "google"))
            attributes.append({"attribute_code": "acquisition_source", "value": source})
        if attributes:
            customer["custom_attributes"] = attributes
        return _order_keys(customer)

    def _store_for(self, country: Country) -> int:
        by_locale = {v["locale"]: k for k, v in STORE_VIEWS.items() if k}
        return by_locale.get(country.locale, 1 if country.code in ("GB", "IE") else 3)

    # -- orders --------------------------------------------------------------------------

    def order_address(
        self, kind: str, country: Country, first: str, last: str, email: str, parent: int
    ) -> dict[str, Any]:
        """A ``sales-data-order-address-interface`` payload."""
        place = self.place(country)
        address: dict[str, Any] = {
            "address_type": kind,
            "city": place["city"],
            "country_id": country.code,
            "email": email,
            "entity_id": self.next_order_address_id,
            "firstname": first,
            "lastname": last,
            "parent_id": parent,
            "postcode": place["postcode"],
        }
        self.next_order_address_id += 1
        if place["region"]:
            address["region"] = place["region"]
        if place["region_code"]:
            address["region_code"] = place["region_code"]
        if place["region_id"]:
            address["region_id"] = place["region_id"]
        address["street"] = self.street_lines(country)
        address["telephone"] = self._pattern(country.phone)
        return address

    def order(
        self,
        *,
        email: str,
        customer: dict[str, Any] | None = None,
        names: bool = True,
        virtual: bool = False,
        company: bool = False,
        created: datetime | None = None,
    ) -> dict[str, Any]:
        """An order in ``GET /V1/orders`` shape; guest when ``customer`` is ``None``."""
        entity_id = self.next_order_id
        self.next_order_id += 1
        country = self.country()
        if customer is not None:
            first, last = customer["firstname"], customer["lastname"]
        else:
            first, last, _ = self.person(country)
        store_id = customer["store_id"] if customer else self._store_for(country)
        created = created or self.moment(days=400)
        lines = [self.rng.choice(PRODUCTS) for _ in range(self.rng.randint(1, 3))]
        subtotal = sum(p for _, _, p in lines)
        shipping = 0.0 if virtual else 5.0
        order: dict[str, Any] = {
            "base_currency_code": "GBP" if store_id in (1, 2) else "EUR",
            "base_grand_total": subtotal + shipping,
            "created_at": fmt(created),
            "customer_email": email,
        }
        if names:
            order["customer_firstname"] = first
        order["customer_group_id"] = customer["group_id"] if customer else 0
        if customer is not None:
            order["customer_id"] = customer["id"]
        order["customer_is_guest"] = 0 if customer else 1
        if names:
            order["customer_lastname"] = last
        order.update(
            {
                "entity_id": entity_id,
                "grand_total": subtotal + shipping,
                "increment_id": f"{entity_id:09d}",
                "is_virtual": int(virtual),
                "order_currency_code": "GBP" if store_id in (1, 2) else "EUR",
                "state": "new",
                "status": "pending",
                "store_id": store_id,
                "store_name": f"Main Website\n{STORE_VIEWS[store_id]['name']}\n",
                "subtotal": subtotal,
                "total_qty_ordered": len(lines),
                "updated_at": fmt(created + timedelta(seconds=self.rng.randint(0, 5))),
            }
        )
        order["items"] = [
            {
                "item_id": entity_id * 10 + i,
                "name": name,
                "order_id": entity_id,
                "price": price,
                "qty_ordered": 1,
                "sku": sku,
                "store_id": store_id,
            }
            for i, (sku, name, price) in enumerate(lines)
        ]
        billing = self.order_address("billing", country, first, last, email, entity_id)
        if company:
            billing["company"] = self.company(country)
            billing["vat_id"] = self._pattern(country.vat)
        order["billing_address"] = billing
        order["payment"] = {
            "account_status": None,
            "additional_information": ["Check / Money order"],
            "cc_last4": None,
            "method": "checkmo",
        }
        order["status_histories"] = []
        if not virtual:
            address = dict(billing, address_type="shipping", entity_id=self.next_order_address_id)
            self.next_order_address_id += 1
            if self.rng.random() < 0.2:
                address = self.order_address("shipping", country, first, last, email, entity_id)
            order["extension_attributes"] = {
                "shipping_assignments": [
                    {
                        "shipping": {"address": address, "method": "flatrate_flatrate"},
                        "items": order["items"],
                    }
                ]
            }
        return order

    # -- subscribers ---------------------------------------------------------------------

    def subscriber(
        self,
        *,
        email: str,
        status: int,
        customer_id: int = 0,
        store_id: int = 1,
        changed: datetime | None = None,
        imported: bool = False,
    ) -> dict[str, Any]:
        """A ``newsletter_subscriber`` row (``customer_id`` 0 = guest)."""
        row = {
            "subscriber_id": self.next_subscriber_id,
            "store_id": store_id,
            "change_status_at": None if imported else fmt(changed or self.moment(days=500)),
            "customer_id": customer_id,
            "subscriber_email": email,
            "subscriber_status": status,
            "subscriber_confirm_code": f"{self.rng.getrandbits(128):032x}",
        }
        self.next_subscriber_id += 1
        return row


def _fold(text: str) -> str:
    import unicodedata

    decomposed = unicodedata.normalize("NFKD", text.replace("ß", "ss"))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


_KEY_ORDER = (
    "id",
    "group_id",
    "default_billing",
    "default_shipping",
    "confirmation",
    "created_at",
    "updated_at",
    "created_in",
    "dob",
    "email",
    "firstname",
    "lastname",
    "middlename",
    "prefix",
    "suffix",
    "gender",
    "store_id",
    "taxvat",
    "website_id",
    "addresses",
    "disable_auto_group_change",
    "extension_attributes",
    "custom_attributes",
)


def _order_keys(customer: dict[str, Any]) -> dict[str, Any]:
    """Magento's key order (the interface's getter order), as in the recordings."""
    return {k: customer[k] for k in _KEY_ORDER if k in customer}


def generate(
    n_customers: int,
    *,
    seed: int = 1,
    n_guest_orders: int | None = None,
    now: datetime = DEFAULT_NOW,
) -> StoreSeed:
    """A whole store: ``n_customers`` customers plus guest orders and subscribers."""
    from connectors.simulators.magento.seed_odd import add_odd_data

    factory = Factory(seed, now=now)
    out = StoreSeed()
    import_time = now - timedelta(days=30)
    for customer_id in range(1, n_customers + 1):
        customer = factory.customer(customer_id)
        if customer_id % 10 == 0:
            # A bulk import: many rows share one updated_at second (keyset ties).
            customer["updated_at"] = fmt(import_time)
            customer["created_at"] = min(customer["created_at"], fmt(import_time))
        out.customers.append(customer)
    add_odd_data(factory, out, n_guest_orders=n_guest_orders)
    return out
