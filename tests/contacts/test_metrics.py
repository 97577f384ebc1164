"""``/metrics`` after a real export against the simulators, read back with
prometheus_client's own parser; who may scrape it."""

from __future__ import annotations

import pytest
import responses
from django.core.cache import cache
from django.test import Client as HttpClient
from prometheus_client.parser import text_string_to_metric_families

from connectors import telemetry
from connectors.errors import RateLimited
from connectors.http import BaseClient
from connectors.ratelimit import LocalBudget
from contacts.models import ContactEntity
from profiles.models import QueueStatus, RunTrigger
from profiles.services import runs

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_counts():
    telemetry.flush()
    cache.clear()
    yield
    telemetry.flush()
    cache.clear()


def scrape(**headers) -> dict[str, list]:
    answer = HttpClient().get("/metrics", **headers)
    assert answer.status_code == 200, answer.content
    assert answer["Content-Type"].startswith("text/plain; version=")
    families = text_string_to_metric_families(answer.content.decode())
    return {family.name: family.samples for family in families}


def value(samples, name, **labels) -> float:
    matching = [s.value for s in samples if s.name == name and labels.items() <= s.labels.items()]
    assert matching, f"no {name} {labels} in {samples}"
    return sum(matching)


def api_requests(m, **labels) -> float:
    return value(m["contactsync_api_requests"], "contactsync_api_requests_total", **labels)


def test_an_export_shows_in_every_family(world):
    for _ in range(3):
        world.add_customer()
    world.add_customer(email="broken@@example.com")
    profile = world.profile()
    run = runs.run_start(profile=profile, trigger=RunTrigger.CLI, foreground=True)
    assert (run.created, run.failed) == (3, 1)
    ContactEntity.objects.filter(profile=profile, queue_status=QueueStatus.FAILED).update(
        queue_status=QueueStatus.RETRY
    )
    world.add_customer()
    runs.run_start(profile=profile, trigger=RunTrigger.CLI, foreground=True, dry_run=True)

    m = scrape()
    assert (
        value(
            m["contactsync_runs"],
            "contactsync_runs_total",
            profile=profile.name,
            trigger="cli",
            status="partial",
            dry_run="false",
        )
        == 1
    )
    assert value(m["contactsync_runs"], "contactsync_runs_total", dry_run="true") == 1
    posts = api_requests(m, service="freeagent", method="POST", status_class="2xx")
    assert posts == 3 == len(world.fa_requests("POST"))
    assert api_requests(m, service="magento") >= 2
    latency = m["contactsync_api_request_duration_seconds"]
    count = value(latency, "contactsync_api_request_duration_seconds_count", service="freeagent")
    assert count >= posts
    inf = value(
        latency, "contactsync_api_request_duration_seconds_bucket", service="freeagent", le="+Inf"
    )
    assert inf == count
    created = value(
        m["contactsync_contacts"],
        "contactsync_contacts",
        profile=profile.name,
        status="created",
        queue_status="complete",
    )
    assert created == 3
    assert (
        value(
            m["contactsync_failsafe_queue_depth"],
            "contactsync_failsafe_queue_depth",
            profile=profile.name,
        )
        == 1
    )
    # The dry run left the new customer uncollected: nothing pending, so no age.
    assert (
        value(
            m["contactsync_oldest_pending_contact_age_seconds"],
            "contactsync_oldest_pending_contact_age_seconds",
            profile=profile.name,
        )
        == 0
    )
    assert "contactsync_last_successful_run_timestamp_seconds" in m
    durations = m["contactsync_run_duration_seconds"]
    assert value(durations, "contactsync_run_duration_seconds_count", profile=profile.name) == 2


@responses.activate
def test_429s_and_budget_waits_are_counted():
    responses.get("http://api.test/v1/x", status=429, headers={"Retry-After": "1"})
    responses.get("http://api.test/v1/y", json={})
    now = [999_980.0]  # 20 s into a minute (999,960 = 16,666 × 60) of a simulated clock

    def sleep(seconds: float) -> None:
        now[0] += seconds

    budget = LocalBudget([(1, 60)], sleep=sleep, clock=lambda: now[0])
    client = BaseClient("http://api.test/v1", budget=budget)
    client.service = "emarsys"
    with pytest.raises(RateLimited):
        client._request("GET", "x")
    client._request("GET", "y")  # waits 40 s for the budget's next minute
    m = scrape()
    assert (
        value(
            m["contactsync_api_rate_limited"],
            "contactsync_api_rate_limited_total",
            service="emarsys",
        )
        == 1
    )
    assert api_requests(m, service="emarsys", status_class="4xx") == 1
    assert (
        value(
            m["contactsync_rate_budget_waits"],
            "contactsync_rate_budget_waits_total",
            service="emarsys",
        )
        == 1
    )
    seconds = value(
        m["contactsync_rate_budget_wait_seconds"],
        "contactsync_rate_budget_wait_seconds_total",
        service="emarsys",
    )
    assert 39 < seconds < 41


def test_only_an_allowed_scraper_gets_the_metrics(settings):
    outsider = HttpClient(REMOTE_ADDR="10.1.2.3")
    refused = outsider.get("/metrics")
    assert refused.status_code == 403
    assert b"METRICS_TOKEN" in refused.content
    assert b"contactsync_" not in refused.content
    settings.METRICS_TOKEN = "scrape-token-123"
    assert outsider.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert outsider.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token-123").status_code == 200
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOW = "10.1.0.0/16"
    assert outsider.get("/metrics").status_code == 200
    # Before the host check: a scraper asks for the service's own name.
    assert outsider.get("/metrics", HTTP_HOST="web:8000").status_code == 200
    assert HttpClient().get("/metrics").status_code == 403  # loopback is no longer listed


def test_counts_survive_a_store_that_is_away(monkeypatch):
    def away(counts):
        raise ConnectionError("redis is restarting")

    monkeypatch.setattr(telemetry, "sink", away)
    telemetry.request_counted("freeagent", "GET", 200, 0.01)
    telemetry.flush()
    monkeypatch.undo()
    telemetry.flush()  # the real sink now: the kept count arrives
    m = scrape()
    assert api_requests(m, service="freeagent", method="GET") == 1


def test_a_request_to_the_simulator_is_counted(world):
    """Counted in the client path itself (not only through the pipeline)."""
    from profiles.services.connections import freeagent_client

    freeagent_client(world.books).get_company()
    m = scrape()
    assert api_requests(m, service="freeagent", method="GET", status_class="2xx") == 1


@pytest.mark.redis
def test_processes_add_up_in_redis():
    """Production's store: two processes' flushes of the same name add up (Redis)."""
    import os
    from collections import Counter

    from django.core.cache.backends.redis import RedisCache

    from profiles import metrics

    store = RedisCache(os.environ["REDIS_URL"], {"KEY_PREFIX": f"metrics-test-{os.getpid()}"})
    try:
        metrics.store_counts(Counter({"http|freeagent|POST|2xx": 2}), store)
        metrics.store_counts(Counter({"http|freeagent|POST|2xx": 3, "rate_limited|x": 1}), store)
        assert metrics.stored_counts(store) == {"http|freeagent|POST|2xx": 5, "rate_limited|x": 1}
    finally:
        names = ["http|freeagent|POST|2xx", "rate_limited|x"]
        store.delete_many([metrics.NAMES_KEY] + [metrics.KEY_PREFIX + n for n in names])
