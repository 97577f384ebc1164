"""connectors.locks.process_lock across real processes (file lock and Redis lock)."""

from __future__ import annotations

import multiprocessing
import os
import time
import uuid
from multiprocessing.synchronize import Event
from pathlib import Path

import pytest

from connectors.locks import LockTimeout, process_lock

REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
CTX = multiprocessing.get_context("spawn")


def _increment(counter: str, name: str, lock_dir: str, redis_url: str | None, times: int) -> None:
    # Read-modify-write with a pause in the middle: without the lock, updates get lost.
    for _ in range(times):
        with process_lock(name, redis_url=redis_url, lock_dir=lock_dir, timeout=20):
            value = int(Path(counter).read_text())
            time.sleep(0.002)
            Path(counter).write_text(str(value + 1))


def _hold(name: str, lock_dir: str, redis_url: str | None, held: Event, release: Event) -> None:
    with process_lock(name, redis_url=redis_url, lock_dir=lock_dir, timeout=5):
        held.set()
        release.wait(10)


def _hold_and_die(name: str, lock_dir: str, held: Event) -> None:
    with process_lock(name, lock_dir=lock_dir, timeout=5):
        held.set()
        time.sleep(0.2)
        os._exit(0)  # no release: the kernel must free the lock


def _run_incrementers(tmp_path: Path, redis_url: str | None) -> int:
    counter = tmp_path / "counter"
    counter.write_text("0")
    name = f"test-counter-{uuid.uuid4().hex}"
    procs = [
        CTX.Process(target=_increment, args=(str(counter), name, str(tmp_path), redis_url, 15))
        for _ in range(4)
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    return int(counter.read_text())


def _assert_timeout_then_acquire(tmp_path: Path, redis_url: str | None) -> None:
    name = f"test-hold-{uuid.uuid4().hex}"
    held, release = CTX.Event(), CTX.Event()
    proc = CTX.Process(target=_hold, args=(name, str(tmp_path), redis_url, held, release))
    proc.start()
    try:
        assert held.wait(20)
        with (
            pytest.raises(LockTimeout),
            process_lock(name, redis_url=redis_url, lock_dir=tmp_path, timeout=0.2),
        ):
            pass
    finally:
        release.set()
        proc.join(20)
    entered = False
    with process_lock(name, redis_url=redis_url, lock_dir=tmp_path, timeout=5):
        entered = True
    assert entered


def test_file_lock_serialises_processes(tmp_path: Path) -> None:
    assert _run_incrementers(tmp_path, None) == 60


def test_file_lock_times_out_while_another_process_holds_it(tmp_path: Path) -> None:
    _assert_timeout_then_acquire(tmp_path, None)


def test_file_lock_is_released_when_the_holder_dies(tmp_path: Path) -> None:
    name = "test-die"
    held = CTX.Event()
    proc = CTX.Process(target=_hold_and_die, args=(name, str(tmp_path), held))
    proc.start()
    assert held.wait(20)
    proc.join(20)
    with process_lock(name, lock_dir=tmp_path, timeout=2):
        acquired = True
    assert acquired


def test_file_lock_names_are_independent(tmp_path: Path) -> None:
    with (
        process_lock("account/1", lock_dir=tmp_path, timeout=0.1),
        process_lock("account/2", lock_dir=tmp_path, timeout=0.1),
    ):
        files = sorted(p.name for p in tmp_path.iterdir())
    assert len(files) == 2
    assert all("/" not in f for f in files)


def test_file_lock_default_dir_works() -> None:
    with process_lock(f"test-default-{uuid.uuid4().hex}", timeout=1):
        inside = True
    assert inside


@pytest.mark.redis
def test_redis_lock_serialises_processes(tmp_path: Path) -> None:
    assert _run_incrementers(tmp_path, REDIS_URL) == 60


@pytest.mark.redis
def test_redis_lock_times_out_while_another_process_holds_it(tmp_path: Path) -> None:
    _assert_timeout_then_acquire(tmp_path, REDIS_URL)
