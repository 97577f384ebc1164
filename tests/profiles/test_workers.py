"""Real Celery worker processes (Redis broker, PostgreSQL) running one profile at once."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from django.db import connection

from contacts.models import ContactEntity
from profiles.benchmark.real_limits import worker_command
from profiles.models import QueueStatus, Run, RunStatus, RunTrigger
from profiles.services import runs
from syncapp.celery import app as celery_app
from tests.factories import ContactEntityFactory, ProfileFactory

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.redis,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Publish to the real Redis broker on a queue of this test's own."""
    queue = f"test-{uuid.uuid4().hex[:8]}"
    conf = celery_app.conf
    saved = {k: conf.get(k) for k in ("task_always_eager", "broker_url", "task_default_queue")}
    conf.update(
        task_always_eager=False, broker_url=os.environ["REDIS_URL"], task_default_queue=queue
    )
    # Tasks are published only after the transaction commits; tests here run in autocommit.
    monkeypatch.setattr("django.db.transaction.on_commit", lambda fn, *a, **k: fn())
    try:
        yield queue
        with celery_app.connection_for_write() as conn:
            conn.default_channel.queue_delete(queue)  # type: ignore[attr-defined]
    finally:
        conf.update(saved)


@pytest.fixture
def trace_dir(tmp_path: Path) -> Path:
    path = tmp_path / "trace"
    path.mkdir()
    return path


@pytest.fixture
def start_worker(broker: str, trace_dir: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    workers: list[subprocess.Popen[bytes]] = []
    db = connection.settings_dict
    database_url = (
        f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST'] or '127.0.0.1'}:"
        f"{db['PORT'] or 5432}/{db['NAME']}"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "syncapp.settings.test",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": os.environ["REDIS_URL"],
        "CELERY_TASK_ALWAYS_EAGER": "0",
        "CELERY_TASK_DEFAULT_QUEUE": broker,
        "PIPELINE_TRACE_DIR": str(trace_dir),
    }

    def start(name: str, **extra_env: str) -> subprocess.Popen[bytes]:
        log = (trace_dir.parent / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            worker_command(name, broker),
            cwd=REPO,
            env={**env, **extra_env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        workers.append(proc)
        return proc

    yield start
    for proc in workers:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in workers:
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def wait_for(predicate: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def traces(trace_dir: Path) -> dict[int, list[str]]:
    result: dict[int, list[str]] = {}
    for path in trace_dir.iterdir():
        lines = path.read_text().splitlines()
        result[int(path.name)] = [line.split(" ", 1)[1] for line in lines]
    return result


def run_closed(run: Run) -> Callable[[], bool]:
    def check() -> bool:
        run.refresh_from_db()
        return run.status not in (RunStatus.QUEUED, RunStatus.RUNNING)

    return check


def test_two_workers_process_every_entity_exactly_once(start_worker, trace_dir):
    profile = ProfileFactory(process_batch_size=5, settings={"sleep_seconds": 0.05})
    entities = ContactEntityFactory.create_batch(80, profile=profile)
    start_worker("alpha")
    start_worker("beta")

    run = runs.run_start(profile=profile, trigger=RunTrigger.BUTTON)
    wait_for(run_closed(run), timeout=120, what="the run to close")

    assert run.status == RunStatus.SUCCESS, run.summary
    assert (run.collected, run.created, run.failed) == (80, 80, 0)
    seen = traces(trace_dir)
    assert set(seen) == {e.pk for e in entities}
    assert all(len(workers) == 1 for workers in seen.values()), "an entity was processed twice"
    per_worker = Counter(workers[0] for workers in seen.values())
    assert len(per_worker) == 2, f"both workers should have taken batches: {per_worker}"
    assert not ContactEntity.objects.exclude(queue_status=QueueStatus.COMPLETE).exists()


def test_a_killed_workers_batch_is_processed_by_another_worker(start_worker, trace_dir):
    profile = ProfileFactory(process_batch_size=3, settings={"sleep_seconds": 1.5})
    entities = ContactEntityFactory.create_batch(6, profile=profile)
    alpha = start_worker("alpha")

    run = runs.run_start(profile=profile, trigger=RunTrigger.BUTTON)
    processing = ContactEntity.objects.filter(queue_status=QueueStatus.PROCESSING)
    wait_for(processing.exists, timeout=60, what="alpha to claim a batch")
    claimed = set(processing.values_list("pk", flat=True))
    os.killpg(alpha.pid, signal.SIGKILL)  # mid-batch: no status was written for it
    alpha.wait()
    assert len(claimed) == 3

    start_worker("beta")
    time.sleep(1.1)
    # What the beat reaper does every minute, with a short timeout for the test.
    assert runs.entities_reclaim_stale(older_than=timedelta(seconds=1)) == 3
    wait_for(run_closed(run), timeout=90, what="beta to finish the run")

    assert run.status == RunStatus.SUCCESS, run.summary
    assert run.created == 6
    seen = traces(trace_dir)
    assert set(seen) == {e.pk for e in entities}
    assert all(len(w) == 1 for w in seen.values())
    for pk in claimed:
        assert "alpha" not in seen[pk][0]
    assert set(ContactEntity.objects.values_list("queue_status", flat=True)) == {"complete"}


def test_concurrent_claims_never_overlap(django_db_blocker):
    """Four threads claiming from one run with SKIP LOCKED take disjoint batches."""
    import threading

    profile = ProfileFactory(process_batch_size=7)
    entities = ContactEntityFactory.create_batch(100, profile=profile)
    run = Run.objects.create(profile=profile, trigger=RunTrigger.CLI, status=RunStatus.RUNNING)
    taken: list[list[int]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(4)

    def claim(n: int) -> None:
        barrier.wait()
        try:
            while batch := runs.entities_claim(run=run, worker_id=f"t{n}", limit=7):
                with lock:
                    taken.append([e.pk for e in batch])
        finally:
            connection.close()

    threads = [threading.Thread(target=claim, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    flat = [pk for batch in taken for pk in batch]
    assert len(flat) == len(set(flat)) == 100
    assert set(flat) == {e.pk for e in entities}
