"""connectors.locks.process_lock across real processes (file lock and Redis lock)."""

from __future__ import annotations

import multiprocessing
import os
import time
import uuid
from multiprocessing.synchronize import Event
from pathlib import Path

import pytest

from connectors import locks
from connectors.locks import LockTimeout, locks_try, process_lock

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
    if locks._OFD_SETLK is not None:
        assert files == [locks.RANGE_FILE]  # a byte each, no file a name
    else:
        assert len(files) == 2
        assert all("/" not in f for f in files)


def test_file_lock_excludes_a_second_holder_in_the_same_process(tmp_path: Path) -> None:
    # Locks belong to the open file (as flock's do), not to the process: a second thread
    # of a worker must wait like another process would.
    with process_lock("account/1", lock_dir=tmp_path, timeout=1):
        with (
            pytest.raises(LockTimeout),
            process_lock("account/1", lock_dir=tmp_path, timeout=0.1),
        ):
            pass
        with locks_try(["account/1", "account/2"], lock_dir=tmp_path) as held:
            assert held == {"account/2"}


@pytest.mark.parametrize("redis_url", [None, pytest.param(REDIS_URL, marks=pytest.mark.redis)])
def test_locks_try_skips_what_another_process_holds(tmp_path: Path, redis_url: str | None) -> None:
    taken, free = f"taken-{uuid.uuid4().hex}", f"free-{uuid.uuid4().hex}"
    held, release = CTX.Event(), CTX.Event()
    proc = CTX.Process(target=_hold, args=(taken, str(tmp_path), redis_url, held, release))
    proc.start()
    try:
        assert held.wait(20)
        with locks_try([free, taken], redis_url=redis_url, lock_dir=tmp_path) as got:
            assert got == {free}
            # What locks_try holds, process_lock waits for (the slow path's lock).
            with (
                pytest.raises(LockTimeout),
                process_lock(free, redis_url=redis_url, lock_dir=tmp_path, timeout=0.1),
            ):
                pass
    finally:
        release.set()
        proc.join(20)
    with locks_try([free, taken], redis_url=redis_url, lock_dir=tmp_path) as got:
        assert got == {free, taken}
    with process_lock(free, redis_url=redis_url, lock_dir=tmp_path, timeout=1):
        pass  # released at the end of the block


def _try_and_die(names: list[str], lock_dir: str, held: Event) -> None:
    with locks_try(names, lock_dir=lock_dir) as got:
        assert got == set(names)
        held.set()
        time.sleep(0.2)
        os._exit(0)


def test_locks_try_is_released_when_the_holder_dies(tmp_path: Path) -> None:
    names = [f"die-{i}" for i in range(50)]
    held = CTX.Event()
    proc = CTX.Process(target=_try_and_die, args=(names, str(tmp_path), held))
    proc.start()
    assert held.wait(20)
    proc.join(20)
    with locks_try(names, lock_dir=tmp_path) as got:
        assert got == set(names)


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


def test_flock_fallback_where_there_are_no_range_locks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(locks, "_OFD_SETLK", None)  # as on macOS
    with (
        process_lock("account/1", lock_dir=tmp_path, timeout=1),
        locks_try(["account/1", "account/2"], lock_dir=tmp_path) as held,
    ):
        assert held == {"account/2"}
        assert len(list(tmp_path.iterdir())) == 2  # one file a name
    with locks_try(["account/1", "account/2"], lock_dir=tmp_path) as held:
        assert held == {"account/1", "account/2"}
