"""Chaos: both profile types on PostgreSQL + Redis with two real Celery workers while the
remote systems misbehave — 10 % 5xx, 3 % connection resets, 10 % of successful answers
lost after the work was done, a burst of 429s — one worker is SIGKILLed in the middle of a
batch and a soft time limit strikes inside one (a latency spike longer than the limit).
Afterwards: every run closed, no remote contact twice, nobody lost.

``CHAOS_CUSTOMERS`` (default 500) sets the size; run by hand with 5,000 for the large run.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections import Counter
from datetime import timedelta

import pytest
import requests

from connectors.simulators.serve import start_simulators
from contacts.models import ContactEntity
from profiles.models import Profile, QueueStatus, Run, RunEvent, RunStatus, RunTrigger
from profiles.services import runs
from profiles.tasks import run_batches_task
from tests.profiles.test_workers import broker, start_worker, trace_dir  # noqa: F401
from tests.simclients import emarsys_client_for, freeagent_client_for, magento_client_for

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

CUSTOMERS = int(os.environ.get("CHAOS_CUSTOMERS", "500"))
FAULTS = {"error_rate": 0.10, "reset_rate": 0.03, "drop_rate": 0.10}
SOFT_LIMIT, HARD_LIMIT = 8, 14
UNLIMITED = {"per_minute": 1_000_000, "per_hour": 10_000_000}
SCALE = max(1.0, CUSTOMERS / 500)  # waits grow with the size of a run by hand


def _seconds(base: float) -> float:
    return base * SCALE


@pytest.fixture
def chaos_world():
    # Rate-limit windows 50 times shorter: the API limits stay, the test stays short.
    sims = start_simulators(
        magento_port=0, freeagent_port=0, emarsys_port=0, seed_customers=0, time_scale=0.02
    )
    try:
        yield sims
    finally:
        sims.stop()


def _faults(sims, **values):
    for server in (sims.freeagent, sims.emarsys):
        requests.post(f"{server.url}/_sim/faults", json=values, timeout=5).raise_for_status()


def _holds_claims(worker) -> bool:
    """True when a process of ``worker`` (its process group) has contacts claimed."""
    for claim in (
        ContactEntity.objects.filter(queue_status=QueueStatus.PROCESSING)
        .values_list("claimed_by", flat=True)
        .distinct()
    ):
        pid = claim.rpartition(":")[2]
        with contextlib.suppress(ProcessLookupError, ValueError):
            if os.getpgid(int(pid)) == worker.pid:
                return True
    return False


def _open_runs():
    return Run.objects.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING])


def test_chaos_never_duplicates_or_loses_a_contact(
    chaos_world,
    start_worker,  # noqa: F811
    monkeypatch,
):
    sims = chaos_world
    began = time.monotonic()
    for n in range(CUSTOMERS):
        response = requests.post(
            f"{sims.magento.url}/_sim/customers",
            json={"email": f"chaos{n}@example.com", "firstname": "Cha", "lastname": f"Os{n}"},
            timeout=10,
        )
        response.raise_for_status()
        if n % 5 == 0:
            requests.post(
                f"{sims.magento.url}/_sim/subscribers",
                json={
                    "subscriber_email": f"chaos{n}@example.com",
                    "subscriber_status": 1,
                    "customer_id": response.json()["id"],
                    "store_id": 1,
                },
                timeout=10,
            ).raise_for_status()
    info = sims.describe()
    store = magento_client_for(info, name="Store", subscribers={"source": "rest"})
    books = freeagent_client_for(info, name="Books")
    books.settings = {"rate_limit": UNLIMITED}
    books.save()
    crm = emarsys_client_for(info, name="CRM")
    crm.settings = {"rate_limit": UNLIMITED}
    crm.save()
    fa = Profile.objects.create(
        name="FA",
        type="freeagent_contact_export",
        source_client=store,
        client=books,
        process_batch_size=25,
        enable_retry_on_failure=True,
        retry_max_attempts=10,
    )
    em = Profile.objects.create(
        name="EM",
        type="emarsys_contact_sync",
        source_client=store,
        client=crm,
        process_batch_size=50,
        enable_retry_on_failure=True,
        retry_max_attempts=10,
        settings={"export_types": "both"},
    )
    # Short time limits, the same in every process as in production (Celery applies the
    # limits of whoever queued a task): a killed worker's locks expire half a minute after
    # its hard limit, and the latency spike below is longer than the soft limit.
    for name, value in (("soft_time_limit", SOFT_LIMIT), ("time_limit", HARD_LIMIT)):
        monkeypatch.setattr(run_batches_task, name, value)
    monkeypatch.setattr(run_batches_task, "_exec_options", None)
    limits = {
        "CELERY_TASK_SOFT_TIME_LIMIT": str(SOFT_LIMIT),
        "CELERY_TASK_TIME_LIMIT": str(HARD_LIMIT),
    }
    alpha = start_worker("alpha", **limits)
    start_worker("beta", **limits)

    _faults(sims, burst_429=30, retry_after=0.2, **FAULTS)
    runs.run_start(profile=fa, trigger=RunTrigger.BUTTON)
    runs.run_start(profile=em, trigger=RunTrigger.BUTTON)
    beat = Beat([fa, em])

    # Alpha dies in the middle of a batch (kill -9 of the whole worker, holding claims);
    # gamma takes its place later.
    beat.until(
        lambda: (
            ContactEntity.objects.filter(profile=fa, queue_status=QueueStatus.COMPLETE).count()
            > CUSTOMERS // 5
            and _holds_claims(alpha)
        ),
        timeout=_seconds(180),
        what="a fifth of the FreeAgent contacts sent and alpha inside a batch",
    )
    os.killpg(alpha.pid, signal.SIGKILL)
    alpha.wait()
    # A latency spike longer than the soft limit: it strikes inside a request of a batch.
    _faults(sims, latency_ms=int((SOFT_LIMIT + 2) * 1000))
    beat.until(
        lambda: RunEvent.objects.filter(
            run__profile__in=[fa, em], message__contains="the batch reached its time limit"
        ).exists(),
        timeout=_seconds(120),
        what="the soft time limit to strike inside a batch",
    )
    _faults(sims, latency_ms=0)
    start_worker("gamma", **limits)

    # The storm goes on until every contact is sent; the schedule keeps starting runs.
    beat.until(beat.all_done, timeout=_seconds(300), what="every contact to be sent")
    beat.until(lambda: not _open_runs().exists(), timeout=_seconds(120), what="every run to close")
    _faults(sims, burst_429=0, error_rate=0, reset_rate=0, drop_rate=0)

    # The storm really happened: every kind of fault was served, and the reaper took back
    # the dead worker's claims.
    served = Counter()
    for server in (sims.freeagent, sims.emarsys):
        faults = Counter(requests.get(f"{server.url}/_sim/faults", timeout=5).json()["served"])
        assert faults["429"] == 30, (server.url, faults)
        assert faults["5xx"] + faults["reset"] + faults["dropped"] > 0, (server.url, faults)
        served += faults
    assert all(served[kind] > 0 for kind in ("5xx", "reset", "dropped")), served
    assert beat.reclaimed > 0, "the killed worker's claims were taken back"

    fa_contacts = _freeagent_contacts(sims, info)
    emails = Counter(c["email"].lower() for c in fa_contacts)
    assert not [e for e, n in emails.items() if n > 1], "no FreeAgent contact twice"
    em_contacts = requests.get(f"{sims.emarsys.url}/_sim/contacts", timeout=30).json()
    em_emails = Counter(c["fields"]["3"].lower() for c in em_contacts)
    assert not [e for e, n in em_emails.items() if n > 1], "no Emarsys contact twice"
    for profile, remote in ((fa, emails), (em, em_emails)):
        entities = ContactEntity.objects.filter(profile=profile)
        assert entities.count() == CUSTOMERS
        stuck = entities.exclude(queue_status=QueueStatus.COMPLETE)
        assert not stuck.exists(), [(e.person_key, e.queue_status, e.message) for e in stuck[:5]]
        assert sorted(remote) == sorted(f"chaos{n}@example.com" for n in range(CUSTOMERS))
        linked = set(entities.values_list("remote_id", flat=True))
        assert "" not in linked
        assert len(linked) == CUSTOMERS
    # The figures, for a run by hand (pytest -s).
    closed = Run.objects.filter(profile__in=[fa, em])
    print(
        f"\nchaos: {CUSTOMERS} people per profile type in {time.monotonic() - began:.0f} s; "
        f"faults served {dict(served)}; claims reclaimed {beat.reclaimed}; "
        f"runs {closed.count()} ({dict(Counter(closed.values_list('status', flat=True)))}); "
        f"duplicates 0, lost 0"
    )


class Beat:
    """What beat does while the test waits: the stale-claim reaper every couple of seconds,
    and a run of each profile whenever it has work and none is active."""

    def __init__(self, profiles):
        self.profiles = profiles
        self.reclaimed = 0

    def tick(self):
        self.reclaimed += runs.entities_reclaim_stale(older_than=timedelta(seconds=25))
        for profile in self.profiles:
            waiting = ContactEntity.objects.filter(
                profile=profile, queue_status__in=[QueueStatus.PENDING, QueueStatus.RETRY]
            )
            if waiting.exists() and not _open_runs().filter(profile=profile).exists():
                waiting.filter(queue_status=QueueStatus.RETRY).update(
                    queue_status=QueueStatus.PENDING, next_attempt_at=None
                )
                with contextlib.suppress(runs.RunAlreadyActive):
                    runs.run_start(profile=profile, trigger=RunTrigger.SCHEDULE)

    def all_done(self):
        return (
            not ContactEntity.objects.filter(profile__in=self.profiles)
            .exclude(queue_status=QueueStatus.COMPLETE)
            .exists()
        )

    def until(self, predicate, *, timeout, what, quiet=False):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if predicate():
                return
            self.tick()
            time.sleep(1)
        if not quiet:
            waiting = Counter(
                (e.profile.name, e.queue_status, str(e.message)[:160])
                for e in ContactEntity.objects.filter(profile__in=self.profiles)
                .exclude(queue_status=QueueStatus.COMPLETE)
                .select_related("profile")
            )
            open_runs = [
                (r.pk, r.profile.name, r.status, r.trigger, str(r.events.order_by("-pk").first()))
                for r in _open_runs().select_related("profile")
            ]
            raise AssertionError(
                f"timed out after {timeout}s waiting for {what}; not sent: "
                f"{waiting.most_common(8)}; open runs: {open_runs}"
            )


def _freeagent_contacts(sims, info):
    token = info["freeagent"]["access_token"]
    url = f"{sims.freeagent.url}/v2/contacts?view=all&per_page=100"
    contacts = []
    while url:
        response = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
        response.raise_for_status()
        contacts += response.json()["contacts"]
        link = response.headers.get("Link", "")
        url = next(
            (part.split(";")[0].strip("<> ") for part in link.split(",") if 'rel="next"' in part),
            "",
        )
    return contacts
