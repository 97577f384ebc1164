"""The FreeAgent drift check (see :mod:`contacts.services.drift`).

One full read of the contact list (``view=all``, 100 per page) refreshes the cache; then,
500 contacts at a time, each linked contact is compared with its FreeAgent record: gone
(deleted), ``Hidden``, fields that differ from what Magento's data maps to (edited in
FreeAgent), other active contacts with its e-mail (duplicated). Contacts that were
processed but never linked are reported too.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from connectors.http import Exchange
from contacts.freeagent.cache import remote_contacts_collect
from contacts.freeagent.mapping import contact_payload, field_diff
from contacts.freeagent.resolve import SourceMissing, person_for_entity
from contacts.models import ContactEntity, RemoteContact
from contacts.services.drift import DriftReport, drift_item, linked_by_a_person, unlinked
from contacts.services.entities import entities_in_chunks
from profiles.models import ApiBehaviour, Profile, QueueStatus, SyncStatus
from profiles.services.connections import freeagent_client

CHUNK = 500


class _Counter:
    def __init__(self) -> None:
        self.requests = 0

    def __call__(self, exchange: Exchange) -> None:
        self.requests += 1


def freeagent_drift(*, profile: Profile, report: DriftReport, repair: bool) -> None:
    client = profile.client
    assert client is not None
    counter = _Counter()
    api = freeagent_client(client, on_exchange=counter)
    remote_contacts_collect(client=client, api=api, full=True, requeue=False)
    report.requests = counter.requests
    locales = {int(k): v for k, v in ((profile.state or {}).get("store_locales") or {}).items()}
    for chunk in entities_in_chunks(ContactEntity.objects.filter(profile=profile), CHUNK):
        unlinked(report, chunk)
        _compare(profile, [e for e in chunk if e.remote_id], report, locales)
    if repair:
        drift_repair(profile, report)


def _compare(
    profile: Profile, chunk: list[ContactEntity], report: DriftReport, locales: dict[int, str]
) -> None:
    client = profile.client
    rows = {
        r.url: r
        for r in RemoteContact.objects.filter(
            client=client, url__in=[e.remote_id for e in chunk if e.remote_id]
        )
    }
    active: dict[str, list[str]] = defaultdict(list)
    for url, key in (
        RemoteContact.objects.filter(
            client=client, email_key__in={e.email_key for e in chunk if e.email_key}
        )
        .exclude(status="Hidden")
        .values_list("url", "email_key")
    ):
        active[key].append(url)
    for entity in chunk:
        report.checked += 1
        row = rows.get(entity.remote_id)
        if row is None:
            report.items.append(drift_item("deleted", entity))
            continue
        if row.status == "Hidden":
            report.items.append(drift_item("hidden", entity))
            continue
        others = [u for u in active.get(entity.email_key, []) if u != entity.remote_id]
        if others and entity.email_key:
            report.items.append(
                drift_item("duplicated", entity, detail=f"also {', '.join(others)}")
            )
        edited = _edited(profile, entity, row.data, locales)
        if edited:
            report.items.append(drift_item("edited", entity, fields=edited))


def _edited(
    profile: Profile, entity: ContactEntity, remote: dict[str, Any], locales: dict[int, str]
) -> list[str]:
    """Fields whose FreeAgent value differs from what Magento's data maps to — for contacts
    that are in sync (a queued contact is about to send its changes anyway)."""
    if entity.queue_status != QueueStatus.COMPLETE or entity.status == SyncStatus.SKIPPED:
        return []
    try:
        person, _ = person_for_entity(profile, entity)
    except SourceMissing:
        return []
    locale = locales.get(person.store_id) if person.store_id is not None else None
    mapped = contact_payload(person, store_locale=locale)
    if not mapped.ok:
        return []
    return sorted(field_diff(mapped.payload, remote))


def drift_repair(profile: Profile, report: DriftReport) -> None:
    """Re-queue what should be re-sent; flag what needs a person (hidden, duplicated, and
    deleted ones the API behaviour may not re-create)."""
    creates = profile.api_behaviour != ApiBehaviour.UPDATE
    for item in report.items:
        entities = ContactEntity.objects.filter(pk=item.entity_id).exclude(
            queue_status=QueueStatus.PROCESSING
        )
        if item.kind == "deleted" and creates:
            entities.update(
                remote_id="", last_payload_hash="", queue_status=QueueStatus.PENDING, attempts=0
            )
            item.repair = "re-queued"
        elif item.kind in ("edited", "unlinked"):
            entities.update(
                last_payload_hash="", queue_status=QueueStatus.PENDING, next_attempt_at=None
            )
            item.repair = "re-queued"
        elif item.kind == "duplicated" and linked_by_a_person(entities.first()):
            item.repair = "kept: linked by a person"
        else:
            why = {
                "deleted": f"{item.remote_id} was deleted in FreeAgent and the API behaviour "
                "'Update Existing' does not re-create it",
                "hidden": f"{item.remote_id} was hidden in FreeAgent; it is not un-hidden by "
                "us — un-hide it or link another contact",
                "duplicated": f"FreeAgent has more contacts with this e-mail ({item.detail}); "
                "hide the duplicates",
            }[item.kind]
            entities.update(
                status=SyncStatus.AMBIGUOUS if item.kind == "duplicated" else SyncStatus.FAILED,
                queue_status=QueueStatus.FAILED,
                message={"outcome": "drift", "text": f"Drift check: {why}."},
            )
            item.repair = "flagged"
