"""The client sends the recorded request shapes and parses every recorded response."""

from __future__ import annotations

import pytest
import responses
from responses import matchers

from connectors.emarsys import ItemError
from connectors.emarsys.envelope import reply_code_of
from connectors.errors import ValidationError

from .conftest import BASE, load

HOST = BASE.removesuffix("/api/v2")


def _register(method: str, path: str, body: object, *, request_body: object = None, **kw) -> None:
    match = list(kw.pop("match", []))
    if request_body is not None:
        match.append(matchers.json_params_matcher(request_body))
    responses.add(method, f"{HOST}{path}", json=body, match=match, **kw)


@responses.activate
def test_field_list(client) -> None:
    rec = load("field_list.json")
    _register("GET", rec["request"]["path"], rec["response"]["body"])
    fields = client.list_fields("en")
    assert [(f.id, f.name, f.application_type) for f in fields][:2] == [
        ("0", "Interests", "interests"),
        ("1", "First Name", "shorttext"),
    ]
    assert fields[3].id == "123"
    assert fields[4].application_type == "voucher"


@responses.activate
def test_field_choices(client) -> None:
    rec = load("field_choices.json")
    _register("GET", rec["request"]["path"], rec["response"]["body"])
    choices = client.field_choices(5, language="fr")
    assert [(c.id, c.choice) for c in choices] == [("1", "Masculin"), ("2", "Féminin")]


@responses.activate
def test_field_create_and_its_error_variant(client) -> None:
    rec = load("field_create.json")
    _register("POST", "/api/v2/field", rec["response"]["body"], request_body=rec["request"]["body"])
    assert client.create_field("The name of the new field", "shorttext") == "796"
    variant = rec["response_variants"][0]
    responses.replace(
        responses.POST, f"{HOST}/api/v2/field", json=variant["body"], status=variant["status"]
    )
    with pytest.raises(ValidationError) as caught:
        client.create_field("The name of the new field", "shorttext")
    assert reply_code_of(caught.value) == 9002
    assert "A field with this name already exists" in caught.value.message


@responses.activate
def test_single_create(client) -> None:
    rec = load("contact_create.json")
    _register(
        "POST", "/api/v2/contact", rec["response"]["body"], request_body=rec["request"]["body"]
    )
    assert client.create_contact({3: "thor@example.com"}) == "123"


@responses.activate
def test_single_update(client) -> None:
    rec = load("contact_update_single.json")
    _register(
        "PUT", "/api/v2/contact", rec["response"]["body"], request_body=rec["request"]["body"]
    )
    assert client.update_contact({"3": "mary@example.com"}) == "333333333"


@responses.activate
def test_batch_create_ints_and_2009_errors(client) -> None:
    rec = load("contact_create_multiple.json")
    _register(
        "POST", "/api/v2/contact", rec["response"]["body"], request_body=rec["request"]["body"]
    )
    result = client.create_contacts(rec["request"]["body"]["contacts"], key_id=3)
    by_key = result.by_key()
    assert by_key["erik.selvig@example.com"].id == "123"
    assert by_key["ian.boothby@example.com"].id == "456"
    assert by_key["ian.boothby@example.com"].created is True
    assert by_key["james.rhodes@example.com"].error == ItemError(
        "james.rhodes@example.com", 2009, "Contact with the external id already exists: 3"
    )
    assert by_key["pepper.potts@example.com"].error.already_exists
    assert result.ids == ["123", "456"]
    assert result.calls == 1


@responses.activate
def test_batch_update_strings_and_2008_errors(client) -> None:
    rec = load("contact_update_multiple.json")
    _register(
        "PUT", "/api/v2/contact", rec["response"]["body"], request_body=rec["request"]["body"]
    )
    result = client.upsert_contacts(
        rec["request"]["body"]["contacts"], key_id="3", create_if_not_exists=False
    )
    assert [(r.key, r.id, r.created) for r in result.results if r.ok] == [
        ("ian.boothby@example.com", "285291248", False),
        ("pepper.potts@example.com", "285292533", False),
    ]
    assert [e.key for e in result.errors if e.not_found] == [
        "erik.selvig@example.com",
        "james.rhodes@example.com",
    ]


@responses.activate
def test_upsert_sends_create_if_not_exists(client) -> None:
    rec = load("contact_update_multiple.json")
    _register(
        "PUT",
        "/api/v2/contact/",
        rec["response"]["body"],
        request_body=rec["request"]["body"],
        match=[matchers.query_param_matcher({"create_if_not_exists": "1"})],
    )
    result = client.upsert_contacts(rec["request"]["body"]["contacts"], retry_conflicts=False)
    assert len(result.ids) == 2
    assert len(result.errors) == 2


@responses.activate
def test_getdata(client) -> None:
    rec = load("contact_getdata.json")
    _register(
        "POST",
        "/api/v2/contact/getdata",
        rec["response"]["body"],
        request_body=rec["request"]["body"],
    )
    result = client.get_contacts(
        ["tony.stark@example.com", "bruce.banner@example.com"], key_id=3, fields=[1, 2, 3]
    )
    assert result.errors == []
    assert result.rows[0] == {
        "1": "Ironman",
        "3": "tony.stark@example.com",
        "id": "23897",
        "uid": "A1BBbBCcC1",
    }


@responses.activate
def test_getdata_errors_without_result(client) -> None:
    rec = load("contact_getdata_errors.json")
    _register("POST", "/api/v2/contact/getdata", rec["response"]["body"])
    result = client.get_contacts(["ironman@example.com", "hulk@example.com"])
    assert result.rows == []
    assert {e.key for e in result.errors} == {"ironman@example.com", "hulk@example.com"}


@responses.activate
def test_getdata_result_false(client) -> None:
    body = {"replyCode": 0, "replyText": "OK", "data": {"errors": [], "result": False}}
    _register("POST", "/api/v2/contact/getdata", body)
    assert client.get_contacts(["x"]).rows == []


@responses.activate
def test_checkids(client) -> None:
    rec = load("contact_checkids.json")
    _register(
        "POST",
        "/api/v2/contact/checkids",
        rec["response"]["body"],
        request_body=rec["request"]["body"],
    )
    result = client.check_ids(rec["request"]["body"]["external_ids"], key_id=3)
    assert result.ids == {
        "obadiah.stane@example.com": "9832304",
        "jinsen@example.com": "9839473",
    }
    assert [(e.key, e.code) for e in result.errors] == [("raza@example.com", 2008)]


@responses.activate
def test_fetch_internal_id(client) -> None:
    rec = load("contact_fetch_internal_id.json")
    _register("GET", rec["request"]["path"], rec["response"]["body"])
    assert client.internal_id("email@example.com", key_id=3) == "123"


@responses.activate
def test_delete(client) -> None:
    rec = load("contact_delete.json")
    _register(
        "POST",
        "/api/v2/contact/delete",
        rec["response"]["body"],
        request_body=rec["request"]["body"],
    )
    assert client.delete_contact("storm", key_id=1) is None


@responses.activate
def test_query_and_its_error_variant(client) -> None:
    rec = load("contact_query.json")
    query = {"return": "3", "limit": "100", "offset": "200", "1": "FirstNameHere"}
    _register(
        "GET",
        "/api/v2/contact/query/",
        rec["response"]["body"],
        match=[matchers.query_param_matcher(query)],
    )
    rows = client.query_contacts(
        return_field=3, filters={1: "FirstNameHere"}, limit=100, offset=200
    )
    assert rows == [{"id": "3", "3": "loki@example.com"}, {"id": "5", "3": "thor@example.com"}]
    variant = rec["response_variants"][0]
    responses.replace(
        responses.GET, f"{HOST}/api/v2/contact/query/", json=variant["body"], status=400
    )
    with pytest.raises(ValidationError) as caught:
        client.query_contacts(return_field=3)
    assert reply_code_of(caught.value) == 2014


@responses.activate
def test_contactlist_create_and_variants(client) -> None:
    rec = load("contactlist_create.json")
    req = rec["request"]["body"]
    _register("POST", "/api/v2/contactlist", rec["response"]["body"], request_body=req)
    result = client.create_contact_list(
        req["name"], description=req["description"], key_id=3, external_ids=req["external_ids"]
    )
    assert result.list_id == "123"
    assert [(e.key, e.code) for e in result.errors] == [("loki@example.com", 2008)]
    for variant in rec["response_variants"]:
        responses.replace(responses.POST, f"{HOST}/api/v2/contactlist", json=variant["body"])
        result = client.create_contact_list("x", external_ids=["a@b.c"])
        assert result.list_id in ("123", "111111111")
        assert result.errors == []


@responses.activate
def test_contactlist_add_and_string_count_variant(client) -> None:
    rec = load("contactlist_add.json")
    _register(
        "POST",
        "/api/v2/contactlist/123/add",
        rec["response"]["body"],
        request_body=rec["request"]["body"],
    )
    result = client.add_to_contact_list(123, rec["request"]["body"]["external_ids"], key_id="3")
    assert result.inserted == 2
    assert [e.key for e in result.errors] == ["loki@example.com"]
    variant = rec["response_variants"][0]
    responses.replace(responses.POST, f"{HOST}/api/v2/contactlist/123/add", json=variant["body"])
    result = client.add_to_contact_list("123", variant["request_body"]["external_ids"])
    assert result.inserted == 1
    assert result.errors == []
