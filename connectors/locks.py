"""Cross-process locks: Redis when there is one, an ``fcntl`` file lock otherwise.

Used to serialise work that must happen once per remote account however many workers
race for it, e.g. refreshing a FreeAgent OAuth token (refresh tokens rotate, so two
concurrent refreshes with the same old token leave one worker with a dead token).

The Redis variant works across machines; the file variant across processes on one host
(the embedded default, and tests).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path

import redis

from connectors.errors import TransientError

KEY_PREFIX = "contact-sync:lock:"
_POLL_S = 0.02


class LockTimeout(TransientError):
    """The lock was not acquired within ``timeout`` seconds; try again later."""


def default_lock_dir() -> Path:
    """Where file locks live when no ``lock_dir`` is given."""
    return Path(tempfile.gettempdir()) / "contact-sync-locks"


def _file_name(name: str) -> str:
    # Names carry account ids/URLs; keep them readable but filesystem-safe, and add a
    # hash so two names that sanitise alike never share a lock.
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", name)[:80]
    digest = hashlib.sha1(name.encode("utf-8"), usedforsecurity=False).hexdigest()[:12]
    return f"{safe}.{digest}.lock"


@contextmanager
def _file_lock(name: str, lock_dir: str | Path | None, timeout: float) -> Iterator[None]:
    directory = Path(lock_dir) if lock_dir is not None else default_lock_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / _file_name(name)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        deadline = time.monotonic() + max(0.0, timeout)
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockTimeout(f"lock {name!r} not acquired within {timeout:g}s") from None
                time.sleep(_POLL_S)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def _redis_lock(name: str, redis_url: str, timeout: float, ttl: float) -> Iterator[None]:
    client = redis.Redis.from_url(redis_url)
    lock = client.lock(
        KEY_PREFIX + name, timeout=ttl, blocking_timeout=max(0.0, timeout), sleep=_POLL_S
    )
    try:
        acquired = lock.acquire(blocking=True)
    except redis.RedisError as exc:
        client.close()
        raise TransientError(f"lock {name!r}: Redis unavailable ({type(exc).__name__})") from exc
    if not acquired:
        client.close()
        raise LockTimeout(f"lock {name!r} not acquired within {timeout:g}s")
    try:
        yield
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:
            # The TTL ran out while we held it (a very slow holder); someone else may own
            # it now, and there is nothing of ours left to release.
            pass
        finally:
            client.close()


@contextmanager
def process_lock(
    name: str,
    *,
    redis_url: str | None = None,
    lock_dir: str | Path | None = None,
    timeout: float = 30.0,
    ttl: float = 60.0,
) -> Iterator[None]:
    """Hold the lock ``name`` across processes for the duration of the ``with`` block.

    With ``redis_url`` a redis-py :class:`~redis.lock.Lock` is used (it expires after
    ``ttl`` seconds if the holder dies); otherwise an ``fcntl`` lock on a file under
    ``lock_dir`` (default: a directory in the system temp dir), released by the kernel when
    the holder dies. Waits up to ``timeout`` seconds, then raises :class:`LockTimeout`.
    """
    if redis_url:
        with _redis_lock(name, redis_url, timeout, ttl):
            yield
    else:
        with _file_lock(name, lock_dir, timeout):
            yield


@contextmanager
def locks_try(
    names: Iterable[str],
    *,
    redis_url: str | None = None,
    lock_dir: str | Path | None = None,
    ttl: float = 60.0,
) -> Iterator[set[str]]:
    """Try each of ``names`` once, without waiting (in sorted order, over one Redis
    connection or one file each); yields the names held, all released at the end of the
    block. A name another holder has is simply not in the set: its work takes the slow
    path (:func:`process_lock`, which waits)."""
    wanted = sorted(set(names))
    with ExitStack() as stack:
        held: set[str] = set()
        if redis_url:
            client = redis.Redis.from_url(redis_url)
            stack.callback(client.close)
            for name in wanted:
                lock = client.lock(KEY_PREFIX + name, timeout=ttl)
                try:
                    acquired = lock.acquire(blocking=False)
                except redis.RedisError:
                    break  # Redis went away: what is held so far is still released
                if acquired:
                    held.add(name)
                    stack.callback(_redis_release, lock)
        else:
            directory = Path(lock_dir) if lock_dir is not None else default_lock_dir()
            directory.mkdir(parents=True, exist_ok=True)
            for name in wanted:
                fd = os.open(directory / _file_name(name), os.O_RDWR | os.O_CREAT, 0o600)
                stack.callback(os.close, fd)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                held.add(name)
                stack.callback(fcntl.flock, fd, fcntl.LOCK_UN)
        yield held


def _redis_release(lock: redis.lock.Lock) -> None:
    # Expired (someone else may hold it now) or Redis is gone: nothing of ours is left.
    with suppress(redis.RedisError):
        lock.release()


__all__ = ["LockTimeout", "default_lock_dir", "locks_try", "process_lock"]
