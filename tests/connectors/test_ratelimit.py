"""connectors.ratelimit: fixed-window budgets, in process and shared through Redis."""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Iterator

import pytest
import redis

from connectors.errors import RateLimited
from connectors.ratelimit import LocalBudget, RedisBudget, budget_for, windows_for

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")


class FakeTime:
    """A clock that only moves when the budget sleeps."""

    def __init__(self, start: float = 1_000_020.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class StopWaiting(Exception):
    pass


def _refuse_to_sleep(seconds: float) -> None:
    raise StopWaiting(seconds)


# -- LocalBudget --------------------------------------------------------------------------


def test_local_budget_allows_up_to_limit_then_waits_for_next_window() -> None:
    t = FakeTime(start=60 * 1000 + 20.0)  # 20 s into a minute
    budget = LocalBudget([(3, 60)], sleep=t.sleep, clock=t.clock)
    assert [budget.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    waited = budget.acquire()
    # 40 s left in the minute (plus the small epsilon that lands us inside the next one).
    assert waited == pytest.approx(40.0, abs=0.01)
    assert t.sleeps == [pytest.approx(40.0, abs=0.01)]
    assert budget.used() == [1]


def test_local_budget_exhausted_window_does_not_consume_others() -> None:
    t = FakeTime()
    t.now = 3600 * 100 + 5.0
    budget = LocalBudget([(2, 60), (10, 3600)], sleep=_refuse_to_sleep, clock=t.clock)
    budget.acquire()
    budget.acquire()
    with pytest.raises(StopWaiting):
        budget.acquire()
    # The refused attempt left no trace in the hourly window.
    assert budget.used() == [2, 2]


def test_local_budget_hour_window_limits_across_minutes() -> None:
    t = FakeTime()
    t.now = 3600 * 10.0
    budget = LocalBudget([(5, 60), (6, 3600)], sleep=t.sleep, clock=t.clock)
    for _ in range(5):
        budget.acquire()
    budget.acquire()  # waits for the next minute
    assert t.now == pytest.approx(3600 * 10 + 60, abs=0.01)
    budget.acquire()  # the hour is spent: waits until the next hour
    assert t.now == pytest.approx(3600 * 11, abs=0.01)
    assert len(t.sleeps) == 2


def test_local_budget_max_wait_raises_rate_limited() -> None:
    t = FakeTime()
    t.now = 3600 * 10.0 + 10
    budget = LocalBudget([(1, 3600)], sleep=t.sleep, clock=t.clock, max_wait=60)
    budget.acquire()
    with pytest.raises(RateLimited) as info:
        budget.acquire()
    assert info.value.retry_after == pytest.approx(3590, abs=0.01)
    assert t.sleeps == []


def test_local_budget_cost_larger_than_limit_is_an_error() -> None:
    budget = LocalBudget([(3, 60)])
    with pytest.raises(ValueError, match="exceeds"):
        budget.acquire(cost=4)


def test_local_budget_is_thread_safe() -> None:
    t = FakeTime()
    t.now = 60 * 500.0
    budget = LocalBudget([(50, 60)], sleep=_refuse_to_sleep, clock=t.clock)
    granted: list[int] = []
    refused: list[int] = []

    def worker() -> None:
        for _ in range(10):
            try:
                budget.acquire()
                granted.append(1)
            except StopWaiting:
                refused.append(1)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(granted) == 50
    assert len(refused) == 30


# -- budget_for ------------------------------------------------------------------------------


def test_windows_for_defaults_and_overrides() -> None:
    assert windows_for("freeagent") == [(120, 60.0), (3600, 3600.0)]
    assert windows_for("freeagent-refresh") == [(15, 60.0)]
    assert windows_for("emarsys") == [(1000, 60.0)]
    assert windows_for("magento") == []
    assert windows_for("magento", {"per_minute": 600}) == [(600, 60.0)]
    assert windows_for("freeagent", {"per_minute": 100}) == [(100, 60.0), (3600, 3600.0)]
    assert windows_for("freeagent", {"per_hour": None}) == [(120, 60.0)]
    assert windows_for("emarsys", {"windows": [[10, 1]]}) == [(10, 1.0)]


def test_budget_for_magento_is_none_unless_configured() -> None:
    assert budget_for("magento", "shop", redis_url=None) is None
    budget = budget_for("magento", "shop", redis_url=None, overrides={"per_minute": 600})
    assert isinstance(budget, LocalBudget)
    assert budget.windows == [(600, 60.0)]


def test_budget_for_local_is_shared_per_account() -> None:
    a = budget_for("freeagent", "user-1", redis_url=None)
    b = budget_for("freeagent", "user-1", redis_url=None)
    c = budget_for("freeagent", "user-2", redis_url=None)
    assert a is b
    assert a is not c
    assert isinstance(a, LocalBudget)
    assert a.windows == [(120, 60.0), (3600, 3600.0)]


# -- RedisBudget (real Redis) -----------------------------------------------------------------


@pytest.fixture
def redis_key() -> Iterator[str]:
    key = f"test:budget:{uuid.uuid4().hex}"
    yield key
    client = redis.Redis.from_url(REDIS_URL)
    for name in client.scan_iter(f"{key}:*"):
        client.delete(name)
    client.close()


@pytest.mark.redis
def test_budget_for_with_redis_url_is_redis_budget() -> None:
    budget = budget_for("freeagent", "acct-42", redis_url=REDIS_URL)
    assert isinstance(budget, RedisBudget)
    assert budget.key == "contact-sync:budget:freeagent:acct-42"


@pytest.mark.redis
def test_redis_budget_counts_in_fixed_windows(redis_key: str) -> None:
    t = FakeTime()
    t.now = 60 * 2000 + 50.0
    budget = RedisBudget(REDIS_URL, redis_key, [(2, 60)], sleep=t.sleep, clock=t.clock)
    assert budget.acquire() == 0.0
    assert budget.acquire() == 0.0
    assert budget.acquire() == pytest.approx(10.0, abs=0.01)
    assert budget.used() == [1]
    # The counter key carries the window index and expires soon after the window.
    key = budget.window_keys(t.now)[0]
    assert key.endswith(f":60:{int(t.now // 60)}")
    ttl = redis.Redis.from_url(REDIS_URL).ttl(key)
    assert 0 < ttl <= 65


@pytest.mark.redis
def test_redis_budget_refused_attempt_is_not_counted(redis_key: str) -> None:
    t = FakeTime()
    t.now = 3600 * 300 + 1.0
    budget = RedisBudget(
        REDIS_URL, redis_key, [(2, 60), (100, 3600)], sleep=_refuse_to_sleep, clock=t.clock
    )
    budget.acquire()
    budget.acquire()
    for _ in range(3):
        with pytest.raises(StopWaiting):
            budget.acquire()
    assert budget.used() == [2, 2]


@pytest.mark.redis
def test_redis_budget_is_shared_between_instances(redis_key: str) -> None:
    t = FakeTime()
    t.now = 60 * 3000 + 1.0
    first = RedisBudget(REDIS_URL, redis_key, [(3, 60)], sleep=_refuse_to_sleep, clock=t.clock)
    second = RedisBudget(REDIS_URL, redis_key, [(3, 60)], sleep=_refuse_to_sleep, clock=t.clock)
    first.acquire(cost=2)
    second.acquire()
    with pytest.raises(StopWaiting):
        second.acquire()
    with pytest.raises(StopWaiting):
        first.acquire()


@pytest.mark.redis
def test_redis_budget_never_overspends_under_concurrency(redis_key: str) -> None:
    t = FakeTime()
    t.now = 60 * 4000 + 1.0
    granted: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        # Each worker has its own budget object, as separate processes would.
        budget = RedisBudget(
            REDIS_URL, redis_key, [(25, 60)], sleep=_refuse_to_sleep, clock=t.clock
        )
        for _ in range(10):
            try:
                budget.acquire()
            except StopWaiting:
                continue
            with lock:
                granted.append(1)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(granted) == 25


@pytest.mark.redis
def test_redis_budget_max_wait_raises(redis_key: str) -> None:
    t = FakeTime()
    t.now = 3600 * 50 + 100.0
    budget = RedisBudget(
        REDIS_URL, redis_key, [(1, 3600)], sleep=t.sleep, clock=t.clock, max_wait=30
    )
    budget.acquire()
    with pytest.raises(RateLimited) as info:
        budget.acquire()
    assert info.value.retry_after == pytest.approx(3500, abs=0.01)
