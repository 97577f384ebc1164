"""Magento → FreeAgent mapping, table-driven."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from contacts.freeagent.mapping import (
    contact_payload,
    field_changes,
    field_diff,
    freeagent_locale,
    payload_hash,
)
from contacts.people import person_from_customer, person_from_guest

RECORDED = Path(__file__).resolve().parents[2] / "fixtures" / "recorded" / "magento"


def customer(**overrides):
    base = {
        "id": 7,
        "email": "Jane.Doe@Example.com",
        "firstname": "Jane",
        "lastname": "Doe",
        "website_id": 1,
        "store_id": 1,
        "group_id": 1,
        "default_billing": "11",
        "addresses": [
            {
                "id": 11,
                "customer_id": 7,
                "street": ["1 High Street", "Flat 2"],
                "city": "London",
                "region": {"region": "London ", "region_code": None, "region_id": 0},
                "region_id": 0,
                "postcode": "SW1A 1AA",
                "country_id": "GB",
                "telephone": "+44 20 7946 0000",
                "default_billing": True,
            }
        ],
    }
    base.update(overrides)
    return base


def address(**overrides):
    return [{**customer()["addresses"][0], **overrides}]


CASES = [
    (
        "person with default billing address",
        customer(),
        None,
        {
            "first_name": "Jane",
            "last_name": "Doe",
            "email": "Jane.Doe@Example.com",
            "billing_email": "Jane.Doe@Example.com",
            "phone_number": "+44 20 7946 0000",
            "address1": "1 High Street",
            "address2": "Flat 2",
            "town": "London",
            "region": "London",
            "postcode": "SW1A 1AA",
            "country": "United Kingdom",
        },
    ),
    (
        "company makes an organisation, names kept and shown",
        customer(addresses=address(company="Acme Ltd", vat_id="GB123456789")),
        None,
        {
            "organisation_name": "Acme Ltd",
            "first_name": "Jane",
            "last_name": "Doe",
            "contact_name_on_invoices": True,
            "sales_tax_registration_number": "GB123456789",
        },
    ),
    (
        "taxvat used when the address has no vat_id",
        customer(taxvat="CZ12345678", addresses=address(country_id="CZ")),
        None,
        {"sales_tax_registration_number": "CZ12345678", "country": "Czech Republic"},
    ),
    (
        "Slovakia spelled FreeAgent's way",
        customer(addresses=address(country_id="SK")),
        None,
        {"country": "Slovakia"},
    ),
    (
        "German store locale",
        customer(),
        "de_DE",
        {"locale": "de"},
    ),
    (
        "four street lines fold into address3",
        customer(addresses=address(street=["a", "b", "c", "d"])),
        None,
        {"address1": "a", "address2": "b", "address3": "c, d"},
    ),
]


@pytest.mark.parametrize(("title", "data", "locale", "expected"), CASES, ids=[c[0] for c in CASES])
def test_mapping(title, data, locale, expected):
    result = contact_payload(person_from_customer(data), store_locale=locale)
    assert result.ok, result.errors
    for key, value in expected.items():
        assert result.payload[key] == value, key


EMPTY_NEVER_SENT = [
    ("no telephone", address(telephone=""), "phone_number"),
    ("no postcode", address(postcode=None), "postcode"),
    ("blank street lines", address(street=["", "  "]), "address1"),
    ("no region", address(region={"region": None, "region_code": None, "region_id": 0}), "region"),
    ("no company", address(company="  "), "organisation_name"),
]


@pytest.mark.parametrize(("title", "addresses", "absent"), EMPTY_NEVER_SENT)
def test_empty_magento_values_are_never_sent(title, addresses, absent):
    result = contact_payload(person_from_customer(customer(addresses=addresses)))
    assert result.ok
    assert absent not in result.payload
    assert all(v not in ("", None) for v in result.payload.values())


INVALID = [
    ("no names, no company", customer(firstname="", lastname=""), "first_name", "no first name"),
    ("half a name", customer(lastname=" "), "last_name", "is empty"),
    ("malformed e-mail", customer(email="jane@@example"), "email", "is not an e-mail address"),
    ("no e-mail", customer(email=""), "email", "is empty"),
    (
        "unknown country",
        customer(addresses=address(country_id="XX")),
        "country",
        "unknown country code 'XX'",
    ),
    ("very long name", customer(firstname="J" * 300), "first_name", "300 characters"),
]


@pytest.mark.parametrize(("title", "data", "field", "message"), INVALID)
def test_invalid_data_names_the_field(title, data, field, message):
    result = contact_payload(person_from_customer(data))
    assert not result.ok
    assert message in result.errors[field]
    assert result.error_message().startswith(f"{field}: ") or f"; {field}: " in (
        result.error_message()
    )


def test_company_without_names_is_valid_and_hides_names_on_invoices():
    data = customer(firstname="", lastname="", addresses=address(company="Acme Ltd"))
    result = contact_payload(person_from_customer(data))
    assert result.ok
    assert result.payload["organisation_name"] == "Acme Ltd"
    assert result.payload["contact_name_on_invoices"] is False
    assert "first_name" not in result.payload


def test_guest_buyer_names_fall_back_to_the_billing_address():
    guest = {
        "email": "guest@example.com",
        "firstname": None,
        "lastname": None,
        "billing_address": {
            "firstname": "Gus",
            "lastname": "Guest",
            "street": ["5 Rue de Rivoli"],
            "city": "Paris",
            "postcode": "75001",
            "country_id": "FR",
            "telephone": "0102030405",
        },
    }
    result = contact_payload(person_from_guest(guest))
    assert result.ok
    assert result.payload["first_name"] == "Gus"
    assert result.payload["country"] == "France"


def test_the_recorded_magento_customer_maps():
    recording = json.loads((RECORDED / "customer_example.json").read_text())
    data = recording["response"]["body"]
    result = contact_payload(person_from_customer(data))
    assert result.ok, result.errors
    assert result.payload["email"] == data["email"]


@pytest.mark.parametrize(
    ("magento", "freeagent"),
    [
        ("en_GB", "en"),
        ("en_US", "en-US"),
        ("cs_CZ", "cz"),
        ("sv_SE", "se"),
        ("da_DK", "dk"),
        ("fr_CA", "fr-CA"),
        ("pl_PL", "pl-PL"),
        ("ja_JP", None),
        (None, None),
    ],
)
def test_locales(magento, freeagent):
    assert freeagent_locale(magento) == freeagent


def test_diff_sends_only_changed_fields_and_never_blanks():
    payload = {"first_name": "Jane", "town": "Leeds", "email": "j@example.com"}
    remote = {"first_name": "Jane", "town": "London", "email": "j@example.com", "mobile": "07"}
    assert field_diff(payload, remote) == {"town": "Leeds"}
    assert field_changes(payload, remote) == [("town", "London", "Leeds")]
    assert field_diff(payload, None) == payload


def test_payload_hash_is_order_independent():
    assert payload_hash({"a": 1, "b": 2}) == payload_hash({"b": 2, "a": 1})
    assert payload_hash({"a": 1}) != payload_hash({"a": 2})
