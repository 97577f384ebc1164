"""Contact resolution and payload generation: who is this person in FreeAgent, and what
would we send? No writes to FreeAgent happen here.

Order (DESIGN §4): the stored remote URL → the contacts cache matched by normalised e-mail
(also the e-mail of an unfinished create, after a crash) → none (create). Two or more
active FreeAgent contacts with the e-mail are reported as ambiguous, never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from contacts.freeagent.cache import remote_contact_get, remote_contacts_by_email
from contacts.freeagent.mapping import contact_payload, field_changes, field_diff, payload_hash
from contacts.models import ContactEntity, Customer, GuestBuyer, RemoteContact
from contacts.people import Person, email_key, person_from_customer, person_from_guest
from contacts.services.sharing import decision_of
from contacts.text import CLEANED_KEY
from profiles.models import ApiBehaviour, Client, Profile
from profiles.pipeline import Outcome, WorkItem


class SourceMissing(LookupError):
    pass


def _guest_key(key: str) -> tuple[str, int | None]:
    website, _, mail = key.partition(":")
    return mail, int(website) if website not in ("", "None") else None


@dataclass
class BatchLookups:
    """What resolving a batch reads, read once for the whole batch: the mirror rows of its
    people and the cached FreeAgent contacts they can be (by link and by e-mail)."""

    customers: dict[int, Customer] = field(default_factory=dict)
    guests: dict[tuple[str, int | None], GuestBuyer] = field(default_factory=dict)
    by_url: dict[str, RemoteContact] = field(default_factory=dict)
    by_email: dict[str, list[RemoteContact]] = field(default_factory=dict)

    @classmethod
    def load(cls, profile: Profile, entities: list[ContactEntity]) -> BatchLookups:
        store, client = profile.source_client, profile.client
        customer_ids, guest_mails = [], set()
        for entity in entities:
            kind, _, key = entity.person_key.partition(":")
            if kind == "customer" and key.isdigit():
                customer_ids.append(int(key))
            elif kind == "guest":
                guest_mails.add(_guest_key(key)[0])
        found = cls()
        found.customers = {
            c.magento_id: c
            for c in Customer.objects.filter(store=store, magento_id__in=customer_ids)
        }
        found.guests = {
            (g.email_normalized, g.website_id): g
            for g in GuestBuyer.objects.filter(
                store=store, email_normalized__in=sorted(guest_mails)
            )
        }
        emails = {c.email_normalized for c in found.customers.values()}
        emails |= {g.email_normalized for g in found.guests.values()}
        emails |= {email_key(entity_intent(e).get("email")) for e in entities}
        urls = sorted({e.remote_id for e in entities if e.remote_id})
        remote = RemoteContact.objects.filter(client=client)
        found.by_url = {r.url: r for r in remote.filter(url__in=urls)}
        for row in remote.filter(email_key__in=sorted(k for k in emails if k)).order_by("pk"):
            found.by_email.setdefault(row.email_key, []).append(row)
        return found


def person_for_entity(
    profile: Profile, entity: ContactEntity, lookups: BatchLookups | None = None
) -> tuple[Person, dict[str, Any]]:
    """The mirrored Magento data behind an entity, as a Person (+ the raw source)."""
    kind, _, key = entity.person_key.partition(":")
    store = profile.source_client
    if kind == "customer":
        if lookups is not None:
            customer = lookups.customers.get(int(key)) if key.isdigit() else None
        else:
            customer = Customer.objects.filter(store=store, magento_id=int(key)).first()
        if customer is None:
            raise SourceMissing(f"Magento customer {key} is not in the local mirror")
        return person_from_customer(customer.raw), customer.raw
    if kind == "guest":
        mail, website_id = _guest_key(key)
        if lookups is not None:
            guest = lookups.guests.get((mail, website_id))
        else:
            guest = GuestBuyer.objects.filter(
                store=store, email_normalized=mail, website_id=website_id
            ).first()
        if guest is None:
            raise SourceMissing(f"guest buyer {mail} is not in the local mirror")
        return person_from_guest(guest.raw, website_id=guest.website_id), guest.raw
    raise SourceMissing(f"unknown person key {entity.person_key!r}")


def entity_intent(entity: ContactEntity) -> dict[str, Any]:
    """The create recorded before a POST whose outcome was never written (if any)."""
    intent: dict[str, Any] = (entity.metadata or {}).get("create_intent") or {}
    return intent


@dataclass
class Resolution:
    target: RemoteContact | None = None
    ambiguous: list[RemoteContact] = field(default_factory=list)
    hidden_matches: list[RemoteContact] = field(default_factory=list)
    how: str = ""


def contact_resolve(
    *, client: Client, entity: ContactEntity, email: str, lookups: BatchLookups | None = None
) -> Resolution:
    """Find the FreeAgent contact of this entity in the cache (see module docstring)."""
    if entity.remote_id:
        if lookups is not None:
            cached = lookups.by_url.get(entity.remote_id)
        else:
            cached = remote_contact_get(client, entity.remote_id)
        if cached is not None:
            return Resolution(target=cached, how="stored link")
        # Linked but not cached (yet): the processor fetches it by URL.
        return Resolution(
            target=RemoteContact(client=client, url=entity.remote_id, data={}), how="stored link"
        )
    if decision_of(entity).get("choice") == "separate":
        # A person decided this one gets a contact of its own, whoever shares the e-mail.
        return Resolution(how="new (a separate contact, decided by a person)")
    emails = {email_key(email)}
    intent = entity_intent(entity)
    if intent.get("email"):
        emails.add(email_key(intent["email"]))
    matches: list[RemoteContact] = []
    hidden: list[RemoteContact] = []
    for key in sorted(e for e in emails if e):
        if lookups is not None:
            rows = lookups.by_email.get(key, [])
            found = [r for r in rows if r.status != "Hidden"]
            hidden += [r for r in rows if r.status == "Hidden"]
        else:
            found = remote_contacts_by_email(client, key)
        matches += [m for m in found if m not in matches]
    if len(matches) == 1:
        how = "unfinished create reconciled" if intent else "matched by e-mail"
        return Resolution(target=matches[0], how=how)
    if len(matches) > 1:
        return Resolution(ambiguous=matches, how="ambiguous")
    if lookups is None:
        hidden = list(
            RemoteContact.objects.filter(client=client, email_key__in=emails, status="Hidden")
        )
    return Resolution(hidden_matches=hidden, how="new")


NEW_CONTACT_OPTIONS = ("charge_sales_tax",)


def new_contact_defaults(settings: dict[str, Any] | None) -> dict[str, str]:
    """The profile's values for new FreeAgent contacts (FreeAgent's own default if unset)."""
    chosen = dict((settings or {}).get("new_contacts") or {})
    return {k: str(chosen[k]) for k in NEW_CONTACT_OPTIONS if chosen.get(k)}


def contact_generate(
    *,
    profile: Profile,
    item: WorkItem,
    store_locales: dict[int, str],
    dry_run: bool,
    lookups: BatchLookups | None = None,
) -> None:
    """Generator "Contact Data": resolve, build the payload, and decide the action.

    Leaves ``item.context["action"]`` as ``create`` or ``update`` (with ``item.payload`` the
    fields to send) or finishes the item (unchanged, skipped, failed, ambiguous).
    """
    entity: ContactEntity = item.entity
    client = profile.client
    assert client is not None
    try:
        person, _raw = person_for_entity(profile, entity, lookups)
    except SourceMissing as exc:
        item.finish(Outcome.FAILED, str(exc))
        return
    locale = store_locales.get(person.store_id) if person.store_id is not None else None
    mapped = contact_payload(person, store_locale=locale)
    if not mapped.ok:
        item.finish(Outcome.FAILED, mapped.error_message(), field_errors=mapped.errors)
        return
    cleaned = (_raw or {}).get(CLEANED_KEY)
    if cleaned:
        item.details["warnings"] = [
            f"Magento's {', '.join(cleaned)} held characters no system can store (NUL, "
            "control characters, invalid Unicode); they were removed."
        ]
    payload = mapped.payload
    digest = payload_hash(payload)
    item.payload_hash = digest
    resolution = contact_resolve(client=client, entity=entity, email=person.email, lookups=lookups)
    intent = entity_intent(entity)
    item.context.update(full_payload=payload, resolution=resolution.how)
    if resolution.ambiguous:
        urls = ", ".join(m.url for m in resolution.ambiguous)
        item.finish(
            Outcome.AMBIGUOUS,
            f"FreeAgent already has {len(resolution.ambiguous)} active contacts with the "
            f"e-mail {person.email}: {urls}. Hide the duplicates in FreeAgent or link one "
            f"with `fa_contact import`; nothing was sent.",
            candidates=[m.url for m in resolution.ambiguous],
        )
        return
    target = resolution.target
    behaviour = profile.api_behaviour
    if target is None:
        if behaviour == ApiBehaviour.UPDATE:
            item.finish(
                Outcome.SKIPPED,
                "Not in FreeAgent, and the API behaviour is 'Update Existing'.",
            )
            return
        item.context["action"] = "create"
        # What a new contact starts with (set once: later edits in FreeAgent stand, and
        # it is not part of the payload compared on later runs).
        payload = {**payload, **new_contact_defaults(profile.settings)}
        item.payload = payload
        warnings = [
            f"would create — possible duplicate of hidden contact {m.url}"
            for m in resolution.hidden_matches
        ]
        item.details.update(action="create", payload=payload, changes=field_changes(payload, None))
        if warnings:
            item.details["warnings"] = warnings
        return
    item.remote_id = target.url
    item.context["target_url"] = target.url
    if intent and not dry_run:
        # An unfinished create turned out to have reached FreeAgent: link it for good.
        metadata = {k: v for k, v in entity.metadata.items() if k != "create_intent"}
        ContactEntity.objects.filter(pk=entity.pk).update(remote_id=target.url, metadata=metadata)
        entity.metadata = metadata
    if entity.remote_id == target.url and entity.last_payload_hash == digest and target.data:
        item.finish(Outcome.UNCHANGED, "Nothing changed since the last export.")
        return
    if behaviour == ApiBehaviour.CREATE:
        item.finish(
            Outcome.SKIPPED,
            f"Already in FreeAgent ({resolution.how}: {target.url}); the API behaviour is "
            "'Create New', so it was linked but not updated.",
        )
        item.payload_hash = None  # not sent: compare again if the behaviour changes
        return
    item.context["action"] = "update"
    item.context["remote"] = target.data or None
    if target.data:
        changes = field_diff(payload, target.data)
        item.details.update(
            action="update",
            payload=payload,
            changes=field_changes(payload, target.data),
            matched=resolution.how,
        )
        if not changes:
            item.finish(Outcome.UNCHANGED, f"FreeAgent already matches ({resolution.how}).")
            return
        item.payload = changes
    else:
        item.payload = payload  # the processor fetches the record and narrows the diff
