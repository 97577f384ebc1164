"""A person as the exports see them, built from Magento's customer or guest-order JSON.

Pure functions: no database, no network. Both registered customers and guest buyers
become a :class:`Person`, so every mapping is written once.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any


def clean(value: Any) -> str:
    """Trim a Magento scalar to a string; ``None`` and blanks become ``""``."""
    if value is None:
        return ""
    return " ".join(str(value).split())


def type_problem(value: Any) -> str | None:
    """Why ``value`` cannot be a text field (None when it can: text, a number, nothing)."""
    if value is None or isinstance(value, str):
        return None
    if isinstance(value, bool):
        return "is true/false, not a text value"
    if isinstance(value, int | float):
        return None
    return f"is a {'list' if isinstance(value, list) else 'structure'}, not a text value"


def listed(value: Any) -> list[Any]:
    """A Magento list as a list (anything else — a stray scalar, an object — as empty)."""
    return value if isinstance(value, list) else []


def mapping_of(value: Any) -> dict[str, Any]:
    """A Magento object as a dict (anything else as empty)."""
    return value if isinstance(value, dict) else {}


def email_key(email: str | None) -> str:
    """The e-mail as we match it: case- and whitespace-insensitive."""
    return "".join((email or "").split()).lower()


@dataclass(frozen=True)
class Address:
    street: tuple[str, ...] = ()
    city: str = ""
    region: str = ""
    postcode: str = ""
    country_id: str = ""
    telephone: str = ""
    company: str = ""
    vat_id: str = ""
    firstname: str = ""
    lastname: str = ""

    @classmethod
    def from_magento(cls, data: dict[str, Any] | None) -> Address | None:
        if not isinstance(data, dict):
            return None
        region = data.get("region")
        if isinstance(region, dict):
            region = region.get("region")
        street = data.get("street") or []
        street = [street] if isinstance(street, str | int | float) else listed(street)
        return cls(
            street=tuple(line for line in (clean(s) for s in street) if line),
            city=clean(data.get("city")),
            region=clean(region),
            postcode=clean(data.get("postcode")),
            country_id=clean(data.get("country_id")).upper(),
            telephone=clean(data.get("telephone")),
            company=clean(data.get("company")),
            vat_id=clean(data.get("vat_id")),
            firstname=clean(data.get("firstname")),
            lastname=clean(data.get("lastname")),
        )


@dataclass(frozen=True)
class Person:
    """What every export needs to know about one person."""

    email: str
    firstname: str = ""
    lastname: str = ""
    company: str = ""
    taxvat: str = ""
    telephone: str = ""
    billing: Address | None = None
    shipping: Address | None = None
    customer_id: int | None = None
    website_id: int | None = None
    store_id: int | None = None
    group_id: int | None = None
    created_at: str = ""
    dob: str = ""
    gender: int | None = None
    is_guest: bool = False
    extra: dict[str, Any] = field(default_factory=dict)
    # Magento fields of a type no text field can hold: {magento field: why}.
    problems: dict[str, str] = field(default_factory=dict)

    @property
    def email_key(self) -> str:
        return email_key(self.email)

    def source_hash(self) -> str:
        return hashlib.sha256(
            json.dumps(asdict(self), sort_keys=True, default=str).encode()
        ).hexdigest()


def _default_address(customer: dict[str, Any], kind: str) -> dict[str, Any] | None:
    """The customer's default billing/shipping address.

    Magento marks it twice: ``customer.default_billing`` holds the address id as a string,
    and the address itself carries ``default_billing: true`` (omitted, not false, on others).
    """
    addresses = [a for a in listed(customer.get("addresses")) if isinstance(a, dict)]
    wanted = str(customer.get(kind) or "")
    for address in addresses:
        if wanted and str(address.get("id")) == wanted:
            return address
    for address in addresses:
        if address.get(kind) is True:
            return address
    return None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):  # OverflowError: inf
        return None


def person_from_customer(customer: dict[str, Any]) -> Person:
    """A registered customer (``GET /V1/customers/…`` JSON) as a Person."""
    billing = Address.from_magento(_default_address(customer, "default_billing"))
    shipping = Address.from_magento(_default_address(customer, "default_shipping"))
    custom = {
        str(a.get("attribute_code")): a.get("value")
        for a in listed(customer.get("custom_attributes"))
        if isinstance(a, dict) and a.get("attribute_code")
    }
    problems = {
        name: problem
        for name in ("email", "firstname", "lastname", "taxvat", "dob")
        if (problem := type_problem(customer.get(name))) is not None
    }
    return Person(
        problems=problems,
        email=clean(customer.get("email")),
        firstname=clean(customer.get("firstname")),
        lastname=clean(customer.get("lastname")),
        company=(billing.company if billing else "") or clean(custom.get("company")),
        taxvat=clean(customer.get("taxvat")),
        telephone=(billing.telephone if billing else "")
        or (shipping.telephone if shipping else ""),
        billing=billing,
        shipping=shipping,
        customer_id=_int(customer.get("id")),
        website_id=_int(customer.get("website_id")),
        store_id=_int(customer.get("store_id")),
        group_id=_int(customer.get("group_id")),
        created_at=clean(customer.get("created_at")),
        dob=clean(customer.get("dob")),
        gender=_int(customer.get("gender")),
        extra={"custom_attributes": custom} if custom else {},
    )


def person_from_guest(guest: dict[str, Any], *, website_id: int | None = None) -> Person:
    """A guest buyer (``connectors.magento.normalise.guest_from_order`` output) as a Person."""
    billing = Address.from_magento(guest.get("billing_address"))
    shipping = Address.from_magento(guest.get("shipping_address"))
    return Person(
        email=clean(guest.get("email")),
        firstname=clean(guest.get("firstname")),
        lastname=clean(guest.get("lastname")),
        company=clean(guest.get("company")) or (billing.company if billing else ""),
        taxvat=clean(guest.get("vat_id")),
        telephone=clean(guest.get("telephone")) or (billing.telephone if billing else ""),
        billing=billing,
        shipping=shipping,
        website_id=website_id,
        store_id=_int(guest.get("store_id")),
        created_at=clean(guest.get("created_at")),
        is_guest=True,
    )
