"""The Emarsys drift check (see :mod:`contacts.services.drift`).

1,000 linked contacts at a time, one ``getdata`` keyed by e-mail returns every Emarsys
contact with those addresses and the fields we sent: ours (by internal id) is compared
field by field with what was last sent (edited), and more than one contact for an address
is a duplicate. Contacts not found under their e-mail are looked up by internal id (one
more request per 1,000 of them): found → their e-mail was edited in Emarsys; not found →
deleted. The opt-in is left to the two-way opt-in rule (reconcile), not reported here.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from contacts.emarsys.fields import field_labels
from contacts.emarsys.mapping import EMAIL, OPT_IN, same
from contacts.models import ContactEntity
from contacts.services.drift import DriftReport, drift_item, linked_by_a_person, unlinked
from contacts.services.entities import entities_in_chunks
from profiles.models import Profile, QueueStatus, SyncStatus
from profiles.services.connections import emarsys_client

CHUNK = 1000


def emarsys_drift(*, profile: Profile, report: DriftReport, repair: bool) -> None:
    assert profile.client is not None
    api = emarsys_client(profile.client)
    labels = field_labels(profile.client)  # the report names fields, not bare ids
    for chunk in entities_in_chunks(ContactEntity.objects.filter(profile=profile), CHUNK):
        unlinked(report, chunk)
        linked = [e for e in chunk if e.remote_id]
        if linked:
            _compare(api, linked, report, labels)
    if repair:
        drift_repair(profile, report)


def _sent(entity: ContactEntity) -> dict[str, Any]:
    return {k: v for k, v in ((entity.metadata or {}).get("sent") or {}).items() if k != OPT_IN}


def _compare(
    api: Any, linked: list[ContactEntity], report: DriftReport, labels: dict[str, str]
) -> None:
    fields = sorted({EMAIL, *(k for e in linked for k in _sent(e) if k.isdigit())}, key=int)
    emails = sorted({e.email_key for e in linked if e.email_key})
    by_email: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if emails:
        report.requests += 1
        for row in api.get_contacts(emails, key_id=EMAIL, fields=fields).rows:
            by_email[str(row.get(EMAIL) or "").strip().lower()].append(row)
    missing: list[ContactEntity] = []
    for entity in linked:
        report.checked += 1
        rows = by_email.get(entity.email_key, [])
        ours = next((r for r in rows if str(r.get("id")) == str(entity.remote_id)), None)
        if ours is None:
            missing.append(entity)
            continue
        others = [str(r.get("id")) for r in rows if r is not ours]
        if others:
            report.items.append(
                drift_item("duplicated", entity, detail=f"also Emarsys contact {', '.join(others)}")
            )
        _edited(entity, ours, report, labels)
    if missing:
        report.requests += 1
        found = {
            str(r.get("id")): r
            for r in api.get_contacts(
                [e.remote_id for e in missing], key_id="id", fields=fields
            ).rows
        }
        for entity in missing:
            row = found.get(str(entity.remote_id))
            if row is None:
                report.items.append(drift_item("deleted", entity))
            else:
                _edited(entity, row, report, labels)


def _edited(
    entity: ContactEntity, row: dict[str, Any], report: DriftReport, labels: dict[str, str]
) -> None:
    """Fields whose Emarsys value is no longer what we last sent (e-mail compared as
    e-mail: case and spaces do not count)."""
    changed = []
    for key, value in _sent(entity).items():
        have = row.get(key)
        if key == EMAIL:
            if str(have or "").strip().lower() != str(value or "").strip().lower():
                changed.append(key)
        elif not same(_text(have), _text(value)):
            changed.append(key)
    if changed:
        report.items.append(
            drift_item("edited", entity, fields=[labels.get(k, k) for k in changed])
        )


def _text(value: Any) -> Any:
    """getdata answers strings (lists for multichoice): compare in that form."""
    if value is None or value == "":
        return ""
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def drift_repair(profile: Profile, report: DriftReport) -> None:
    """Deleted → created again; edited → the edited fields re-sent; never linked → queued;
    duplicated → flagged for a person (merge them in Emarsys)."""
    for item in report.items:
        entities = ContactEntity.objects.filter(pk=item.entity_id).exclude(
            queue_status=QueueStatus.PROCESSING
        )
        entity = entities.first()
        if entity is None:
            continue
        metadata = dict(entity.metadata or {})
        if item.kind == "deleted":
            metadata.pop("sent", None)
            entities.update(
                remote_id="",
                last_payload_hash="",
                metadata=metadata,
                queue_status=QueueStatus.PENDING,
                next_attempt_at=None,
                attempts=0,
            )
            item.repair = "re-queued"
        elif item.kind == "edited":
            # Sent again in full (Magento is master for every field but the opt-in).
            entities.update(
                last_payload_hash="", queue_status=QueueStatus.PENDING, next_attempt_at=None
            )
            item.repair = "re-queued"
        elif item.kind == "unlinked":
            entities.update(queue_status=QueueStatus.PENDING, next_attempt_at=None)
            item.repair = "re-queued"
        elif item.kind == "duplicated" and linked_by_a_person(entities.first()):
            item.repair = "kept: linked by a person"
        else:
            entities.update(
                status=SyncStatus.AMBIGUOUS,
                queue_status=QueueStatus.FAILED,
                message={
                    "outcome": "drift",
                    "text": f"Drift check: Emarsys has more contacts with this e-mail "
                    f"({item.detail}); merge them in Emarsys, then retry.",
                },
            )
            item.repair = "flagged"
