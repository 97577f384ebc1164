"""Hostile and odd input: every Magento record either maps to a valid payload or fails with
a message naming the field — never an exception — for both targets; text no system can
store is cleaned and said; the webhook refuses what is not a Magento notification; a
record that fails the same way is not re-reported on every run."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from contacts.emarsys.mapping import Identity, Row, customer_content
from contacts.emarsys.webhook import event_errors
from contacts.freeagent.mapping import FIELD_ORDER, contact_payload
from contacts.people import person_from_customer
from contacts.services.mirror import safe_record
from contacts.text import CLEANED_KEY, clean_json, email_problem

IDS = Identity(customer_field="100", subscriber_field="101")
ROWS = [
    Row("firstname", "1", "shorttext"),
    Row("lastname", "2", "shorttext"),
    Row("dob", "4", "date"),
    Row("gender", "5", "singlechoice"),
    Row("default_billing.street", "10", "longtext"),
    Row("default_billing.country_id", "14", "singlechoice"),
    Row("taxvat", "46", "numeric"),
    Row("custom_attributes.loyalty", "120", "multichoice"),
]

# Any character at all, surrogates and NUL included.
anything = st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=12)
scalar = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), anything, st.emails()
)
value = st.recursive(
    scalar,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(anything, inner, max_size=3),
    max_leaves=8,
)
address = st.fixed_dictionaries(
    {},
    optional={
        k: value
        for k in ("street", "city", "region", "postcode", "country_id", "telephone", "company")
    }
    | {"default_billing": st.booleans(), "id": st.integers(0, 5)},
)
customer = st.fixed_dictionaries(
    {"id": st.integers(1, 10**9)},
    optional={
        "email": st.one_of(value, st.emails()),
        "firstname": value,
        "lastname": value,
        "dob": value,
        "gender": value,
        "taxvat": value,
        "website_id": value,
        "store_id": value,
        "group_id": value,
        "default_billing": value,
        "addresses": st.one_of(value, st.lists(address, max_size=3)),
        "custom_attributes": st.one_of(
            value,
            st.lists(
                st.fixed_dictionaries({"attribute_code": anything, "value": value}), max_size=3
            ),
        ),
        "extension_attributes": value,
    },
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=customer)
def test_any_magento_customer_maps_or_fails_by_field_for_freeagent(raw):
    stored = safe_record(raw)
    json.dumps(stored)  # storable as JSON, no NUL, no lone surrogate left
    assert "\x00" not in json.dumps(stored, ensure_ascii=False)
    result = contact_payload(person_from_customer(stored))
    if result.ok:
        assert set(result.payload) <= set(FIELD_ORDER)
        assert email_problem(result.payload["email"]) is None
        assert all(isinstance(v, str | bool) for v in result.payload.values())
    else:
        assert set(result.errors) <= set(FIELD_ORDER)
        assert all(isinstance(text, str) and text for text in result.errors.values())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(raw=customer)
def test_any_magento_customer_maps_or_fails_by_field_for_emarsys(raw):
    content = customer_content(safe_record(raw), rows=ROWS, identity=IDS)
    json.dumps(content.fields)
    for key, item in content.fields.items():
        assert key.isdigit()
        assert isinstance(item, str | int | float | list)
    for warning in content.warnings:
        assert warning.split(":", 1)[0] in {row.magento for row in ROWS}  # names the field


def test_text_no_system_can_store_is_removed_and_said():
    cleaned = safe_record({"id": 1, "firstname": "An\x00na", "lastname": "B\ud800", "x": [1]})
    assert cleaned["firstname"] == "Anna"
    assert cleaned["lastname"] == "B"
    assert cleaned[CLEANED_KEY] == ["firstname", "lastname"]
    assert clean_json({"ok": "tab\tand\nnewline"}) == ({"ok": "tab\tand\nnewline"}, [])


@pytest.mark.parametrize(
    ("email", "reason"),
    [
        ("", "is empty"),
        ("a b@example.com", "space"),
        ('"quoted"@example.com', "character"),
        ("<a@example.com>", "character"),
        ("a@@example.com", "exactly one @"),
        ("a@localhost", "domain"),
        ("a..b@example.com", "before the @"),
        ("a@exa_mple.com", "domain"),
    ],
)
def test_addresses_freeagent_and_emarsys_refuse_are_refused_first(email, reason):
    assert reason in (email_problem(email) or "")


@pytest.mark.parametrize("email", ["o'neil@example.ie", "a+tag@sub.example.co.uk", "a@bü.de"])
def test_good_addresses_pass(email):
    assert email_problem(email) is None


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        ({"subscriber_id": 1, "subscriber_status": 7}, "subscriber_status must be 1"),
        ({"subscriber_id": 1, "subscriber_status": 1, "subscriber_email": "x@@y"}, "one @"),
        ({"subscriber_id": 1, "subscriber_email": 5}, "must be a string"),
        ({"subscriber_id": "1e3"}, "subscriber_id must be"),
        ({"subscriber_id": 1, "change_status_at": "2025-13-01 00:00:00"}, "change_status_at"),
    ],
)
def test_the_webhook_validates_every_field(row, reason):
    assert reason in event_errors({"event": "subscriber.saved", "subscriber": row})


def test_a_field_of_the_wrong_type_fails_the_contact_naming_the_field():
    person = person_from_customer(
        {"id": 1, "email": "ok@example.com", "firstname": {"de": "Anna"}, "lastname": "B"}
    )
    result = contact_payload(person)
    assert result.errors == {"first_name": "Magento's firstname is a structure, not a text value"}
    content = customer_content(
        {"id": 1, "email": "ok@example.com", "firstname": {"de": "Anna"}}, rows=ROWS, identity=IDS
    )
    assert "1" not in content.fields
    assert content.warnings == ["firstname: is a structure, not a text value; not sent."]
    dated = customer_content({"id": 1, "dob": "1990-02-31x"}, rows=ROWS, identity=IDS)
    assert any(w.startswith("dob:") for w in dated.warnings)
