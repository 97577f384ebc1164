"""``/metrics``: the Prometheus text format, for a team to graph and alert on.

Two sources, both true across every process of a deployment:

* the database, read at each scrape: runs by profile, trigger and status; contacts by
  profile, status and queue status; the failsafe (retry) queue's depth; the oldest pending
  contact's age; the last successful run of each profile; run durations;
* the API clients' counts (:mod:`connectors.telemetry`), which each process adds to
  Django's cache (Redis in production, a folder on one machine) every few seconds:
  requests by service, method and status class, 429 answers, waits for the rate budget
  and request latency.

Answered before the host check and the https redirect (a scraper asks for ``web:8000``)
and only to a scraper that is allowed: ``Authorization: Bearer $METRICS_TOKEN`` when
``METRICS_TOKEN`` is set, or a client address in ``METRICS_ALLOW`` (addresses or networks,
comma-separated; default loopback only). Anyone else gets 403.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import Count, Max, Min
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from connectors import telemetry

PATH = "/metrics"
KEY_PREFIX = "cs-metrics:"
NAMES_KEY = KEY_PREFIX + "names"
RUN_DURATION_BUCKETS = (1.0, 5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 4 * 3600.0)
RUNS_FOR_DURATIONS = 5000  # the latest finished runs the duration histogram covers


# -- the shared store of the API counts ---------------------------------------------------


def store_counts(counts: Counter[str], store: Any = None) -> None:
    """Add one process's counts to the shared store (the telemetry sink): an atomic
    increment a name on Redis."""
    store = store or cache
    for name, n in counts.items():
        key = KEY_PREFIX + name
        store.add(key, 0, timeout=None)
        store.incr(key, n)
    names = set(store.get(NAMES_KEY) or [])
    if not set(counts) <= names:
        store.set(NAMES_KEY, sorted(names | set(counts)), timeout=None)


def stored_counts(store: Any = None) -> dict[str, int]:
    store = store or cache
    names = list(store.get(NAMES_KEY) or [])
    values = store.get_many([KEY_PREFIX + n for n in names])
    return {n: int(values.get(KEY_PREFIX + n) or 0) for n in names}


def install() -> None:
    """Point the API clients' counts at the shared store (at app start)."""
    telemetry.sink = store_counts


# -- the collector ----------------------------------------------------------------------------


class ContactSyncCollector:
    """Every family, read when scraped."""

    def collect(self) -> Iterator[Metric]:
        telemetry.flush()  # this process's own latest counts too
        yield from _api_families(stored_counts())
        yield from _run_families()
        yield from _contact_families()

    def describe(self) -> list[Metric]:
        return []  # read at scrape time: nothing to declare up front


def _api_families(counts: dict[str, int]) -> Iterator[Metric]:
    requests = CounterMetricFamily(
        "contactsync_api_requests",
        "Requests to the remote APIs by service, method and status class.",
        labels=["service", "method", "status_class"],
    )
    limited = CounterMetricFamily(
        "contactsync_api_rate_limited", "429 answers by service.", labels=["service"]
    )
    waits = CounterMetricFamily(
        "contactsync_rate_budget_waits",
        "Requests that waited for the client's rate budget.",
        labels=["service"],
    )
    waited = CounterMetricFamily(
        "contactsync_rate_budget_wait_seconds",
        "Seconds spent waiting for the rate budget.",
        labels=["service"],
    )
    latency: dict[str, dict[str, int]] = defaultdict(dict)
    for name, n in sorted(counts.items()):
        kind, *parts = name.split("|")
        if kind == "http" and len(parts) == 3:
            requests.add_metric(parts, n)
        elif kind == "rate_limited":
            limited.add_metric(parts, n)
        elif kind == "budget_waits":
            waits.add_metric(parts, n)
        elif kind == "budget_wait_ms":
            waited.add_metric(parts, n / 1000)
        elif kind in ("latency_sum_ms", "latency_count"):
            latency[parts[0]][kind] = n
        elif kind == "latency_le" and len(parts) == 2:
            latency[parts[0]][f"le:{parts[1]}"] = n
    yield from (requests, limited, waits, waited)
    histogram = HistogramMetricFamily(
        "contactsync_api_request_duration_seconds",
        "Latency of the remote APIs' answers.",
        labels=["service"],
    )
    for service, values in sorted(latency.items()):
        cumulative, buckets = 0, []
        for bound in telemetry.BUCKETS:
            cumulative += values.get(f"le:{bound}", 0)
            buckets.append((_le(bound), cumulative))
        buckets.append(("+Inf", values.get("latency_count", cumulative)))
        histogram.add_metric([service], buckets, sum_value=values.get("latency_sum_ms", 0) / 1000)
    yield histogram


def _le(bound: float) -> str:
    return repr(float(bound))


def _run_families() -> Iterator[Metric]:
    from profiles.models import Run, RunStatus

    runs = CounterMetricFamily(
        "contactsync_runs",
        "Runs by profile, trigger and status (dry runs included, labelled).",
        labels=["profile", "trigger", "status", "dry_run"],
    )
    for row in Run.objects.values("profile__name", "trigger", "status", "dry_run").annotate(
        n=Count("pk")
    ):
        runs.add_metric(
            [row["profile__name"], row["trigger"], row["status"], str(row["dry_run"]).lower()],
            row["n"],
        )
    yield runs
    last = GaugeMetricFamily(
        "contactsync_last_successful_run_timestamp_seconds",
        "When each profile's last successful (real) run finished.",
        labels=["profile"],
    )
    for row in (
        Run.objects.filter(status=RunStatus.SUCCESS, dry_run=False, finished_at__isnull=False)
        .values("profile__name")
        .annotate(at=Max("finished_at"))
    ):
        last.add_metric([row["profile__name"]], row["at"].timestamp())
    yield last
    durations = HistogramMetricFamily(
        "contactsync_run_duration_seconds",
        f"Duration of the latest {RUNS_FOR_DURATIONS} finished runs.",
        labels=["profile"],
    )
    per: dict[str, list[float]] = defaultdict(list)
    finished = (
        Run.objects.filter(started_at__isnull=False, finished_at__isnull=False)
        .order_by("-finished_at")
        .values_list("profile__name", "started_at", "finished_at")[:RUNS_FOR_DURATIONS]
    )
    for name, started, ended in finished:
        if started is not None and ended is not None:
            per[name].append(max(0.0, (ended - started).total_seconds()))
    for name, values in sorted(per.items()):
        buckets = [(_le(b), sum(1 for v in values if v <= b)) for b in RUN_DURATION_BUCKETS]
        buckets.append(("+Inf", len(values)))
        durations.add_metric([name], buckets, sum_value=sum(values))
    yield durations


def _contact_families() -> Iterator[Metric]:
    from profiles import registry
    from profiles.models import Profile, QueueStatus

    contacts = GaugeMetricFamily(
        "contactsync_contacts",
        "Contacts by profile, sync status and queue status.",
        labels=["profile", "status", "queue_status"],
    )
    failsafe = GaugeMetricFamily(
        "contactsync_failsafe_queue_depth",
        "Contacts waiting for an automatic retry.",
        labels=["profile"],
    )
    oldest = GaugeMetricFamily(
        "contactsync_oldest_pending_contact_age_seconds",
        "Age of the oldest contact waiting to be exported (0 when none waits).",
        labels=["profile"],
    )
    now = timezone.now()
    for profile in Profile.objects.order_by("name"):
        try:
            entities = registry.get(profile.type).entities(profile)
        except registry.UnknownProfileType:
            continue
        retrying = 0
        for row in entities.values("status", "queue_status").annotate(n=Count("pk")):
            contacts.add_metric([profile.name, row["status"], row["queue_status"]], row["n"])
            if row["queue_status"] == QueueStatus.RETRY:
                retrying += row["n"]
        failsafe.add_metric([profile.name], retrying)
        since = entities.filter(queue_status=QueueStatus.PENDING).aggregate(at=Min("collected_at"))[
            "at"
        ]
        oldest.add_metric([profile.name], (now - since).total_seconds() if since else 0.0)
    yield from (contacts, failsafe, oldest)


# -- who may scrape -------------------------------------------------------------------------


def scrape_allowed(request: HttpRequest) -> bool:
    token = str(getattr(settings, "METRICS_TOKEN", "") or "")
    given = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    try:
        address = ipaddress.ip_address(str(request.META.get("REMOTE_ADDR") or ""))
    except ValueError:
        return False
    return any(address in network for network in allowed_networks())


def allowed_networks() -> list[Any]:
    raw = str(getattr(settings, "METRICS_ALLOW", "127.0.0.1,::1") or "")
    return [ipaddress.ip_network(part.strip(), strict=False) for part in raw.split(",") if part]


def metrics_response(request: HttpRequest) -> HttpResponse:
    if not scrape_allowed(request):
        return HttpResponse(
            "Forbidden: send Authorization: Bearer <METRICS_TOKEN>, or scrape from an "
            "address in METRICS_ALLOW.\n",
            status=403,
            content_type="text/plain; charset=utf-8",
        )
    registry = CollectorRegistry(auto_describe=False)
    registry.register(ContactSyncCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


class MetricsMiddleware:
    """``GET /metrics`` before the host check and the https redirect (see the module)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path == PATH and request.method in ("GET", "HEAD"):
            return metrics_response(request)
        return self.get_response(request)
