"""Reading the next page while the caller writes this one.

:func:`read_ahead` runs an iterator of pages (API reads only, never the database) in a
background thread, at most ``depth`` pages ahead of its consumer, so the wait for the
next Magento page overlaps the database writes of the last. What the consumer sees is
exactly what it would see iterating in its own thread: the same items in the same order,
and the iterator's exception raised where the consumer would have met it. A consumer
that stops early (an error of its own, a time limit) stops the reader; a page read ahead
and never taken is simply read again by the next run, because a cursor is only saved for
pages taken.
"""

from __future__ import annotations

import contextvars
import queue
import threading
from collections.abc import Callable, Generator, Iterator
from typing import TypeVar

T = TypeVar("T")

_DONE = object()
_POLL = 0.1  # how often a blocked reader checks whether its consumer has gone


class _Failed:
    def __init__(self, error: BaseException) -> None:
        self.error = error


def read_ahead(produce: Callable[[], Iterator[T]], *, depth: int = 1) -> Generator[T, None, None]:
    """The items of ``produce()``, computed in a thread up to ``depth`` items ahead.

    ``produce`` is called in the reader thread with the caller's context variables (the
    task's deadline among them), so it must not touch the database: Django connections
    belong to the thread that opened them.
    """
    slots: queue.Queue[object] = queue.Queue(maxsize=max(1, depth))
    gone = threading.Event()

    def offer(item: object) -> bool:
        while not gone.is_set():
            try:
                slots.put(item, timeout=_POLL)
                return True
            except queue.Full:
                continue
        return False

    def read() -> None:
        try:
            for item in produce():
                if not offer(item):
                    return
        except BaseException as exc:  # handed to the consumer, raised there
            offer(_Failed(exc))
            return
        offer(_DONE)

    context = contextvars.copy_context()
    reader = threading.Thread(target=context.run, args=(read,), name="read-ahead", daemon=True)
    reader.start()
    try:
        while True:
            item = slots.get()
            if item is _DONE:
                return
            if isinstance(item, _Failed):
                raise item.error
            yield item  # type: ignore[misc]
    finally:
        gone.set()
        reader.join(timeout=5 * _POLL)
