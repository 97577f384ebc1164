"""The replyCode envelope, its mapping onto the error family, and per-item error shapes."""

from __future__ import annotations

import time

import pytest
import responses

from connectors.emarsys import ItemError, parse_item_errors, reply_code_of
from connectors.emarsys.envelope import as_id, error_class_for
from connectors.errors import (
    AuthError,
    ConnectorError,
    NotFound,
    PermanentError,
    RateLimited,
    TransientError,
    ValidationError,
)

from .conftest import BASE, load


def envelope(code: int, text: str, data: object = "") -> dict[str, object]:
    return {"replyCode": code, "replyText": text, "data": data}


def test_object_shape_keyed_by_key_value() -> None:
    raw = load("contact_update_multiple.json")["response"]["body"]["data"]["errors"]
    errors = parse_item_errors(raw)
    assert errors == [
        ItemError(
            "erik.selvig@example.com",
            2008,
            "No contact found with the external id: 3 - erik.selvig@example.com",
        ),
        ItemError(
            "james.rhodes@example.com",
            2008,
            "No contact found with the external id: 3 - james.rhodes@example.com",
        ),
    ]
    assert all(e.not_found and not e.already_exists for e in errors)


def test_array_shape_from_getdata() -> None:
    raw = load("contact_getdata_errors.json")["response"]["body"]["data"]["errors"]
    errors = parse_item_errors(raw)
    assert [(e.key, e.code) for e in errors] == [
        ("ironman@example.com", 2008),
        ("hulk@example.com", 2008),
    ]
    assert errors[0].message == "No contact found with the external id: 3"


@pytest.mark.parametrize("raw", [[], {}, None, ""])
def test_empty_shapes(raw: object) -> None:
    assert parse_item_errors(raw) == []


def test_duplicate_and_ambiguous_codes_are_recognisable() -> None:
    errors = parse_item_errors(
        {"a@x.io": {"2009": "exists"}, "b@x.io": {"2006": "exists"}, "c@x.io": {"2010": "more"}}
    )
    assert [e.already_exists for e in errors] == [True, True, False]
    assert errors[2].ambiguous
    assert errors[0].as_dict() == {"key": "a@x.io", "code": 2009, "message": "exists"}


def test_ids_are_normalised_to_strings() -> None:
    assert as_id(123) == as_id("123") == "123"
    with pytest.raises(ValueError, match="not an Emarsys id"):
        as_id(None)


@responses.activate
@pytest.mark.parametrize(
    ("status", "body", "error", "code"),
    [
        (200, envelope(2004, "Invalid key field id: 999"), ValidationError, 2004),
        (400, envelope(9002, "A field with this name already exists"), ValidationError, 9002),
        (
            400,
            envelope(1000, "The request exceeded the maximum batch size of 1,000"),
            ValidationError,
            1000,
        ),
        (401, envelope(1, "Credentials are invalid"), AuthError, 1),
        (403, envelope(2, "Permission denied"), AuthError, 2),
        (404, envelope(3006, "No contact list found with the specified ID."), NotFound, 3006),
        (400, envelope(2008, "No contact found with the specified external ID"), NotFound, 2008),
        (410, envelope(4003, "Exported data is not available."), NotFound, 4003),
        (404, envelope(4005, "Export is currently in progress."), TransientError, 4005),
        (500, envelope(2011, "Database connection error"), TransientError, 2011),
        (200, envelope(2011, "Database connection error"), TransientError, 2011),
        (404, envelope(404, "Resource not found"), NotFound, 404),
        (409, envelope(42, "Conflict"), TransientError, 42),
    ],
)
def test_envelope_errors_map_to_the_family(
    client, status: int, body: dict[str, object], error: type[ConnectorError], code: int
) -> None:
    responses.get(f"{BASE}/field/translate/en", json=body, status=status)
    with pytest.raises(error) as caught:
        client.list_fields()
    assert type(caught.value) is error
    assert reply_code_of(caught.value) == code
    assert f"replyCode {code}: {body['replyText']}" in caught.value.message
    assert caught.value.status == status


@responses.activate
def test_429_uses_x_ratelimit_reset(client) -> None:
    reset = int(time.time()) + 30
    responses.get(
        f"{BASE}/field/translate/en",
        json=envelope(7003, "Too many requests"),
        status=429,
        headers={"X-RateLimit-Reset": str(reset), "X-RateLimit-Limit": "1000"},
    )
    with pytest.raises(RateLimited) as caught:
        client.list_fields()
    assert 25 <= caught.value.retry_after <= 31
    assert reply_code_of(caught.value) == 7003


@responses.activate
def test_non_envelope_success_body_is_rejected(client) -> None:
    responses.get(f"{BASE}/field/translate/en", body="<html>maintenance</html>", status=200)
    with pytest.raises(PermanentError, match="not a replyCode envelope"):
        client.list_fields()


def test_every_documented_error_code_maps_into_the_family() -> None:
    rows = [r for r in load("error_codes.json") if r["replyCode"] is not None]
    assert len(rows) > 100
    for row in rows:
        cls = error_class_for(row["replyCode"], row["http_status"])
        assert cls is not None, row
        assert issubclass(cls, ConnectorError), row
        if row["http_status"] >= 500:
            assert cls is TransientError, row
        if row["replyCode"] == 2008:
            assert cls is NotFound, row
        if row["replyCode"] in (2004, 2005, 2007, 2009, 2010, 9002, 9006, 1000, 3005):
            assert cls is ValidationError, row
