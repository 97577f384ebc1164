"""Settings changes re-evaluate existing contacts.

The settings that shape what a contact gets — the field mapping, the opt-in map, the
contacts to export and the contact list names — are remembered as the profile last applied
them. At the next collection, a change queues exactly the contacts it can change:

* mapping, opt-in map, export types → every contact that is not queued already (the run
  then sends each only the fields whose values change, and nothing to the others);
* a list name → the contacts added to the old list, to be added to the new one.

The admin asks for confirmation with :func:`reevaluation_preview` before saving.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from contacts.emarsys import config
from contacts.models import ContactEntity
from profiles.models import Profile, QueueStatus
from profiles.services.bulk import rows_update

STATE_KEY = "applied_settings"
PAYLOAD_KEYS = ("field_mapping", "optin_map", "export_types", "shared_email", "website_priority")
LIST_KEYS = {"customers": "customers_list", "subscribers": "subscribers_list"}
LISTED = "listed"  # entity metadata: {kind: the list name the contact was added to}


def applied(settings: dict[str, Any] | None) -> dict[str, Any]:
    """The settings that shape what is sent, normalised for comparison."""
    s = config.effective(settings)
    keys = (*PAYLOAD_KEYS, *LIST_KEYS.values())
    return json.loads(json.dumps({k: s[k] for k in keys}, sort_keys=True, default=str))


def _digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


def _changes(before: dict[str, Any], after: dict[str, Any]) -> tuple[bool, list[str]]:
    payload = any(_digest(before.get(k)) != _digest(after.get(k)) for k in PAYLOAD_KEYS)
    kinds = [
        kind
        for kind, key in LIST_KEYS.items()
        if str(before.get(key) or "").strip() != str(after.get(key) or "").strip()
    ]
    return payload, kinds


def _requeue(profile: Profile) -> Any:
    return ContactEntity.objects.filter(
        profile=profile, queue_status__in=[QueueStatus.COMPLETE, QueueStatus.FAILED]
    )


def _listed(profile: Profile, kind: str, name: str) -> Any:
    key = f"metadata__{LISTED}__{kind}"
    return (
        ContactEntity.objects.filter(profile=profile)
        .filter(**{f"{key}__isnull": False})
        .exclude(**{key: name})
        .exclude(queue_status=QueueStatus.PROCESSING)
    )


def reevaluation_preview(*, profile: Profile, settings: dict[str, Any]) -> tuple[int, list[str]]:
    """How many contacts a change to ``settings`` re-evaluates, and what changed (for the
    admin's confirmation); ``(0, [])`` when nothing that shapes a contact changed."""
    if not profile.pk:
        return 0, []
    before = (profile.state or {}).get(STATE_KEY) or applied(
        Profile.objects.only("settings").get(pk=profile.pk).settings
    )
    after = applied(settings)
    payload, kinds = _changes(before, after)
    what = [k.replace("_", " ") for k in PAYLOAD_KEYS if before.get(k) != after.get(k)]
    what += [f"{kind} list name" for kind in kinds]
    if payload:
        return _requeue(profile).count() + _pending(profile), what
    count = sum(_listed(profile, k, str(after[LIST_KEYS[k]])).count() for k in kinds)
    return count, what


def _pending(profile: Profile) -> int:
    return ContactEntity.objects.filter(
        profile=profile, queue_status__in=[QueueStatus.PENDING, QueueStatus.RETRY]
    ).count()


def settings_reevaluate(*, profile: Profile) -> int:
    """Queue the contacts a settings change affects (see the module docstring); returns
    how many were queued. The first call only remembers the settings."""
    state = dict(Profile.objects.only("state").get(pk=profile.pk).state or {})
    after = applied(profile.settings)
    before = state.get(STATE_KEY)
    if before == after:
        return 0
    queued = 0
    if before is not None:
        payload, kinds = _changes(before, after)
        if payload:
            queued += _requeue(profile).update(
                queue_status=QueueStatus.PENDING, next_attempt_at=None, attempts=0
            )
        for kind in kinds:
            queued += _relist(profile, kind, str(after[LIST_KEYS[kind]]).strip())
    state[STATE_KEY] = after
    Profile.objects.filter(pk=profile.pk).update(state=state)
    profile.state = state
    return queued


def _relist(profile: Profile, kind: str, name: str) -> int:
    """Contacts added to the old list of ``kind`` are queued to be added to the new one."""
    if not name:
        return 0
    changed = []
    for entity in _listed(profile, kind, name).only("pk", "metadata", "queue_status"):
        metadata = dict(entity.metadata or {})
        metadata["lists"] = sorted({*(metadata.get("lists") or []), kind})
        entity.metadata = metadata
        entity.queue_status = QueueStatus.PENDING
        entity.next_attempt_at = None
        changed.append(entity)
    rows_update(ContactEntity, changed, ["metadata", "queue_status", "next_attempt_at"])
    return len(changed)
