"""FreeAgent at its real limits: two Celery workers share the budget of one account.

The simulator enforces FreeAgent's 120 requests a minute and 3,600 an hour, time-scaled
(``time_scale`` 0.1: a minute lasts 6 s) and reset at the top of each (scaled) minute like
the real API; the client's budget has the same windows. Two real worker processes (as
``docker compose`` runs them) export a first sync through the broker, sharing the budget
in Redis. Measured from the simulator's request log: the useful requests (creates and
updates) per scaled minute while the sync runs, against the 120 ceiling, and the 429s
served. The hourly limit allows 120 a minute for 30 minutes; the figure is taken from
the sync's first 25 scaled minutes at most.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError

from connectors.simulators.serve import start_simulators
from profiles.models import Client, Profile, Run, RunStatus, RunTrigger
from profiles.services import runs
from profiles.services.demo import demo_config

PREFIX = "benchmark-"
CEILING = 120  # FreeAgent's requests per minute
MEASURED_MINUTES = 25  # of the first 30, where the hourly limit still allows the ceiling
WORKERS = 2


def freeagent_at_real_limits(*, customers: int, time_scale: float = 0.1) -> dict[str, Any]:
    """Run the measurement (see the module docstring); its figures."""
    if not settings.REDIS_URL:
        raise CommandError("--real-limits needs REDIS_URL: the workers share the budget there.")
    from profiles.services.config import config_load

    sims = start_simulators(
        magento_port=0,
        freeagent_port=0,
        emarsys_port=0,
        seed_customers=customers,
        time_scale=time_scale,
    )
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    workers: list[subprocess.Popen[bytes]] = []
    _cleanup()
    try:
        config = demo_config(sims.describe())
        clients = [c for c in config["clients"] if c["type"] in ("magento", "freeagent")]
        for client in clients:
            client["name"] = PREFIX + client["name"]
            if client["type"] == "freeagent":
                client["rate_limit"] = {
                    "windows": [[CEILING, 60 * time_scale], [3600, 3600 * time_scale]]
                }
        (profile,) = [p for p in config["profiles"] if p["type"] == "freeagent_contact_export"]
        profile.update(
            name=f"{PREFIX}real-limits",
            source=PREFIX + profile["source"],
            client=PREFIX + profile["client"],
            status=False,
        )
        config_load({"clients": clients, "profiles": [profile]})
        stored = Profile.objects.get(name=f"{PREFIX}real-limits")
        env = {**os.environ, "CELERY_TASK_DEFAULT_QUEUE": queue}
        for n in range(WORKERS):
            workers.append(_worker(f"bench{n}", queue, env))
        from syncapp.celery import app as celery_app

        celery_app.conf.task_default_queue = queue
        started = time.monotonic()
        run = runs.run_start(profile=stored, trigger=RunTrigger.BUTTON)
        limit = started + MEASURED_MINUTES * 60 * time_scale + 120
        while time.monotonic() < limit:
            run.refresh_from_db()
            if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
                break
            time.sleep(0.5)
        return _figures(sims.freeagent.app.request_log, run, time_scale)
    finally:
        for proc in workers:
            proc.terminate()
        for proc in workers:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
        sims.stop()
        _cleanup()


def worker_command(name: str, queue: str) -> list[str]:
    """A Celery worker of this project on ``queue``, one process (what the compose worker
    runs, without the chatter a short-lived worker does not need)."""
    return [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "syncapp",
        "worker",
        "-Q",
        queue,
        "-n",
        f"{name}@%h",
        "-c",
        "1",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
        "-l",
        "warning",
    ]


def _cleanup() -> None:
    Profile.objects.filter(name__startswith=PREFIX).delete()
    Client.objects.filter(name__startswith=PREFIX).delete()


def _worker(name: str, queue: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        worker_command(name, queue),
        cwd=settings.BASE_DIR,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _figures(log: list[dict[str, Any]], run: Run, time_scale: float) -> dict[str, Any]:
    useful = [
        e["time"]
        for e in log
        if e["method"] in ("POST", "PUT")
        and e["path"].startswith("/v2/contacts")
        and e["status"] < 400
    ]
    limited = sum(1 for e in log if e["status"] == 429)
    minute = 60 * time_scale
    # The limit's windows are the (scaled) minutes of the clock: count each one the sync
    # filled from start to end, leaving out its first and last (partly used) minutes.
    buckets: dict[int, int] = {}
    for moment in useful:
        buckets[int(moment // minute)] = buckets.get(int(moment // minute), 0) + 1
    whole = sorted(buckets)[1:-1][:MEASURED_MINUTES]
    minutes = len(whole)
    per_minute = sum(buckets[b] for b in whole) / minutes if minutes else 0.0
    run.refresh_from_db()
    from contacts.models import ContactEntity

    by_429 = (
        ContactEntity.objects.filter(profile=run.profile, status="failed")
        .filter(message__text__icontains="rate limit")
        .count()
    )
    return {
        "type": "freeagent_contact_export",
        "phase": "real limits, 2 workers",
        "status": run.status,
        "contacts": run.processed,
        "created": run.created,
        "updated": run.updated,
        "failed": run.failed,
        "scaled_minutes_measured": minutes,
        "useful_per_minute": round(per_minute, 1),
        "share_of_ceiling": round(per_minute / CEILING, 3),
        "responses_429": limited,
        "failed_by_429": by_429,
        "requests": len(log),
    }
