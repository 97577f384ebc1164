"""Mapping, identity, settings and signature logic as pure functions (no DB, no HTTP)."""

from __future__ import annotations

from datetime import datetime

import pytest

from connectors.emarsys.models import Choice
from contacts.emarsys import config, consent
from contacts.emarsys.identity import combined_hash, person_key, subscriber_owner
from contacts.emarsys.mapping import (
    Identity,
    Row,
    customer_content,
    emarsys_value,
    magento_value,
    subscriber_content,
)
from contacts.emarsys.webhook import signature, signature_valid

IDS = Identity(customer_field="100", subscriber_field="101")
GENDER = [Choice("1", "Male"), Choice("2", "Female"), Choice("3", "Other")]
COUNTRY = [Choice("6", "Germany"), Choice("16", "United States of America")]
SALUTATION = [Choice("1", "Mr."), Choice("2", "Ms."), Choice("3", "Mrs.")]

CUSTOMER = {
    "id": 42,
    "email": " ann@example.com ",
    "firstname": "Ann",
    "lastname": "",
    "dob": "1980-02-03",
    "gender": 2,
    "store_id": 3,
    "website_id": 2,
    "default_billing": "7",
    "addresses": [
        {"id": 6, "city": "Paris", "default_shipping": True},
        {
            "id": 7,
            "city": "Berlin",
            "street": ["Hauptstr. 1", "", "Hof 2"],
            "region": {"region": "Berlin", "region_id": 5},
            "country_id": "de",
            "telephone": "",
        },
    ],
    "custom_attributes": [{"attribute_code": "loyalty_tier", "value": "gold"}],
    "extension_attributes": {"is_subscribed": True},
}
STORES = {"stores": {"3": {"code": "de_store", "name": "Deutsch"}}, "websites": {"2": "eu"}}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("firstname", "Ann"),
        ("lastname", ""),
        ("default_billing.city", "Berlin"),
        ("default_shipping.city", "Paris"),
        ("default_billing.street", "Hauptstr. 1, Hof 2"),
        ("default_billing.region", "Berlin"),
        ("default_billing.telephone", ""),
        ("default_shipping.postcode", None),
        ("store_code", "de_store"),
        ("website_code", "eu"),
        ("loyalty_tier", "gold"),
        ("custom_attributes.loyalty_tier", "gold"),
        ("extension_attributes.is_subscribed", True),
        ("no_such_attribute", None),
    ],
)
def test_magento_value_reads_attributes_addresses_stores_and_custom_attributes(path, expected):
    assert magento_value(CUSTOMER, path, STORES) == expected


@pytest.mark.parametrize(
    ("value", "row", "choices", "expected"),
    [
        (None, Row("x", "1"), (), (None, None)),
        ("  ", Row("x", "1"), (), (None, None)),
        ([], Row("x", "1"), (), (None, None)),
        ("  Ann  Lee ", Row("x", "1", "shorttext"), (), ("Ann Lee", None)),
        ("1980-02-03 00:00:00", Row("dob", "4", "birthdate"), (), ("1980-02-03", None)),
        (
            "03.02.1980",
            Row("dob", "4", "birthdate"),
            (),
            (None, "dob: '03.02.1980' is not a date; not sent."),
        ),
        ("12", Row("n", "200", "numeric"), (), (12, None)),
        ("1.5", Row("n", "200", "numeric"), (), (1.5, None)),
        (2, Row("gender", "5", "singlechoice"), GENDER, ("2", None)),
        (1, Row("gender", "5", "singlechoice"), GENDER, ("1", None)),
        ("de", Row("default_billing.country_id", "14", "singlechoice"), COUNTRY, ("6", None)),
        ("US", Row("default_billing.country_id", "14", "singlechoice"), COUNTRY, ("16", None)),
        ("Mrs", Row("prefix", "46", "singlechoice"), SALUTATION, ("3", None)),
        ("Dr", Row("prefix", "46", "singlechoice", choices={"Dr": "2"}), SALUTATION, ("2", None)),
        (
            "XK",
            Row("default_billing.country_id", "14", "singlechoice"),
            COUNTRY,
            (None, "default_billing.country_id: no Emarsys choice of field 14 for 'XK'."),
        ),
    ],
)
def test_emarsys_value_converts_by_field_type(value, row, choices, expected):
    assert emarsys_value(value, row, choices) == expected


@pytest.mark.parametrize(
    ("status", "mapping", "expected"),
    [
        (1, config.DEFAULT_OPTIN_MAP, 1),
        (3, config.DEFAULT_OPTIN_MAP, 2),
        (2, config.DEFAULT_OPTIN_MAP, None),
        (4, config.DEFAULT_OPTIN_MAP, None),
        (None, config.DEFAULT_OPTIN_MAP, None),
        (2, {"2": 1}, 1),  # single opt-in: awaiting confirmation counts as subscribed
        (1, {"1": "1"}, 1),
    ],
)
def test_optin_value(status, mapping, expected):
    assert consent.mapped(status, mapping) == expected


def rows():
    return [
        Row("firstname", "1", "shorttext"),
        Row("lastname", "2", "shorttext"),
        Row("default_billing.telephone", "15", "shorttext", clear_when_empty=True),
        Row("default_billing.city", "11", "shorttext"),
        Row("gender", "5", "singlechoice"),
        Row("default_billing.country_id", "14", "singlechoice"),
    ]


def test_customer_content_never_sends_empty_values_unless_asked_and_always_has_the_keys():
    content = customer_content(
        CUSTOMER,
        rows=rows(),
        identity=IDS,
        subscriber_id=9,
        subscriber_status=3,
        choices={"5": GENDER, "14": COUNTRY},
        stores=STORES,
    )
    assert content.fields == {
        "1": "Ann",
        "15": "",  # clear_when_empty
        "11": "Berlin",
        "5": "2",
        "14": "6",
        "3": "ann@example.com",
        "100": 42,
        "101": 9,
    }
    assert content.status == 3  # the subscriber row (unsubscribed) beats the customer flag
    assert "2" not in content.fields  # empty last name: never blanks Emarsys
    assert content.to_send(known=True) == content.fields


@pytest.mark.parametrize(
    ("flag", "subscriber_status", "expected"),
    [(True, None, 1), (False, None, 3), (None, None, None), (True, 2, 2), (False, 1, 1)],
)
def test_customer_optin_comes_from_the_subscriber_row_else_the_flag(
    flag, subscriber_status, expected
):
    customer = {**CUSTOMER, "extension_attributes": {"is_subscribed": flag}}
    if flag is None:
        customer["extension_attributes"] = {}
    content = customer_content(
        customer,
        rows=[],
        identity=IDS,
        subscriber_status=subscriber_status,
    )
    assert content.status == expected
    assert "31" not in content.fields  # the opt-in is decided two-way, never mapped


def test_subscriber_sends_names_once_then_only_email():
    first = subscriber_content(
        email="g@example.com",
        status=1,
        subscriber_id=5,
        identity=IDS,
        firstname="Gia",
        lastname="",
    )
    assert first.to_send(known=False) == {"1": "Gia", "3": "g@example.com", "101": 5}
    assert first.to_send(known=True) == {"3": "g@example.com", "101": 5}
    assert first.status == 1  # the opt-in travels beside the fields
    renamed = subscriber_content(
        email="g@example.com",
        status=1,
        subscriber_id=5,
        identity=IDS,
        firstname="Giovanna",
    )
    assert renamed.digest() == first.digest()  # names are never updated: unchanged
    moved = subscriber_content(email="h@example.com", status=1, subscriber_id=5, identity=IDS)
    assert moved.changes(first.to_send(known=True)) == {"3": "h@example.com"}


@pytest.mark.parametrize(
    ("customer_id", "subscriber_id", "expected"),
    [(7, None, "customer:7"), (7, 3, "customer:7"), (None, 3, "subscriber:3")],
)
def test_person_key_prefers_the_customer(customer_id, subscriber_id, expected):
    assert person_key(customer_id=customer_id, subscriber_id=subscriber_id) == expected


def test_person_key_needs_an_id():
    with pytest.raises(ValueError, match="needs a customer id"):
        person_key(customer_id=None, subscriber_id=None)


@pytest.mark.parametrize(
    ("linked", "email", "customers", "expected"),
    [
        (12, "a@x.io", {}, 12),  # Magento's link wins
        (None, "a@x.io", {"a@x.io": [9]}, 9),  # same e-mail: the same person
        (None, "a@x.io", {"a@x.io": [9, 4]}, 4),  # several websites: the lowest id
        (None, "a@x.io", {"b@x.io": [9]}, None),  # a guest
        (0, "a@x.io", {}, None),  # Magento stores 0 for guests
    ],
)
def test_subscriber_owner(linked, email, customers, expected):
    assert (
        subscriber_owner(linked_customer_id=linked, email_key=email, customers_by_email=customers)
        == expected
    )


def test_combined_hash_changes_with_either_side():
    assert combined_hash("a", None) != combined_hash("a", "b")
    assert combined_hash("a", "b") == combined_hash("a", "b")


@pytest.mark.parametrize(
    ("settings", "key", "fragment"),
    [
        ({"sync_mode": "sometimes"}, "sync_mode", "Choose one of"),
        ({"background_runtime": "2am"}, "background_runtime", "HH:MM"),
        ({"background_runtime": "24:00"}, "background_runtime", "HH:MM"),
        ({"poll_interval_minutes": 0}, "poll_interval_minutes", "1 to 60"),
        ({"export_types": "everyone"}, "export_types", "Choose one of"),
        ({"customers_list": " "}, "customers_list", "Enter the Emarsys contact list"),
        ({"optin_map": {"1": "yes"}}, "optin_map", "Opt-In must be 1, 2"),
        ({"optin_map": {"9": 1}}, "optin_map", "Unknown Magento subscriber status"),
        ({"field_mapping": [{"magento": "x", "emarsys": "First"}]}, "field_mapping", "field id"),
        (
            {"field_mapping": [{"magento": "x", "emarsys": {"name": "X", "type": "singlechoice"}}]},
            "field_mapping",
            "cannot be created",
        ),
        ({"webhook_secret": "short"}, "webhook_secret", "16 characters"),
    ],
)
def test_validate_reports_field_keyed_errors(settings, key, fragment):
    errors = config.validate(settings)
    assert key in errors
    assert any(fragment in message for message in errors[key])


def test_defaults_are_valid_and_round_trip_through_config():
    assert config.validate({}) == {}
    values = {
        "sync_mode": "background_only",
        "background_runtime": 150,  # YAML 1.1 reads 02:30 as 150
        "optin_map": {1: "1", 3: 2, 2: "", 4: None},
        "field_mapping": [{"magento": "taxvat", "emarsys": {"name": "Tax VAT", "type": "text"}}],
        "internal": "dropped",
    }
    settings = config.from_config(values)
    assert settings["background_runtime"] == "02:30"
    assert settings["optin_map"] == {"1": 1, "3": 2, "2": "", "4": ""}
    assert "internal" not in settings
    assert config.validate(settings) == {}
    assert config.from_config(config.to_config(settings)) == settings


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (datetime(2025, 1, 1, 1, 59), datetime(2025, 1, 1, 2, 0)),
        (datetime(2025, 1, 1, 2, 0), datetime(2025, 1, 2, 2, 0)),
        (datetime(2025, 1, 1, 23, 0), datetime(2025, 1, 2, 2, 0)),
    ],
)
def test_next_runtime(now, expected):
    assert config.next_runtime({"background_runtime": "02:00"}, now) == expected


def test_crons_of_the_modes():
    assert config.poll_cron({"poll_interval_minutes": 10}) == "*/10 * * * *"
    assert config.poll_cron({"poll_interval_minutes": 60}) == "0 * * * *"
    assert config.daily_cron({"background_runtime": "03:45"}) == "45 3 * * *"


@pytest.mark.parametrize(
    ("secret", "stamp", "given", "now", "ok"),
    [
        ("s" * 20, "1000", None, 1000, True),
        ("s" * 20, "1000", None, 1300, True),
        ("s" * 20, "1000", None, 1301, False),
        ("s" * 20, "1000", "sha256=00", 1000, False),
        ("s" * 20, "abc", None, 1000, False),
        ("", "1000", None, 1000, False),
    ],
)
def test_signature_valid(secret, stamp, given, now, ok):
    body = b'{"event": "customer.saved", "customer_id": 1}'
    given = given or signature(secret or "x", stamp, body)
    assert signature_valid(secret=secret, timestamp=stamp, body=body, given=given, now=now)[0] is ok
