"""kill -9 of a worker right after a FreeAgent POST was answered, for the crash tests.

Nothing of the worker runs after a kill: no link of its current group of creates is
written (those are written after the group's POSTs), and the kernel frees its file locks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from connectors.freeagent.client import FreeAgentClient
from contacts.freeagent.export import ContactWriter


class Killed(BaseException):
    """Stands in for SIGKILL: nothing after it runs, not even except-Exception handlers."""


def kill_after_post(
    monkeypatch: pytest.MonkeyPatch, when: Callable[[dict[str, Any], int], bool]
) -> list[dict[str, Any]]:
    """From now on, the worker dies right after the POST for which ``when(fields, n)`` (n:
    POSTs answered so far, this one included) is true. Returns the contacts created."""
    create = FreeAgentClient.create_contact
    flush = ContactWriter.flush
    created: list[dict[str, Any]] = []

    def create_then_maybe_die(self: FreeAgentClient, fields: dict[str, Any]) -> dict[str, Any]:
        created.append(create(self, fields))
        if when(fields, len(created)):
            monkeypatch.setattr(ContactWriter, "flush", killed_flush)
            raise Killed
        return created[-1]

    def killed_flush(self: ContactWriter) -> None:
        self.cached = []  # nothing is written …
        if self.group is not None:
            self.group.release()  # … but the locks are freed, as the kernel frees them
            self.group = None
        monkeypatch.setattr(ContactWriter, "flush", flush)

    monkeypatch.setattr(FreeAgentClient, "create_contact", create_then_maybe_die)
    return created


_ORIGINAL = (FreeAgentClient.create_contact, ContactWriter.flush)


def revive(monkeypatch: pytest.MonkeyPatch) -> None:
    """The next worker: POSTs are answered and links written as usual."""
    monkeypatch.setattr(FreeAgentClient, "create_contact", _ORIGINAL[0])
    monkeypatch.setattr(ContactWriter, "flush", _ORIGINAL[1])
