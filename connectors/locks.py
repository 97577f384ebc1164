"""Cross-process locks: Redis when there is one, an ``fcntl`` file lock otherwise.

Used to serialise work that must happen once per remote account however many workers
race for it, e.g. refreshing a FreeAgent OAuth token (refresh tokens rotate, so two
concurrent refreshes with the same old token leave one worker with a dead token).

The Redis variant works across machines; the file variant across processes on one host
(the embedded default, and tests): a byte-range lock on one file where the kernel has
open-file-description locks (Linux), else a ``flock`` on one file a name.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os
import re
import struct
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


# Where the kernel has open-file-description locks (Linux), every name is one byte of one
# file — the byte at a 62-bit hash of the name — so a first sync's create locks (one a
# contact) make no files: creating tens of thousands of them costs a journal commit
# each on a disk the database is syncing to, and leaves a directory that only grows.
# Such a lock belongs to the open file, as flock's does (two opens exclude each other,
# in one process too; the kernel drops it when its holder dies). Elsewhere: one
# ``flock``-ed file a name.
_OFD_SETLK = getattr(fcntl, "F_OFD_SETLK", None)
RANGE_FILE = "locks.ranges"
_OFFSET_BITS = 62


def _offset(name: str) -> int:
    digest = hashlib.sha256(name.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") >> (64 - _OFFSET_BITS)


def _flock_struct(kind: int, offset: int) -> bytes:
    # struct flock: l_type, l_whence, (pad), l_start, l_len, l_pid (0 for OFD locks), (pad)
    return struct.pack("hhxxxxqqixxxx", kind, os.SEEK_SET, offset, 1, 0)


def _try_byte(fd: int, offset: int) -> bool:
    """Take the byte's lock without waiting; False if another open of the file holds it."""
    assert _OFD_SETLK is not None
    try:
        fcntl.fcntl(fd, _OFD_SETLK, _flock_struct(fcntl.F_WRLCK, offset))
    except OSError as exc:
        if exc.errno in (errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _lock_directory(lock_dir: str | Path | None) -> Path:
    directory = Path(lock_dir) if lock_dir is not None else default_lock_dir()
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def _open_lock_file(directory: Path, name: str) -> int:
    path = directory / (RANGE_FILE if _OFD_SETLK is not None else _file_name(name))
    return os.open(path, os.O_RDWR | os.O_CREAT, 0o600)


def _try(fd: int, name: str) -> bool:
    if _OFD_SETLK is not None:
        return _try_byte(fd, _offset(name))
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextmanager
def _file_lock(name: str, lock_dir: str | Path | None, timeout: float) -> Iterator[None]:
    fd = _open_lock_file(_lock_directory(lock_dir), name)
    try:  # closing the file releases its lock, whatever kind it is
        deadline = time.monotonic() + max(0.0, timeout)
        while not _try(fd, name):
            if time.monotonic() >= deadline:
                raise LockTimeout(f"lock {name!r} not acquired within {timeout:g}s") from None
            time.sleep(_POLL_S)
        yield
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
    connection or one open lock file); yields the names held, all released at the end of the
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
        elif _OFD_SETLK is not None:
            fd = _open_lock_file(_lock_directory(lock_dir), "")
            stack.callback(os.close, fd)  # releases every byte taken on it
            held.update(name for name in wanted if _try(fd, name))
        else:
            directory = _lock_directory(lock_dir)
            for name in wanted:
                fd = _open_lock_file(directory, name)
                stack.callback(os.close, fd)
                if _try(fd, name):
                    held.add(name)
        yield held


def _redis_release(lock: redis.lock.Lock) -> None:
    # Expired (someone else may hold it now) or Redis is gone: nothing of ours is left.
    with suppress(redis.RedisError):
        lock.release()


__all__ = ["LockTimeout", "default_lock_dir", "locks_try", "process_lock"]
