"""Request budgets per remote account, shared by every worker.

The remote APIs count requests in **fixed windows** (FreeAgent: 120 per minute and 3600
per hour, reset at the top of the minute/hour), so we count the same way: one counter per
window per account, keyed by the window's index ``int(now // seconds)``. Before a request
is sent, :meth:`acquire` takes ``cost`` from every window at once; if any window is
exhausted nothing is taken and the caller sleeps until that window resets.

* :class:`RedisBudget` — counters in Redis, shared by all processes and machines; the
  check-and-increment is one Lua script, so concurrent workers can never over-spend.
* :class:`LocalBudget` — the same in memory (thread-safe), for the embedded default.
* :func:`budget_for` — the defaults per service, with per-client overrides.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import redis

from connectors.deadline import check_wait
from connectors.errors import RateLimited, TransientError
from connectors.http import Budget

Window = tuple[int, float]  # (limit, seconds)
KEY_PREFIX = "contact-sync:budget:"

DEFAULT_WINDOWS: dict[str, list[Window]] = {
    # Per FreeAgent user of the integration (reference §3).
    "freeagent": [(120, 60), (3600, 3600)],
    # Token refreshes have their own, much smaller, allowance.
    "freeagent-refresh": [(15, 60)],
    # Emarsys: 1000 requests per minute per API user.
    "emarsys": [(1000, 60)],
    # Magento has no limit of its own unless the store configures one.
    "magento": [],
}
_OVERRIDE_SECONDS = {"per_second": 1, "per_minute": 60, "per_hour": 3600, "per_day": 86400}

# Check every window first, then take ``cost`` from all of them, so an exhausted window
# never leaves a partial (over-)count behind in the others.
_ACQUIRE_LUA = """
local cost = tonumber(ARGV[1])
local n = #KEYS
for i = 1, n do
  local used = tonumber(redis.call('GET', KEYS[i]) or '0')
  if used + cost > tonumber(ARGV[1 + i]) then
    return i
  end
end
for i = 1, n do
  redis.call('INCRBY', KEYS[i], cost)
  redis.call('EXPIRE', KEYS[i], tonumber(ARGV[1 + n + i]))
end
return 0
"""


def _normalise(windows: Iterable[Sequence[float]]) -> list[Window]:
    result: list[Window] = []
    for limit, seconds in windows:
        if int(limit) < 1 or float(seconds) <= 0:
            raise ValueError(f"bad rate-limit window ({limit}, {seconds})")
        result.append((int(limit), float(seconds)))
    return result


class _FixedWindowBudget:
    """The acquire loop shared by both backends; subclasses implement :meth:`_try_take`."""

    def __init__(
        self,
        windows: Iterable[Sequence[float]],
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        max_wait: float | None = None,
    ) -> None:
        self.windows = _normalise(windows)
        if not self.windows:
            raise ValueError("a budget needs at least one window")
        self.sleep = sleep
        self.clock = clock
        self.max_wait = max_wait

    def _try_take(self, cost: int, now: float) -> int | None:
        """Take ``cost`` from every window, or nothing; return the exhausted window's index."""
        raise NotImplementedError

    def acquire(self, cost: int = 1) -> float:
        """Block until ``cost`` requests may be sent; return the seconds waited.

        Raises :class:`RateLimited` instead of sleeping when the wait would exceed
        ``max_wait`` (so a task can be deferred rather than block a worker for an hour),
        and ``ValueError`` when ``cost`` exceeds a window's whole limit.
        """
        for limit, seconds in self.windows:
            if cost > limit:
                raise ValueError(f"cost {cost} exceeds the limit {limit} per {seconds:g}s")
        waited = 0.0
        while True:
            now = self.clock()
            exhausted = self._try_take(cost, now)
            if exhausted is None:
                return waited
            seconds = self.windows[exhausted][1]
            # A tiny epsilon so we wake up inside the next window, not at its very edge.
            wait = (math.floor(now / seconds) + 1) * seconds - now + 1e-3
            if self.max_wait is not None and waited + wait > self.max_wait:
                raise RateLimited(
                    f"rate-limit budget exhausted ({self.windows[exhausted][0]} per {seconds:g}s)",
                    retry_after=wait,
                )
            check_wait(wait, f"rate-limit budget ({self.windows[exhausted][0]} per {seconds:g}s)")
            self.sleep(wait)
            waited += wait


class LocalBudget(_FixedWindowBudget):
    """An in-process budget (thread-safe). Shared by the clients of one process only."""

    def __init__(
        self,
        windows: Iterable[Sequence[float]],
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        max_wait: float | None = None,
    ) -> None:
        super().__init__(windows, sleep=sleep, clock=clock, max_wait=max_wait)
        self._lock = threading.Lock()
        self._counts: dict[tuple[float, int], int] = {}

    def _try_take(self, cost: int, now: float) -> int | None:
        keys = [(seconds, int(now // seconds)) for _, seconds in self.windows]
        with self._lock:
            for i, ((limit, _), key) in enumerate(zip(self.windows, keys, strict=True)):
                if self._counts.get(key, 0) + cost > limit:
                    return i
            for key in keys:
                self._counts[key] = self._counts.get(key, 0) + cost
            # Forget windows that are over, so the dict stays small.
            live = set(keys)
            for key in [k for k in self._counts if k not in live]:
                del self._counts[key]
        return None

    def used(self, now: float | None = None) -> list[int]:
        """Requests counted in each current window (for tests and the dashboard)."""
        now = self.clock() if now is None else now
        with self._lock:
            return [self._counts.get((s, int(now // s)), 0) for _, s in self.windows]


_clients: dict[str, redis.Redis] = {}
_clients_lock = threading.Lock()


def _redis_client(url: str) -> redis.Redis:
    # One connection pool per URL and process; redis-py pools are thread-safe and
    # re-create their connections after a fork.
    with _clients_lock:
        client = _clients.get(url)
        if client is None:
            client = _clients[url] = redis.Redis.from_url(url)
        return client


class RedisBudget(_FixedWindowBudget):
    """A budget shared by every process that uses the same Redis and ``key``."""

    def __init__(
        self,
        redis_url: str,
        key: str,
        windows: Iterable[Sequence[float]],
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
        max_wait: float | None = None,
    ) -> None:
        super().__init__(windows, sleep=sleep, clock=clock, max_wait=max_wait)
        self.key = key
        self.redis = _redis_client(redis_url)
        self._script = self.redis.register_script(_ACQUIRE_LUA)

    def window_keys(self, now: float) -> list[str]:
        """The Redis counter keys of the windows that contain ``now``."""
        return [f"{self.key}:{seconds:g}:{int(now // seconds)}" for _, seconds in self.windows]

    def _try_take(self, cost: int, now: float) -> int | None:
        keys = self.window_keys(now)
        # Keep each counter a little past its window so clock skew between workers
        # cannot resurrect a fresh count for a window another worker is still in.
        ttls = [math.ceil(seconds) + 5 for _, seconds in self.windows]
        args: list[Any] = [cost, *(limit for limit, _ in self.windows), *ttls]
        try:
            result = int(self._script(keys=keys, args=args))
        except redis.RedisError as exc:
            raise TransientError(f"rate-limit budget unavailable ({type(exc).__name__})") from exc
        return None if result == 0 else result - 1

    def used(self, now: float | None = None) -> list[int]:
        """Requests counted in each current window."""
        now = self.clock() if now is None else now
        values = self.redis.mget(self.window_keys(now))
        return [int(v) if v is not None else 0 for v in values]


def windows_for(service: str, overrides: Mapping[str, Any] | None = None) -> list[Window]:
    """The windows for ``service``: its defaults with ``overrides`` applied.

    ``overrides`` may hold ``per_second``/``per_minute``/``per_hour``/``per_day`` (a falsy
    value removes that window) or ``windows`` (a list of ``[limit, seconds]`` replacing all).
    """
    by_seconds: dict[float, int] = {s: lim for lim, s in DEFAULT_WINDOWS.get(service, [])}
    overrides = overrides or {}
    if "windows" in overrides:
        by_seconds = {float(s): int(lim) for lim, s in overrides["windows"] or []}
    for name, seconds in _OVERRIDE_SECONDS.items():
        if name in overrides:
            value = overrides[name]
            if value:
                by_seconds[float(seconds)] = int(value)
            else:
                by_seconds.pop(float(seconds), None)
    return sorted(((lim, s) for s, lim in by_seconds.items()), key=lambda w: w[1])


_local: dict[tuple[str, str, tuple[Window, ...]], LocalBudget] = {}
_local_lock = threading.Lock()


def budget_for(
    service: str,
    account: str,
    *,
    redis_url: str | None,
    overrides: Mapping[str, Any] | None = None,
) -> Budget | None:
    """The budget for one remote account of ``service``, or ``None`` when unlimited.

    With ``redis_url`` the budget is shared by every worker; without it, by every client
    in this process (the same :class:`LocalBudget` is returned for the same account).
    """
    windows = windows_for(service, overrides)
    if not windows:
        return None
    if redis_url:
        return RedisBudget(redis_url, f"{KEY_PREFIX}{service}:{account}", windows)
    cache_key = (service, account, tuple(windows))
    with _local_lock:
        budget = _local.get(cache_key)
        if budget is None:
            budget = _local[cache_key] = LocalBudget(windows)
        return budget


def local_budgets_reset() -> None:
    """Forget every in-process budget (tests; a process that changed its limits)."""
    with _local_lock:
        _local.clear()


__all__ = [
    "DEFAULT_WINDOWS",
    "LocalBudget",
    "RedisBudget",
    "budget_for",
    "local_budgets_reset",
    "windows_for",
]
