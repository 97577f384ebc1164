"""What one export costs: seconds, database queries (collection and per batch), the
requests each simulator served, and how that compares with the bare-HTTP floor."""

from __future__ import annotations

import math
import resource
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import requests
from django.db import connection

from profiles.models import Profile, Run


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@dataclass
class QueryLog:
    """Every query's moment (wall clock), to split collection from the batches."""

    moments: list[float] = field(default_factory=list)

    def before(self, moment: datetime | None) -> int:
        if moment is None:
            return len(self.moments)
        edge = moment.timestamp()
        return sum(1 for m in self.moments if m <= edge)


@contextmanager
def queries_counted() -> Iterator[QueryLog]:
    log = QueryLog()

    def wrapper(
        execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        log.moments.append(time.time())
        return execute(sql, params, many, context)

    with connection.execute_wrapper(wrapper):
        yield log


class RequestLog:
    """The requests the simulators served since :meth:`mark` (method and route), read
    from their ``/_sim/requests`` log over HTTP (they may run in another process)."""

    NAMES = ("magento", "freeagent", "emarsys")

    def __init__(self, described: dict[str, Any]) -> None:
        self.urls = {name: _origin(described[name]["base_url"]) for name in self.NAMES}
        self.session = requests.Session()
        self.start: dict[str, int] = {}

    def _get(self, name: str, **params: Any) -> Any:
        answer = self.session.get(f"{self.urls[name]}/_sim/requests", params=params, timeout=60)
        answer.raise_for_status()
        return answer.json()

    def mark(self) -> None:
        self.start = {name: int(self._get(name, count=1)["count"]) for name in self.NAMES}

    def since_mark(self) -> dict[str, Counter[str]]:
        served: dict[str, Counter[str]] = {}
        for name in self.NAMES:
            # Counted by the simulator: the log itself (a request a contact) would be the
            # biggest thing in this process's memory, and its peak RSS is a figure.
            served[name] = Counter(self._get(name, since=self.start.get(name, 0), summary=1))
        return served


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


TARGET = {"freeagent_contact_export": "freeagent", "emarsys_contact_sync": "emarsys"}
WRITES = ("POST", "PUT", "DELETE", "PATCH")


def figures(
    profile: Profile,
    phase: str,
    run: Run,
    seconds: float,
    queries: QueryLog,
    served: dict[str, Counter[str]],
) -> dict[str, Any]:
    """One row of the benchmark's table."""
    run.refresh_from_db()
    exported = run.created + run.updated
    batches = max(1, math.ceil(run.processed / max(1, profile.process_batch_size)))
    collection_queries = queries.before(run.collection_finished_at)
    target = served.get(TARGET.get(profile.type, ""), Counter())
    target_requests = sum(target.values())
    target_writes = sum(n for kind, n in target.items() if kind.split(" ")[0] in WRITES)
    return {
        "type": profile.type,
        "phase": phase,
        "status": run.status,
        "contacts": run.processed,
        "seconds": round(seconds, 3),
        "per_second": round(run.processed / seconds, 1) if seconds else 0.0,
        "created": run.created,
        "updated": run.updated,
        "unchanged": run.unchanged,
        "failed": run.failed,
        "batch_size": profile.process_batch_size,
        "batches": batches if run.processed else 0,
        "queries": len(queries.moments),
        "collection_queries": collection_queries,
        "queries_per_batch": round((len(queries.moments) - collection_queries) / batches, 1)
        if run.processed
        else 0.0,
        "magento_requests": sum(served.get("magento", Counter()).values()),
        "target_requests": target_requests,
        "target_writes": target_writes,
        "target_requests_by_kind": dict(target.most_common()),
        "requests_per_exported_contact": round(target_requests / exported, 4) if exported else None,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
