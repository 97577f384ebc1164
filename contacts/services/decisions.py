"""A person decides who a contact is: link it to a chosen remote contact, make it secondary
(it never writes), or (FreeAgent) give it a contact of its own.

The admin's *Resolve* page and ``fa_contact import --link`` / ``emarsys_contact import
--link`` call these. Every decision is recorded on the contact (``metadata["identity"]``,
which the shared e-mail rule obeys) and in its history (a delivery attempt row, shown on
the explain page), and the contact is queued so the next run sends it accordingly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from connectors.errors import ConfigurationError, ConnectorError, NotFound
from contacts.models import ContactEntity, DeliveryAttempt, RemoteContact
from contacts.services.sharing import DECISION_KEY, SharedEmails, decision_of, labels
from profiles.models import Profile, QueueStatus, SyncStatus

FREEAGENT = "freeagent_contact_export"
EMARSYS = "emarsys_contact_sync"
CHOICES = ("link", "secondary", "separate")


class DecisionRefused(ConfigurationError):
    """The decision cannot be taken as asked (the message says why)."""


@dataclass
class Candidate:
    """A remote contact a person could be linked to, with its key fields."""

    remote_id: str
    label: str
    email: str
    status: str
    linked_to: list[str]  # person keys of this profile already linked to it


def _linked(profile: Profile, remote_id: str, *, besides: ContactEntity) -> list[ContactEntity]:
    return list(
        ContactEntity.objects.filter(profile=profile, remote_id=remote_id).exclude(pk=besides.pk)
    )


def link_candidates(*, profile: Profile, entity: ContactEntity) -> list[Candidate]:
    """The remote contacts this person could be: by e-mail (FreeAgent: the cache, hidden
    ones included; Emarsys: a live ``getdata``), plus the current link."""
    found: list[Candidate] = []
    if profile.type == FREEAGENT:
        assert profile.client is not None
        rows = RemoteContact.objects.filter(client=profile.client).filter(
            email_key=entity.email_key
        )
        if entity.remote_id:
            rows = rows | RemoteContact.objects.filter(client=profile.client, url=entity.remote_id)
        for row in rows.order_by("pk"):
            data = row.data or {}
            name = " ".join(
                str(data.get(k) or "") for k in ("first_name", "last_name") if data.get(k)
            )
            org = str(data.get("organisation_name") or "")
            found.append(
                Candidate(
                    remote_id=row.url,
                    label=" · ".join(p for p in (name, org) if p) or row.url,
                    email=str(data.get("email") or row.email_key),
                    status=row.status or "Active",
                    linked_to=[e.person_key for e in _linked(profile, row.url, besides=entity)],
                )
            )
        return found
    if profile.type == EMARSYS:
        from profiles.services.connections import emarsys_client

        assert profile.client is not None
        api = emarsys_client(profile.client)
        rows_by_id: dict[str, dict[str, Any]] = {}
        if entity.email_key:
            for hit in api.get_contacts([entity.email_key], key_id="3").rows:
                rows_by_id[str(hit["id"])] = hit
        if entity.remote_id and entity.remote_id not in rows_by_id:
            for hit in api.get_contacts([entity.remote_id], key_id="id").rows:
                rows_by_id[str(hit["id"])] = hit
        for rid, hit in rows_by_id.items():
            name = " ".join(str(hit.get(k) or "") for k in ("1", "2") if hit.get(k))
            found.append(
                Candidate(
                    remote_id=rid,
                    label=name or f"Emarsys contact {rid}",
                    email=str(hit.get("3") or ""),
                    status="opted out" if str(hit.get("31") or "") == "2" else "",
                    linked_to=[e.person_key for e in _linked(profile, rid, besides=entity)],
                )
            )
        return found
    raise DecisionRefused(f"Profile type {profile.type} has no contacts to link.")


def _remote_exists(profile: Profile, remote_id: str) -> str:
    """Check the chosen remote contact exists in the profile's account; its canonical id."""
    assert profile.client is not None
    try:
        if profile.type == FREEAGENT:
            from contacts.freeagent.cache import remote_contact_store
            from profiles.services.connections import freeagent_client

            contact = freeagent_client(profile.client).get_contact(remote_id)
            remote_contact_store(profile.client, contact)
            return str(contact["url"])
        from profiles.services.connections import emarsys_client

        rows = emarsys_client(profile.client).get_contacts([remote_id], key_id="id").rows
        if not rows:
            raise NotFound(f"emarsys: no contact with internal id {remote_id}")
        return str(rows[0]["id"])
    except NotFound as exc:
        raise DecisionRefused(f"{remote_id} does not exist in the account: {exc}") from exc
    except ConnectorError as exc:
        raise DecisionRefused(f"Could not check {remote_id}: {exc}") from exc


def entity_decide(
    *, profile: Profile, entity: ContactEntity, choice: str, remote_id: str = "", by: str
) -> str:
    """Record a person's decision on a contact and queue it; returns what was done.

    ``link`` needs ``remote_id`` (a FreeAgent contact URL or id, an Emarsys internal id)
    that no other contact of the profile is linked to; ``secondary`` needs another person
    sharing the e-mail; ``separate`` (FreeAgent only) gives the person a contact of its
    own. Raises :class:`DecisionRefused` with the reason otherwise.
    """
    if choice not in CHOICES:
        raise DecisionRefused(f"Choose one of {', '.join(CHOICES)}.")
    if entity.queue_status == QueueStatus.PROCESSING:
        raise DecisionRefused(f"{entity} is being exported right now; try again in a moment.")
    decision: dict[str, Any] = {"choice": choice, "by": by, "at": timezone.now().isoformat()}
    updates: dict[str, Any] = {}
    if choice == "link":
        if not remote_id:
            raise DecisionRefused("Name the remote contact to link.")
        if profile.type == FREEAGENT and remote_id.isdigit():
            base = profile.client.base_url if profile.client and profile.client.base_url else ""
            remote_id = f"{base.rstrip('/')}/contacts/{remote_id}" if base else remote_id
        remote_id = _remote_exists(profile, remote_id)
        taken = [e for e in _linked(profile, remote_id, besides=entity) if not _secondary(e)]
        if taken:
            raise DecisionRefused(
                f"{remote_id} is already the contact of {labels(taken)}; two people writing to "
                "one contact would mix their records. Make this one secondary instead, or "
                "link the other one elsewhere first."
            )
        decision["remote"] = remote_id
        updates["remote_id"] = remote_id
        text = f"Linked to {remote_id} by {by}."
    elif choice == "secondary":
        group = SharedEmails(profile, [entity]).groups.get(entity.email_key) or []
        owners = [e for e in group if e.pk != entity.pk and not _secondary(e)]
        if not owners:
            raise DecisionRefused(
                "Nobody else of this profile has this e-mail: there is no one to be secondary to."
            )
        decision["of"] = owners[0].person_key
        updates["remote_id"] = ""
        text = f"Made secondary to {labels(owners[:1])} by {by}: it never writes."
    else:
        if profile.type != FREEAGENT:
            raise DecisionRefused(
                "Emarsys keeps one contact per e-mail: a separate contact is not possible. "
                "Link one person and make the others secondary."
            )
        updates["remote_id"] = ""
        text = f"Given a FreeAgent contact of its own by {by} (created by the next run)."
    metadata = {**(entity.metadata or {}), DECISION_KEY: decision}
    with transaction.atomic():
        changed = (
            ContactEntity.objects.filter(pk=entity.pk)
            .exclude(queue_status=QueueStatus.PROCESSING)
            .update(
                metadata=metadata,
                queue_status=QueueStatus.PENDING,
                status=SyncStatus.NEW if choice != "secondary" else SyncStatus.SKIPPED,
                next_attempt_at=None,
                attempts=0,
                last_payload_hash="",  # the next run compares and sends everything
                message={"outcome": "decided", "text": text},
                **updates,
            )
        )
        if not changed:
            raise DecisionRefused(f"{entity} is being exported right now; try again.")
        DeliveryAttempt.objects.create(
            entity=entity,
            action="decision",
            outcome=choice,
            message=text,
            request={"decision": decision},
        )
        # The others sharing the e-mail are decided again against this decision.
        if entity.email_key:
            ContactEntity.objects.filter(
                profile=profile, email_key=entity.email_key, status=SyncStatus.AMBIGUOUS
            ).exclude(pk=entity.pk).exclude(queue_status=QueueStatus.PROCESSING).update(
                queue_status=QueueStatus.PENDING, next_attempt_at=None
            )
    entity.refresh_from_db()
    return text


def _secondary(entity: ContactEntity) -> bool:
    return decision_of(entity).get("choice") == "secondary"
