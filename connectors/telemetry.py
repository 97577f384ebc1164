"""What the API clients did, counted in this process and handed to a shared sink.

Every exchange of :class:`connectors.http.BaseClient` is counted here by service, method
and status class, with its latency in histogram buckets; 429 answers and waits for the
rate budget are counted too. The counts are plain integers added in memory (no I/O on
the request path) and handed to :data:`sink` — set by the app to add them to its shared
store, which every process of the deployment reads for ``/metrics`` — at most every
:data:`FLUSH_SECONDS` and whenever :func:`flush` is called (the end of a batch).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from collections.abc import Callable

# Latency buckets (seconds): loopback simulators answer in a millisecond, the real APIs in
# tens to hundreds, a slow one in seconds.
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
FLUSH_SECONDS = 5.0

Sink = Callable[[Counter[str]], None]
sink: Sink | None = None  # set by the app (see profiles.metrics.install)

logger = logging.getLogger(__name__)
_lock = threading.Lock()
_pending: Counter[str] = Counter()
_last_flush = time.monotonic()


def status_class(status: int | None, error: str | None = None) -> str:
    """``2xx`` … ``5xx``, or what failed before an answer (``timeout``, ``connection``)."""
    if status is None:
        return error or "error"
    return f"{status // 100}xx"


def request_counted(
    service: str, method: str, status: int | None, seconds: float, *, error: str | None = None
) -> None:
    """One exchange: its count, its latency bucket, and whether it was a 429."""
    klass = status_class(status, error)
    bucket = next((b for b in BUCKETS if seconds <= b), None)
    with _lock:
        _pending[f"http|{service}|{method}|{klass}"] += 1
        _pending[f"latency_sum_ms|{service}"] += int(seconds * 1000)
        _pending[f"latency_count|{service}"] += 1
        _pending[f"latency_le|{service}|{bucket if bucket is not None else '+Inf'}"] += 1
        if status == 429:
            _pending[f"rate_limited|{service}"] += 1
    _maybe_flush()


def budget_wait_counted(service: str, seconds: float) -> None:
    """The client waited for its rate budget before a request."""
    if seconds <= 0:
        return
    with _lock:
        _pending[f"budget_waits|{service}"] += 1
        _pending[f"budget_wait_ms|{service}"] += int(seconds * 1000)
    _maybe_flush()


def _maybe_flush() -> None:
    if time.monotonic() - _last_flush >= FLUSH_SECONDS:
        flush()


def flush() -> None:
    """Hand what was counted since the last flush to the sink (kept if the sink fails)."""
    global _last_flush
    with _lock:
        counts = Counter(_pending)
        _pending.clear()
        _last_flush = time.monotonic()
    if not counts or sink is None:
        if counts:  # no sink yet: keep them for the next flush
            with _lock:
                _pending.update(counts)
        return
    try:
        sink(counts)
    except Exception as exc:  # the store is away: kept and handed over next time
        logger.warning("API metrics not stored (%s); kept for the next flush", exc)
        with _lock:
            _pending.update(counts)
