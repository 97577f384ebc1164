"""read_ahead: the next page is read while this one is written, and nothing else changes."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextvars import ContextVar

import pytest

from connectors.readahead import read_ahead

marker: ContextVar[str] = ContextVar("marker", default="unset")


def test_same_items_in_order_from_another_thread() -> None:
    threads: set[str] = set()

    def produce() -> Iterator[int]:
        for i in range(50):
            threads.add(threading.current_thread().name)
            yield i

    assert list(read_ahead(produce, depth=2)) == list(range(50))
    assert threads == {"read-ahead"}


def test_reads_at_most_depth_ahead_while_the_consumer_works() -> None:
    read: list[int] = []

    def produce() -> Iterator[int]:
        for i in range(10):
            read.append(i)
            yield i

    pages = read_ahead(produce, depth=1)
    assert next(pages) == 0
    deadline = time.monotonic() + 5
    while len(read) < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    # One page handed over, one waiting in the slot, one read and blocked on the slot.
    assert read == [0, 1, 2]
    assert list(pages) == list(range(1, 10))


def test_the_readers_error_is_raised_where_the_consumer_meets_it() -> None:
    def produce() -> Iterator[int]:
        yield 1
        yield 2
        raise ValueError("page 3 refused")

    pages = read_ahead(produce)
    assert [next(pages), next(pages)] == [1, 2]
    with pytest.raises(ValueError, match="page 3 refused"):
        next(pages)


def test_a_consumer_that_stops_early_stops_the_reader() -> None:
    read: list[int] = []

    def produce() -> Iterator[int]:
        for i in range(1000):
            read.append(i)
            yield i

    pages = read_ahead(produce, depth=1)
    assert next(pages) == 0
    pages.close()  # the caller's loop ended (an error of its own, a time limit)
    time.sleep(0.3)
    assert len(read) <= 3
    assert not [t for t in threading.enumerate() if t.name == "read-ahead"]


def test_the_callers_context_variables_reach_the_reader() -> None:
    seen = []

    def produce() -> Iterator[str]:
        seen.append(marker.get())
        yield "page"

    token = marker.set("deadline of this task")
    try:
        assert list(read_ahead(produce)) == ["page"]
    finally:
        marker.reset(token)
    assert seen == ["deadline of this task"]
