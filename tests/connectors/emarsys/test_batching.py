"""Batch splitting (1,000 contacts and 8 MB per call) and per-contact result matching."""

from __future__ import annotations

import json
from itertools import count

import pytest
import responses
from responses import matchers

from connectors.emarsys import EmarsysClient, WsseAuth
from connectors.errors import ValidationError

from .conftest import BASE

UPSERT_URL = f"{BASE}/contact/"
_ids = count(1)


def _echo_upsert(request) -> tuple[int, dict[str, str], str]:
    """Answer like Emarsys: new contacts get int ids, one per contact without an error."""
    body = json.loads(request.body)
    ids = [next(_ids) for _ in body["contacts"]]
    payload = {"replyCode": 0, "replyText": "OK", "data": {"ids": ids, "errors": []}}
    return 200, {}, json.dumps(payload)


def _contacts(n: int, **extra: str) -> list[dict[str, str]]:
    return [{"3": f"user{i}@example.com", "1": f"User {i}", **extra} for i in range(n)]


@responses.activate
def test_2500_contacts_take_three_calls(client) -> None:
    responses.add_callback(
        responses.PUT,
        UPSERT_URL,
        callback=_echo_upsert,
        match=[matchers.query_param_matcher({"create_if_not_exists": "1"})],
    )
    result = client.upsert_contacts(_contacts(2500))
    sizes = [len(json.loads(c.request.body)["contacts"]) for c in responses.calls]
    assert sizes == [1000, 1000, 500]
    assert all(json.loads(c.request.body)["key_id"] == "3" for c in responses.calls)
    assert result.calls == 3
    assert len(set(result.ids)) == 2500
    assert result.errors == []
    assert result.results[1500].key == "user1500@example.com"
    assert all(r.created for r in result.results)


@responses.activate
def test_payload_over_8mb_is_split_by_size(client) -> None:
    responses.add_callback(responses.PUT, UPSERT_URL, callback=_echo_upsert)
    # 20 contacts of ~500 KB each: ~10 MB in total, far below 1,000 contacts.
    contacts = _contacts(20, **{"18": "x" * 500_000})
    result = client.upsert_contacts(contacts)
    bodies = [c.request.body for c in responses.calls]
    assert len(bodies) == 2
    assert all(len(b) <= client.max_body_bytes for b in bodies)
    assert sum(len(json.loads(b)["contacts"]) for b in bodies) == 20
    assert len(result.ids) == 20


def test_a_single_contact_over_the_limit_is_refused_without_a_call() -> None:
    client = EmarsysClient(BASE, auth=WsseAuth("u", "s"), max_body_bytes=1000)
    with responses.RequestsMock() as mocked:
        with pytest.raises(ValidationError, match="request limit"):
            client.upsert_contacts([{"3": "a@b.c", "1": "x" * 2000}])
        assert len(mocked.calls) == 0


@responses.activate
def test_errors_and_ids_are_matched_to_their_contacts(client) -> None:
    body = {
        "replyCode": 0,
        "replyText": "OK",
        "data": {
            "ids": ["11", 12],
            "errors": {"b@x.io": {"2010": "More contacts found with the external ID: 3 - b@x.io"}},
        },
    }
    responses.put(UPSERT_URL, json=body)
    result = client.upsert_contacts([{3: "a@x.io"}, {3: "b@x.io"}, {3: "c@x.io"}])
    assert [(r.key, r.id, r.created) for r in result.results] == [
        ("a@x.io", "11", False),
        ("b@x.io", None, None),
        ("c@x.io", "12", True),
    ]
    assert result.by_key()["b@x.io"].error.ambiguous


@responses.activate
def test_unmatchable_ids_are_not_guessed(client) -> None:
    responses.put(
        UPSERT_URL, json={"replyCode": 0, "replyText": "OK", "data": {"ids": [1], "errors": []}}
    )
    result = client.upsert_contacts([{3: "a@x.io"}, {3: "b@x.io"}])
    assert [r.id for r in result.results] == [None, None]


@responses.activate
def test_contacts_without_a_key_value_are_not_sent(client) -> None:
    responses.add_callback(responses.PUT, UPSERT_URL, callback=_echo_upsert)
    result = client.upsert_contacts([{"1": "No Email"}, {"3": "ok@x.io"}])
    assert result.results[0].error.code == 2005
    assert result.results[1].ok
    assert json.loads(responses.calls[0].request.body)["contacts"] == [{"3": "ok@x.io"}]


@responses.activate
def test_upsert_race_2009_is_resent_once(client) -> None:
    race = {"x@x.io": {"2009": "Contact with the external id already exists: 3"}}
    responses.put(
        UPSERT_URL,
        json={"replyCode": 0, "replyText": "OK", "data": {"ids": [1], "errors": race}},
    )
    responses.put(
        UPSERT_URL,
        json={"replyCode": 0, "replyText": "OK", "data": {"ids": ["2"], "errors": []}},
        match=[matchers.json_params_matcher({"key_id": "3", "contacts": [{"3": "x@x.io"}]})],
    )
    result = client.upsert_contacts([{3: "y@x.io"}, {3: "x@x.io"}])
    assert [(r.key, r.id) for r in result.results] == [("y@x.io", "1"), ("x@x.io", "2")]
    assert result.calls == 2


@responses.activate
def test_getdata_and_checkids_split_at_1000(client) -> None:
    def getdata(request):
        keys = json.loads(request.body)["keyValues"]
        rows = [{"3": k, "id": i} for i, k in enumerate(keys)]
        return (
            200,
            {},
            json.dumps({"replyCode": 0, "replyText": "OK", "data": {"errors": [], "result": rows}}),
        )

    def checkids(request):
        keys = json.loads(request.body)["external_ids"]
        ids = {k: str(i) for i, k in enumerate(keys)}
        return (
            200,
            {},
            json.dumps({"replyCode": 0, "replyText": "OK", "data": {"ids": ids, "errors": []}}),
        )

    responses.add_callback(responses.POST, f"{BASE}/contact/getdata", callback=getdata)
    responses.add_callback(responses.POST, f"{BASE}/contact/checkids", callback=checkids)
    keys = [f"u{i}@x.io" for i in range(2500)]
    rows = client.get_contacts(keys).rows
    checked = client.check_ids(keys[:1500])
    sizes = [
        len(
            json.loads(c.request.body).get("keyValues")
            or json.loads(c.request.body)["external_ids"]
        )
        for c in responses.calls
    ]
    assert sizes == [1000, 1000, 500, 1000, 500]
    assert len(rows) == 2500
    assert all(isinstance(r["id"], str) for r in rows)
    assert len(checked.ids) == 1500
