"""The client against the simulator over real HTTP."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from connectors.emarsys import EmarsysClient, WsseAuth, reply_code_of
from connectors.errors import RateLimited, ValidationError
from connectors.http import call_with_retries
from connectors.simulators.emarsys.app import create_app
from connectors.simulators.kit import serve
from tests.connectors.windows import wait_for_fresh_window

from .conftest import sim_contacts, sim_post


def test_upsert_create_then_update_by_custom_key_field(sim, sim_client) -> None:
    _app, server = sim
    client = sim_client("oauth2")
    field_id = client.create_field("Magento Customer ID", "numeric")
    assert client.find_field("Magento Customer ID").id == field_id
    gender = {c.choice: c.id for c in client.field_choices(5)}
    first = client.upsert_contacts(
        [
            {field_id: 101, 3: "ann@example.com", 1: "Ann", 5: gender["Female"], 31: 1},
            {field_id: 102, 3: "bob@example.com", 1: "Bob"},
        ],
        key_id=field_id,
    )
    assert [r.created for r in first.results] == [True, True]
    second = client.upsert_contacts(
        [{field_id: "101", 3: "ann.new@example.com", 1: "Annie"}], key_id=int(field_id)
    )
    assert second.results[0].created is False
    assert second.results[0].id == first.results[0].id
    stored = {c["id"]: c["fields"] for c in sim_contacts(server)}
    assert len(stored) == 2
    assert stored[first.results[0].id] == {
        "1": "Annie",
        "3": "ann.new@example.com",
        "5": "2",
        "31": "1",
        field_id: "101",
    }
    rows = client.get_contacts([101, 102], key_id=field_id, fields=[1, 3, field_id]).rows
    assert [(r["1"], r[field_id]) for r in rows] == [("Annie", "101"), ("Bob", "102")]


def test_partial_error_on_one_of_1000(sim, sim_client) -> None:
    app, server = sim
    client = sim_client("wsse")
    sim_post(server, "/_sim/inject_error", {"key_value": "u500@example.com", "code": 2010})
    contacts = [{"3": f"u{i}@example.com", "1": f"U{i}"} for i in range(1000)]
    result = client.upsert_contacts(contacts)
    assert result.calls == 1
    assert len(result.ids) == 999
    assert [(e.key, e.code) for e in result.errors] == [("u500@example.com", 2010)]
    assert result.by_key()["u501@example.com"].ok
    assert app.state()["contacts"] == 999


def test_per_contact_validation_errors(sim, sim_client) -> None:
    client = sim_client()
    result = client.upsert_contacts(
        [
            {3: "not-an-email", 1: "X"},
            {3: "ok@example.com", 4: "31/12/1990"},
            {3: "ro@example.com", 47: "1"},
            {3: "unknown@example.com", 99999: "x"},
            {3: "good@example.com", 4: "1990-12-31", 14: "15"},
        ]
    )
    codes = {r.key: r.error.code if r.error else 0 for r in result.results}
    assert codes == {
        "not-an-email": 2005,
        "ok@example.com": 2007,
        "ro@example.com": 2007,
        "unknown@example.com": 2007,
        "good@example.com": 0,
    }


def test_duplicates_give_2010_and_checkids_sees_them(sim, sim_client) -> None:
    _app, server = sim
    sim_post(
        server, "/_sim/contacts", {"contacts": [{"3": "dup@example.com"}, {"3": "dup@example.com"}]}
    )
    client = sim_client()
    result = client.upsert_contacts([{3: "dup@example.com", 1: "Dup"}])
    assert result.errors[0].ambiguous
    assert client.check_ids(["dup@example.com"]).errors[0].code == 2010
    multiple = client.check_ids(["dup@example.com"], get_multiple_ids=True)
    assert len(multiple.ids["dup@example.com"]) == 2


def test_simulator_enforces_batch_and_size_limits(sim, sim_client) -> None:
    client = sim_client(max_batch=5000, max_body_bytes=50_000_000)
    with pytest.raises(ValidationError) as too_many:
        client.upsert_contacts([{3: f"n{i}@example.com"} for i in range(1001)])
    assert reply_code_of(too_many.value) == 1000
    with pytest.raises(ValidationError) as too_big:
        client.upsert_contacts([{3: f"b{i}@example.com", 18: "y" * 1_000_000} for i in range(9)])
    assert too_big.value.status == 413
    assert reply_code_of(too_big.value) == 1000


def test_contact_lists(sim, sim_client) -> None:
    app, server = sim
    client = sim_client()
    client.upsert_contacts([{3: "a@example.com"}, {3: "b@example.com"}])
    created = client.create_contact_list("VIP", external_ids=["a@example.com", "zz@example.com"])
    assert [e.key for e in created.errors] == ["zz@example.com"]
    assert client.find_contact_list("VIP").id == created.list_id
    assert client.add_to_contact_list(created.list_id, ["b@example.com"]).inserted == 1
    with pytest.raises(ValidationError) as exists:
        client.create_contact_list("VIP")
    assert reply_code_of(exists.value) == 3005
    members = app.state()["lists"]["VIP"]["contact_ids"]
    emails = {c["id"]: c["fields"]["3"] for c in sim_contacts(server)}
    assert sorted(emails[m] for m in members) == ["a@example.com", "b@example.com"]


def test_rate_limit_429_then_recovery() -> None:
    app = create_app(time_scale=0.01, rate_limit=3)  # 3 per 0.6 s
    with serve(app) as server:
        creds = app.credentials(server.url)
        client = EmarsysClient(
            creds["base_url"], auth=WsseAuth(creds["wsse_username"], creds["wsse_secret"])
        )
        wait_for_fresh_window(0.6)
        for _ in range(3):
            client.list_fields()
        with pytest.raises(RateLimited) as caught:
            client.list_fields()
        assert 0 < caught.value.retry_after <= 1.0
        assert reply_code_of(caught.value) == 7003
        waits: list[float] = []

        def sleep(seconds: float) -> None:
            waits.append(seconds)
            time.sleep(seconds)

        attempts = 0

        def list_fields() -> list:
            # The window is wall-clock; it may have reset since the 429 above. The
            # first attempt fills it again, so the retry path always meets a real 429.
            nonlocal attempts
            attempts += 1
            if attempts == 1:
                while True:
                    client.list_fields()
            return client.list_fields()

        assert len(call_with_retries(list_fields, sleep=sleep)) == 49
        assert attempts >= 2
        assert waits
        assert all(w <= 1.0 for w in waits)


def test_opt_in_change_export_round_trip(sim, sim_client) -> None:
    _app, server = sim
    client = sim_client()
    client.upsert_contacts([{3: "keep@example.com", 31: 1}, {3: "leave@example.com", 31: 1}])
    sim_post(server, "/_sim/contacts", {"contacts": [{"3": "imported@example.com", "31": "1"}]})
    sim_post(
        server, "/_sim/optin", {"key_id": "3", "key_value": "leave@example.com", "opt_in": "2"}
    )
    old = time.time() - 5 * 86400
    sim_post(server, "/_sim/optin", {"key_value": "imported@example.com", "opt_in": "2", "at": old})
    waits: list[float] = []
    changes = client.opt_in_changes(
        since=datetime.now(UTC) - timedelta(hours=1), poll_interval=0.01, sleep=waits.append
    )
    by_email = {c.key_value: c for c in changes}
    assert set(by_email) == {"keep@example.com", "leave@example.com"}  # not the import
    assert by_email["leave@example.com"].opt_in is False
    assert by_email["keep@example.com"].opt_in is True
    assert by_email["leave@example.com"].contact_id == client.internal_id("leave@example.com")
    assert len(waits) >= 1  # the export had to be polled
    export_id = client.start_change_export(since=datetime.now(UTC), contact_fields=[3, 31])
    assert client.export_status(export_id).status == "in progress"
