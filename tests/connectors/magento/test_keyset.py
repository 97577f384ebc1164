"""Keyset paging on (updated_at, entity_id) while the shop changes records between pages."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from connectors.errors import ConnectorError
from connectors.magento.client import KeysetPager, MagentoClient
from connectors.magento.criteria import SearchCriteria
from connectors.simulators.kit import RunningServer
from connectors.simulators.magento.app import MagentoSimulator


def touch(server: RunningServer, customer_id: int, **fields: Any) -> dict[str, Any]:
    """Advance the store clock one second, then change a customer (bumps updated_at)."""
    requests.post(f"{server.url}/_sim/clock", json={"advance": 1}, timeout=5)
    response = requests.patch(f"{server.url}/_sim/customers/{customer_id}", json=fields, timeout=5)
    response.raise_for_status()
    return response.json()


def test_changes_between_pages_are_never_skipped(
    client: MagentoClient, sim: MagentoSimulator, server: RunningServer
) -> None:
    all_ids = set(sim.customers)
    order = sorted(sim.customers.values(), key=lambda c: (c["updated_at"], c["id"]))
    not_yet_read = [c["id"] for c in order[-12:-4]]
    pages: list[list[int]] = []
    changed: list[int] = []
    real_search = client.search_customers

    def search_and_mutate(criteria: SearchCriteria, **kw: Any) -> dict[str, Any]:
        result = real_search(criteria, **kw)
        pages.append([i["id"] for i in result["items"]])
        if len(pages) <= 3:
            # One record already read, one not read yet: both move to the end.
            already_read = pages[0][len(pages) - 1]
            for customer_id in (already_read, not_yet_read[len(pages)]):
                touch(server, customer_id, lastname=f"Changed{len(pages)}")
                changed.append(customer_id)
        return result

    client.search_customers = search_and_mutate  # type: ignore[method-assign]
    pager = client.iter_customers_changed(None, page_size=5)
    seen = [(c["id"], c["updated_at"], c["lastname"]) for c in pager]

    assert {i for i, _, _ in seen} == all_ids  # nothing skipped
    for customer_id in changed:  # every change was read in its changed form
        assert any(i == customer_id and last.startswith("Changed") for i, _, last in seen)
    keys = [(ts, i) for i, ts, _ in seen]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)
    assert pager.cursor == keys[-1]
    searches = [r["query"] for r in sim.request_log if r["path"].endswith("/customers/search")]
    assert len(searches) == len(pages)
    assert all(q.endswith("searchCriteria%5BcurrentPage%5D=1") for q in searches)  # always page 1


def test_offset_paging_would_have_skipped(
    client: MagentoClient, sim: MagentoSimulator, server: RunningServer
) -> None:
    """Why keyset: the same mutation under currentPage paging loses a record."""
    seen: set[int] = set()
    page = 1
    while True:
        criteria = SearchCriteria(page_size=5, current_page=page)
        criteria.order_by("updated_at", "ASC").order_by("entity_id", "ASC")
        result = client.search_customers(criteria)
        seen |= {i["id"] for i in result["items"]}
        if page == 1:
            touch(server, result["items"][0]["id"])
        if page * 5 >= result["total_count"]:
            break
        page += 1
    assert seen != set(sim.customers)


def test_ties_within_one_second_page_through(client: MagentoClient, sim: MagentoSimulator) -> None:
    stamps = [c["updated_at"] for c in sim.customers.values()]
    tie = max(set(stamps), key=stamps.count)
    assert stamps.count(tie) >= 4  # the seed's bulk import
    pager = client.iter_customers_changed(None, page_size=3)
    seen = [(c["updated_at"], c["id"]) for c in pager]
    assert len(seen) == len(sim.customers) == len(set(seen))
    assert pager.pages == len(seen) // 3 + 1


def test_endless_writers_do_not_loop_forever(
    client: MagentoClient, sim: MagentoSimulator, server: RunningServer
) -> None:
    real_search = client.search_customers
    calls = 0

    def search_and_touch(criteria: SearchCriteria, **kw: Any) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        result = real_search(criteria, **kw)
        if result["items"]:
            touch(server, result["items"][0]["id"])  # every page pushes one row to the end
        return result

    client.search_customers = search_and_touch  # type: ignore[method-assign]
    read = sum(1 for _ in client.iter_customers_changed(None, page_size=10))
    assert calls < len(sim.customers)  # ends: each page consumes 10 and adds back 1
    assert read >= len(sim.customers)
    bounded = client.iter_customers_changed(None, page_size=2, max_pages=3)
    assert sum(1 for _ in bounded) == 6
    assert bounded.pages == 3


def test_next_run_starts_before_the_cursor(
    client: MagentoClient, sim: MagentoSimulator, server: RunningServer
) -> None:
    first = client.iter_customers_changed(None, page_size=50)
    list(first)
    assert first.cursor is not None
    ts, last_id = first.cursor

    # A write landing in the cursor's own second, on a lower id: strictly "before" the cursor.
    lower = next(c for c in sim.customers.values() if c["id"] < last_id and c["updated_at"] < ts)
    lower["updated_at"] = ts
    changed = touch(server, 3)

    exact = client.iter_customers_changed(first.cursor, page_size=50, overlap_seconds=0)
    assert [c["id"] for c in exact] == [3]  # the same-second write is invisible without overlap
    rerun = client.iter_customers_changed(first.cursor, page_size=50, overlap_seconds=2)
    found = [c["id"] for c in rerun]
    assert {lower["id"], 3} <= set(found)
    assert rerun.cursor == (changed["updated_at"], 3)

    idle = client.iter_customers_changed(rerun.cursor, page_size=50, overlap_seconds=2)
    assert [c["id"] for c in idle] == [3]  # only the overlap re-read
    assert idle.cursor == rerun.cursor  # an idle run never moves the cursor backwards


def test_a_server_ignoring_the_filter_is_an_error_not_a_loop() -> None:
    page = {"items": [{"id": i, "updated_at": "2024-01-01 00:00:00"} for i in (1, 2)]}
    pager = KeysetPager(
        lambda criteria: page,
        since=None,
        id_field="entity_id",
        id_key="id",
        page_size=2,
        overlap_seconds=0,
    )
    with pytest.raises(ConnectorError, match="did not advance"):
        list(pager)
