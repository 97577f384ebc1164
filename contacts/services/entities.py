"""The contact entity table: marking people pending, merging identities, retry and reset."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from contacts.models import ContactEntity
from contacts.people import email_key
from profiles.models import Profile, QueueStatus, SyncStatus


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
