"""Magento person → FreeAgent contact payload. Pure functions, table-tested.

Rules (seed 000, reference §6):

* a company makes an organisation contact (``organisation_name``); the person's names are
  kept and ``contact_name_on_invoices`` says whether they are shown;
* the default billing address fills ``address1..3``, ``town``, ``region``, ``postcode`` and
  ``country`` (FreeAgent's English country *name*, not the ISO code);
* ``sales_tax_registration_number`` is the address ``vat_id``, else the customer's ``taxvat``;
* ``locale`` only where FreeAgent supports the store's language;
* an empty Magento value is never sent, so it can never blank a filled FreeAgent field;
* invalid data fails the contact with a message naming the field.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from connectors.freeagent.countries import country_name
from contacts.people import Person
from contacts.text import email_problem

# FreeAgent's invoice locales (reference §6.3), keyed by Magento locale or language.
_LOCALES = {
    "en_US": "en-US",
    "fr_BE": "fr-BE",
    "fr_CA": "fr-CA",
    "nl_BE": "nl-BE",
    "pt_BR": "pt-BR",
    "pl": "pl-PL",
    "lv": "lv-LV",
    "bg": "bg",
    "ca": "ca",
    "cy": "cy",
    "cs": "cz",
    "de": "de",
    "da": "dk",
    "en": "en",
    "es": "es",
    "et": "et",
    "fi": "fi",
    "fr": "fr",
    "is": "is",
    "it": "it",
    "nl": "nl",
    "ro": "ro",
    "sr": "rs",
    "ru": "ru",
    "sv": "se",
    "sk": "sk",
    "tr": "tr",
}


FIELD_ORDER = (
    "organisation_name",
    "first_name",
    "last_name",
    "contact_name_on_invoices",
    "email",
    "billing_email",
    "phone_number",
    "address1",
    "address2",
    "address3",
    "town",
    "region",
    "postcode",
    "country",
    "sales_tax_registration_number",
    "locale",
)

MAX_LENGTH = 255
# The FreeAgent field each checked Magento customer field feeds.
MAGENTO_FIELDS = {
    "email": "email",
    "firstname": "first_name",
    "lastname": "last_name",
    "taxvat": "sales_tax_registration_number",
}


@dataclass
class MappingResult:
    """The payload, or the field errors that stop this contact (never the batch)."""

    payload: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def error_message(self) -> str:
        return "; ".join(f"{name}: {text}" for name, text in self.errors.items())


def freeagent_locale(magento_locale: str | None) -> str | None:
    """FreeAgent's locale for a Magento locale (``de_DE`` → ``de``), ``None`` if unsupported."""
    if not magento_locale:
        return None
    value = magento_locale.replace("-", "_")
    return _LOCALES.get(value) or _LOCALES.get(value.split("_", 1)[0].lower())


def contact_payload(person: Person, *, store_locale: str | None = None) -> MappingResult:
    """Build the FreeAgent contact fields for ``person`` (only non-empty values)."""
    result = MappingResult()
    payload: dict[str, Any] = {}
    address = person.billing or person.shipping
    first = person.firstname or (address.firstname if address else "")
    last = person.lastname or (address.lastname if address else "")
    company = person.company or (address.company if address else "")

    if company:
        payload["organisation_name"] = company
    if first and last:
        payload["first_name"] = first
        payload["last_name"] = last
    elif first or last:
        if company:
            # An organisation may carry half a name; FreeAgent needs both or neither.
            payload["first_name" if first else "last_name"] = first or last
        else:
            result.errors["last_name" if first else "first_name"] = (
                "is empty; FreeAgent needs a first and last name, or a company name"
            )
    elif not company:
        result.errors["first_name"] = (
            "no first name, last name or company; FreeAgent needs a name or a company name"
        )
    if company:
        payload["contact_name_on_invoices"] = bool(first or last)

    email = person.email.strip()
    problem = email_problem(email)
    if problem:
        result.errors["email"] = problem
    else:
        payload["email"] = email
        payload["billing_email"] = email

    if person.telephone:
        payload["phone_number"] = person.telephone

    if address:
        street = list(address.street)
        if len(street) > 3:
            street = [*street[:2], ", ".join(street[2:])]
        for index, line in enumerate(street, start=1):
            payload[f"address{index}"] = line
        if address.city:
            payload["town"] = address.city
        if address.region:
            payload["region"] = address.region
        if address.postcode:
            payload["postcode"] = address.postcode
        if address.country_id:
            name = country_name(address.country_id)
            if name is None:
                result.errors["country"] = (
                    f"unknown country code {address.country_id!r} in the billing address"
                )
            else:
                payload["country"] = name

    vat = (person.billing.vat_id if person.billing else "") or person.taxvat
    if vat:
        payload["sales_tax_registration_number"] = vat

    locale = freeagent_locale(store_locale)
    if locale:
        payload["locale"] = locale

    for magento, problem in person.problems.items():
        name = MAGENTO_FIELDS.get(magento)
        if name is not None:
            result.errors[name] = f"Magento's {magento} {problem}"
    for name, value in payload.items():
        if isinstance(value, str) and len(value) > MAX_LENGTH:
            result.errors[name] = f"is {len(value)} characters long; FreeAgent allows {MAX_LENGTH}"
    result.payload = {k: payload[k] for k in FIELD_ORDER if k in payload}
    return result


def payload_hash(payload: dict[str, Any]) -> str:
    """A stable hash of what we would send: unchanged hash → nothing to send."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def field_diff(payload: dict[str, Any], remote: dict[str, Any] | None) -> dict[str, Any]:
    """The fields of ``payload`` whose value differs from the remote record.

    Since ``payload`` only holds non-empty values, an update built from this diff can never
    blank a field the remote has filled.
    """
    if not remote:
        return dict(payload)
    changed: dict[str, Any] = {}
    for name, value in payload.items():
        have = remote.get(name)
        if isinstance(value, str) and isinstance(have, str):
            if value.strip() == have.strip():
                continue
        elif value == have:
            continue
        changed[name] = value
    return changed


def field_changes(
    payload: dict[str, Any], remote: dict[str, Any] | None
) -> list[tuple[str, Any, Any]]:
    """(field, remote value, new value) for every field that would change — for diffs shown
    to people (dry run, explain page)."""
    remote = remote or {}
    return [(name, remote.get(name), value) for name, value in field_diff(payload, remote).items()]
