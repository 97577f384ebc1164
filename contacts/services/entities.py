"""The contact entity table: marking people pending, merging identities, retry and reset."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from contacts.models import ContactEntity
from contacts.people import email_key
from contacts.services import dry_journal
from profiles.models import Profile, QueueStatus, SyncStatus
from profiles.services.bulk import rows_insert, rows_update


def entity_mark_pending(
    *,
    profile: Profile,
    person_key: str,
    source_hash: str,
    email: str = "",
    customer_id: int | None = None,
    subscriber_id: int | None = None,
    metadata: dict[str, Any] | None = None,
) -> bool:
    """Make sure the person has an entity and queue it when its source changed.

    Returns True when the entity was (re)queued. An entity whose source hash is unchanged
    stays as it is, so re-reading Magento is free. An entity being processed right now is
    left alone: the next collection sees the hash differ and queues it then.
    """
    now = timezone.now()
    meta = {**(metadata or {}), "source_hash": source_hash}
    entity = ContactEntity.objects.filter(profile=profile, person_key=person_key).first()
    if entity is None:
        try:
            with transaction.atomic():
                ContactEntity.objects.create(
                    profile=profile,
                    person_key=person_key,
                    email=email,
                    email_key=email_key(email)[:255],
                    customer_id=customer_id,
                    subscriber_id=subscriber_id,
                    metadata=meta,
                    collected_at=now,
                    queue_status=QueueStatus.PENDING,
                )
            return True
        except IntegrityError:  # created concurrently (webhook and poll)
            entity = ContactEntity.objects.get(profile=profile, person_key=person_key)
    if (entity.metadata or {}).get("source_hash") == source_hash:
        return False
    if entity.queue_status == QueueStatus.PROCESSING:
        return False
    updates: dict[str, Any] = {
        "metadata": {**(entity.metadata or {}), **meta},
        "collected_at": now,
        "email": email or entity.email,
        "email_key": email_key(email or entity.email)[:255],
        "queue_status": QueueStatus.PENDING,
        "next_attempt_at": None,
        "attempts": 0,
    }
    if customer_id is not None:
        updates["customer_id"] = customer_id
    if subscriber_id is not None:
        updates["subscriber_id"] = subscriber_id
    changed = (
        ContactEntity.objects.filter(pk=entity.pk)
        .exclude(queue_status=QueueStatus.PROCESSING)
        .update(**updates)
    )
    return bool(changed)


@dataclass(frozen=True)
class Pending:
    """One person read from Magento, for :func:`entities_mark_pending`."""

    person_key: str
    source_hash: str
    email: str = ""
    customer_id: int | None = None
    subscriber_id: int | None = None
    metadata: dict[str, Any] = field(default_factory=dict)


MARKED_FIELDS = [
    "metadata",
    "collected_at",
    "email",
    "email_key",
    "queue_status",
    "next_attempt_at",
    "attempts",
    "customer_id",
    "subscriber_id",
]


def entities_mark_pending(*, profile: Profile, people: Sequence[Pending]) -> set[str]:
    """:func:`entity_mark_pending` for a page of people in one short transaction (one read,
    one insert, one update): returns the person keys (re)queued.

    The rows read are locked (``FOR UPDATE`` on PostgreSQL) until the update, so no worker
    claims one in between; entities being processed are left alone as one at a time does.
    """
    wanted = {p.person_key: p for p in people}  # a person read twice: the last read wins
    if not wanted:
        return set()
    now = timezone.now()
    queued: set[str] = set()
    with transaction.atomic():
        existing = {
            e.person_key: e
            for e in ContactEntity.objects.select_for_update()
            .filter(profile=profile, person_key__in=list(wanted))
            .order_by("pk")
        }
        new = [
            ContactEntity(
                profile=profile,
                person_key=key,
                email=p.email,
                email_key=email_key(p.email)[:255],
                customer_id=p.customer_id,
                subscriber_id=p.subscriber_id,
                metadata={**p.metadata, "source_hash": p.source_hash},
                collected_at=now,
                queue_status=QueueStatus.PENDING,
            )
            for key, p in wanted.items()
            if key not in existing
        ]
        # Created meanwhile by another collector (webhook and poll): that one queued it.
        rows_insert(ContactEntity, new, ignore_conflicts=True)
        queued.update(e.person_key for e in new)
        journal = dry_journal.active()
        if journal is not None and new:
            journal.created_now(
                ContactEntity.objects.filter(
                    profile=profile, person_key__in=[e.person_key for e in new]
                ).values_list("pk", flat=True)
            )
        changed = []
        for key, entity in existing.items():
            p = wanted[key]
            if (entity.metadata or {}).get("source_hash") == p.source_hash:
                continue
            if entity.queue_status == QueueStatus.PROCESSING:
                continue  # the next collection sees the hash differ and queues it then
            if journal is not None:
                journal.remember([entity])
            entity.metadata = {
                **(entity.metadata or {}),
                **p.metadata,
                "source_hash": p.source_hash,
            }
            entity.collected_at = now
            entity.email = p.email or entity.email
            entity.email_key = email_key(entity.email)[:255]
            entity.queue_status = QueueStatus.PENDING
            entity.next_attempt_at = None
            entity.attempts = 0
            if p.customer_id is not None:
                entity.customer_id = p.customer_id
            if p.subscriber_id is not None:
                entity.subscriber_id = p.subscriber_id
            changed.append(entity)
        rows_update(ContactEntity, changed, MARKED_FIELDS)
        queued.update(e.person_key for e in changed)
    return queued


def entities_rekey(*, profile: Profile, moves: Sequence[tuple[str, str, dict[str, Any]]]) -> int:
    """:func:`entity_rekey` for a page: ``(old key, new key, fields)`` each; one query finds
    the few old keys that exist. Returns how many were moved."""
    olds = {old for old, _new, _fields in moves}
    if not olds or dry_journal.active() is not None:
        return 0  # a dry run moves no key (a move may merge two entities: see dry_journal)
    present = set(
        ContactEntity.objects.filter(profile=profile, person_key__in=list(olds)).values_list(
            "person_key", flat=True
        )
    )
    return sum(
        entity_rekey(profile=profile, old_key=old, new_key=new, **fields)
        for old, new, fields in moves
        if old in present
    )


def entity_rekey(*, profile: Profile, old_key: str, new_key: str, **fields: Any) -> bool:
    """Give an existing entity a new person key (a guest who registered keeps their
    remote contact). If the new key already has an entity, the old one's remote id is
    carried over when the new one has none, and the old one is removed."""
    old = ContactEntity.objects.filter(profile=profile, person_key=old_key).first()
    if old is None or old.queue_status == QueueStatus.PROCESSING:
        return False  # in flight: the next collection merges it
    with transaction.atomic():
        new = (
            ContactEntity.objects.select_for_update()
            .filter(profile=profile, person_key=new_key)
            .first()
        )
        if new is None:
            ContactEntity.objects.filter(pk=old.pk).update(person_key=new_key, **fields)
            return True
        if new.queue_status == QueueStatus.PROCESSING:
            return False
        if not new.remote_id and old.remote_id:
            ContactEntity.objects.filter(pk=new.pk).update(
                remote_id=old.remote_id, last_payload_hash=old.last_payload_hash
            )
        elif old.remote_id and old.remote_id != new.remote_id:
            # Both were linked: two remote contacts for one person. Keep the old entity,
            # flagged, rather than silently orphaning its remote contact.
            ContactEntity.objects.filter(pk=old.pk).update(
                status=SyncStatus.AMBIGUOUS,
                queue_status=QueueStatus.FAILED,
                message={
                    "outcome": "ambiguous",
                    "text": f"{old_key} became {new_key}, which is linked to "
                    f"{new.remote_id}; this one was linked to {old.remote_id}. Two remote "
                    "contacts exist for one person: merge or hide one, then reset this one.",
                },
            )
            return True
        old.delete()
    return True


def entities_retry(queryset: QuerySet[ContactEntity]) -> int:
    """Queue failed (or any) contacts again with a fresh attempt count."""
    return queryset.exclude(queue_status=QueueStatus.PROCESSING).update(
        queue_status=QueueStatus.PENDING, next_attempt_at=None, attempts=0
    )


def entities_reset(queryset: QuerySet[ContactEntity]) -> int:
    """Forget what was last sent, so the next run compares and sends everything again."""
    return queryset.exclude(queue_status=QueueStatus.PROCESSING).update(
        queue_status=QueueStatus.PENDING, next_attempt_at=None, attempts=0, last_payload_hash=""
    )


def entities_for_ids(profile: Profile, ids: Iterable[int]) -> QuerySet[ContactEntity]:
    return ContactEntity.objects.filter(profile=profile, pk__in=list(ids))


def entities_in_chunks(
    queryset: QuerySet[ContactEntity], size: int
) -> Iterator[list[ContactEntity]]:
    """The entities of ``queryset`` ``size`` at a time, keyset-paged by primary key (bounded
    memory however many there are)."""
    after = 0
    while True:
        chunk = list(queryset.filter(pk__gt=after).order_by("pk")[:size])
        if not chunk:
            return
        after = chunk[-1].pk
        yield chunk
