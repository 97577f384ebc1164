"""A dry run leaves the queue as it found it.

A profile's dry run collects like a real run (it must see the changes the next export
would send), which marks contacts pending, creates entities for new people, releases due
retries and moves the collection's watermarks. Inside :func:`dry_run_journal` those writes
are remembered, and when the dry run ends they are taken back: new entities removed, the
others given back their queue fields and source hash, the profile's watermarks restored.
The next real run then collects the same changes and counts them as its own.

The mirror (our copy of Magento) keeps what was read: it is a cache of the truth, and the
entities' own hashes, not the mirror's, decide what is queued. A guest who registered
is not re-keyed during a dry run (that move can merge two entities, which could not be
taken back); the real run does it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from profiles.models import Profile, QueueStatus
from profiles.services.bulk import rows_update

logger = logging.getLogger(__name__)


def journaled_fields() -> tuple[str, ...]:
    """What collection may change on an existing entity (what ``entities_mark_pending``
    writes, and the payload hash an initial export clears), restored as they were."""
    from contacts.services.entities import MARKED_FIELDS  # it imports this module

    return (*MARKED_FIELDS, "last_payload_hash")


# Requests a dry run answers (an initial export asked for with "dry run"): consumed by
# it, not put back for the next real run to act on.
CONSUMED_STATE_KEYS = frozenset({"emarsys_initial_export"})


@dataclass
class Journal:
    profile_id: int
    state_before: dict[str, Any]
    created: set[int] = field(default_factory=set)
    before: dict[int, dict[str, Any]] = field(default_factory=dict)

    def remember(self, entities: Iterable[Any]) -> None:
        """Keep each entity's fields as they are now (the first time it is seen)."""
        for entity in entities:
            if entity.pk is not None and entity.pk not in self.before:
                self.before[entity.pk] = {f: getattr(entity, f) for f in journaled_fields()}

    def created_now(self, pks: Iterable[int]) -> None:
        self.created.update(int(pk) for pk in pks)


_current: ContextVar[Journal | None] = ContextVar("dry_run_journal", default=None)


def active() -> Journal | None:
    """The journal of the dry run collecting in this context, if one is."""
    return _current.get()


@contextmanager
def dry_run_journal(profile: Profile) -> Iterator[Journal]:
    """Remember what the collection inside writes to the queue; take it back at the end."""
    fresh = Profile.objects.only("state").get(pk=profile.pk)
    journal = Journal(profile_id=profile.pk, state_before=dict(fresh.state or {}))
    token = _current.set(journal)
    try:
        yield journal
    finally:
        _current.reset(token)
        restore(journal)


def restore(journal: Journal) -> None:
    """Take back what the dry run's collection wrote (a contact being processed by a
    realtime sync meanwhile is left to it)."""
    from contacts.models import ContactEntity

    with transaction.atomic():
        removed, _ = (
            ContactEntity.objects.filter(pk__in=sorted(journal.created))
            .exclude(queue_status=QueueStatus.PROCESSING)
            .delete()
        )
        back = list(
            ContactEntity.objects.filter(pk__in=sorted(journal.before)).exclude(
                queue_status=QueueStatus.PROCESSING
            )
        )
        for entity in back:
            for name, value in journal.before[entity.pk].items():
                setattr(entity, name, value)
        rows_update(ContactEntity, back, list(journaled_fields()))
        profile = Profile.objects.select_for_update().only("state").get(pk=journal.profile_id)
        state = dict(profile.state or {})
        for key in set(state) | set(journal.state_before):
            if key in CONSUMED_STATE_KEYS:
                continue
            if key in journal.state_before:
                state[key] = journal.state_before[key]
            else:
                state.pop(key, None)
        Profile.objects.filter(pk=journal.profile_id).update(state=state)
    logger.info(
        "dry run of profile %s: queue as it was (%d new entities removed, %d restored)",
        journal.profile_id,
        removed,
        len(back),
    )
