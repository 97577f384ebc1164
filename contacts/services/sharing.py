"""Shared e-mail addresses: several Magento people who would be one remote contact.

Magento can hold one e-mail several times (customer accounts shared per website, a guest
buyer of another website). FreeAgent and Emarsys match people by e-mail, so without a rule
two people silently become one remote contact with a mixed record. The profile decides
(settings ``shared_email`` and ``website_priority``):

* ``flag`` (default) — every person of the group is flagged *ambiguous*, naming the others
  and the remote contact; nothing is sent for any of them until someone decides (the
  admin's *Resolve* page, ``… import --link``) or the rule is changed;
* ``newest`` — the most recently updated person owns the remote contact; the others are
  *secondary*: linked to nobody, they never write a field. Once linked, the owner stays
  the owner (a later update of another person does not flip the contact);
* ``website_priority`` — the person of the first website in ``website_priority`` owns it
  (then the newest); the others are secondary.

A decision recorded on a contact (``metadata["identity"]``: linked by a person, or made
secondary) always stands over the rule.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from contacts.models import ContactEntity, Customer, GuestBuyer, Subscriber
from profiles.models import Profile, QueueStatus, SyncStatus
from profiles.pipeline import BatchContext, Outcome, WorkItem

FLAG, NEWEST, WEBSITE_PRIORITY = "flag", "newest", "website_priority"
RULES = (FLAG, NEWEST, WEBSITE_PRIORITY)
RULE_LABELS = {
    FLAG: "Flag them all as ambiguous and send nothing until someone decides (recommended)",
    NEWEST: "The most recently updated customer owns the contact; the others never write",
    WEBSITE_PRIORITY: "The customer of the first website in the priority list owns the "
    "contact (then the newest); the others never write",
}
DECISION_KEY = "identity"
CONFIG_KEYS = ("shared_email", "website_priority")

_EPOCH = datetime.min.replace(tzinfo=UTC)


def sharing_settings(settings: dict[str, Any] | None) -> tuple[str, list[int]]:
    """The profile's rule and website priority list (defaults: flag, none)."""
    settings = settings or {}
    rule = str(settings.get("shared_email") or FLAG)
    websites = [int(w) for w in settings.get("website_priority") or [] if str(w).isdigit()]
    return (rule if rule in RULES else FLAG), websites


def sharing_validate(settings: dict[str, Any] | None) -> dict[str, list[str]]:
    """Field-keyed errors of the two settings."""
    settings = settings or {}
    errors: dict[str, list[str]] = {}
    rule = settings.get("shared_email", FLAG)
    if rule not in RULES:
        errors["shared_email"] = [f"Choose one of {', '.join(RULES)}; got {rule!r}."]
    websites = settings.get("website_priority") or []
    if not isinstance(websites, list) or not all(str(w).strip().isdigit() for w in websites):
        errors["website_priority"] = ["A list of Magento website ids, e.g. [2, 1]."]
    elif rule == WEBSITE_PRIORITY and not websites:
        errors["website_priority"] = ["Name the websites in priority order, e.g. [2, 1]."]
    return errors


def sharing_from_config(values: dict[str, Any]) -> dict[str, Any]:
    """The two keys of a config file (``website_priority`` as ints)."""
    out: dict[str, Any] = {}
    if "shared_email" in values:
        out["shared_email"] = values["shared_email"]
    if "website_priority" in values:
        raw = values["website_priority"]
        items = raw.split(",") if isinstance(raw, str) else list(raw or [])
        out["website_priority"] = [
            int(str(w).strip()) if str(w).strip().isdigit() else w for w in items
        ]
    return out


def decision_of(entity: ContactEntity) -> dict[str, Any]:
    """A person's decision recorded on the contact (``{}`` when there is none)."""
    decision = (entity.metadata or {}).get(DECISION_KEY)
    return decision if isinstance(decision, dict) else {}


@dataclass
class Verdict:
    """What the rule says about one contact of a group sharing an e-mail."""

    kind: str  # "alone", "decided", "owner", "secondary", "flag"
    others: list[ContactEntity] = field(default_factory=list)
    owner: ContactEntity | None = None
    message: str = ""

    @property
    def sends(self) -> bool:
        return self.kind in ("alone", "decided", "owner")


def _label(entity: ContactEntity) -> str:
    kind, _, rest = entity.person_key.partition(":")
    if kind == "customer":
        return f"Magento customer {rest}"
    if kind == "subscriber":
        return f"Magento subscriber {rest}"
    if kind == "guest":
        website = rest.partition(":")[0]
        return f"guest buyer of website {website}"
    return entity.person_key


def labels(entities: Sequence[ContactEntity]) -> str:
    return ", ".join(_label(e) for e in entities)


class SharedEmails:
    """The groups of one batch: one query for the sharers, one per mirror table."""

    def __init__(self, profile: Profile, entities: Sequence[ContactEntity]) -> None:
        self.profile = profile
        self.rule, self.websites = sharing_settings(profile.settings)
        keys = {e.email_key for e in entities if e.email_key}
        self.groups: dict[str, list[ContactEntity]] = defaultdict(list)
        if keys:
            for other in ContactEntity.objects.filter(profile=profile, email_key__in=keys).order_by(
                "pk"
            ):
                self.groups[other.email_key].append(other)
        self._facts: dict[int, tuple[int | None, datetime]] = {}
        crowded = [g for g in self.groups.values() if len(g) > 1]
        if crowded and self.rule != FLAG:
            self._load_facts([e for g in crowded for e in g])

    def _load_facts(self, entities: list[ContactEntity]) -> None:
        """Website and last update of each person (for the owner rules)."""
        store = self.profile.source_client
        customers = {
            c.magento_id: c
            for c in Customer.objects.filter(
                store=store, magento_id__in=[e.customer_id for e in entities if e.customer_id]
            ).only("magento_id", "website_id", "magento_updated_at")
        }
        subscribers = {
            s.subscriber_id: s
            for s in Subscriber.objects.filter(
                store=store,
                subscriber_id__in=[e.subscriber_id for e in entities if e.subscriber_id],
            ).only("subscriber_id", "website_id", "magento_updated_at")
        }
        guests = {
            (g.website_id, g.email_normalized): g
            for g in GuestBuyer.objects.filter(
                store=store, email_normalized__in={e.email_key for e in entities}
            ).only("website_id", "email_normalized", "magento_updated_at")
        }
        for entity in entities:
            row: Any = None
            if entity.customer_id is not None:
                row = customers.get(entity.customer_id)
            elif entity.subscriber_id is not None:
                row = subscribers.get(entity.subscriber_id)
            elif entity.person_key.startswith("guest:"):
                website = entity.person_key.split(":")[1]
                row = guests.get((int(website) if website.isdigit() else None, entity.email_key))
            self._facts[entity.pk] = (
                getattr(row, "website_id", None),
                getattr(row, "magento_updated_at", None) or _EPOCH,
            )

    def _owner(self, group: list[ContactEntity]) -> ContactEntity | None:
        decided = [e for e in group if decision_of(e).get("choice") == "link"]
        if decided:
            return decided[0]
        if self.rule == FLAG:
            return None
        # Sticky: once the rule's owner is linked it stays the owner, so a later update of
        # another person never flips the contact to their data (a person can change it).
        linked = [e for e in group if e.remote_id and decision_of(e).get("choice") is None]
        group = linked or group

        def rank(entity: ContactEntity) -> tuple[Any, ...]:
            website, updated = self._facts.get(entity.pk, (None, _EPOCH))
            priority = (
                self.websites.index(website)
                if self.rule == WEBSITE_PRIORITY and website in self.websites
                else len(self.websites)
            )
            # Lower sorts first: website priority, then the newest, then the lowest id.
            return (priority, -updated.timestamp(), entity.pk)

        return min(group, key=rank)

    def verdict(self, entity: ContactEntity, *, remote: str = "") -> Verdict:
        """The rule's verdict on ``entity`` (``remote`` names the contact for messages)."""
        group = self.groups.get(entity.email_key) or []
        others = [e for e in group if e.pk != entity.pk]
        decision = decision_of(entity)
        if not others:
            return Verdict("alone")
        if decision.get("choice") == "secondary":
            owner = next((e for e in others if e.person_key == decision.get("of")), None)
            return Verdict(
                "secondary",
                others,
                owner,
                f"Secondary (decided by {decision.get('by') or 'a person'}): shares the e-mail "
                f"{entity.email_key} with {labels(others)}; nothing is written for it.",
            )
        if decision.get("choice") in ("link", "separate"):
            return Verdict("decided", others)
        owner = self._owner(group)
        where = f" ({remote})" if remote else ""
        if owner is None:
            return Verdict(
                "flag",
                others,
                None,
                f"{_label(entity).capitalize()} shares the e-mail {entity.email_key} with "
                f"{labels(others)}: they would be one remote contact{where} with a mixed "
                "record, so nothing was sent for any of them. Resolve it on this contact's "
                "page (or `import --link`), or choose a shared e-mail rule for the profile.",
            )
        if owner.pk == entity.pk:
            return Verdict("owner", others, owner)
        why = (
            "linked by a person"
            if decision_of(owner).get("choice") == "link"
            else f"rule '{self.rule}'"
        )
        return Verdict(
            "secondary",
            others,
            owner,
            f"Secondary: shares the e-mail {entity.email_key} with {_label(owner)}, who owns "
            f"the remote contact ({why}); nothing is written for this person.",
        )


def flag_group(verdict: Verdict, entity: ContactEntity, *, exclude: Sequence[int] = ()) -> int:
    """Flag the other people of ``entity``'s group (not in flight, not decided), each with
    a message naming the others, so all of them show as needing a decision."""
    group = [*verdict.others, entity]
    flagged = 0
    for other in verdict.others:
        if other.pk in exclude or decision_of(other):
            continue
        rest = [e for e in group if e.pk != other.pk]
        text = (
            f"{_label(other).capitalize()} shares the e-mail {other.email_key} with "
            f"{labels(rest)}: they would be one remote contact with a mixed record, so "
            "nothing was sent for any of them. Resolve it on this contact's page (or "
            "`import --link`), or choose a shared e-mail rule for the profile."
        )
        flagged += (
            ContactEntity.objects.filter(pk=other.pk)
            .exclude(queue_status=QueueStatus.PROCESSING)
            .update(
                status=SyncStatus.AMBIGUOUS,
                queue_status=QueueStatus.FAILED,
                message={"outcome": "ambiguous", "text": text},
            )
        )
    return flagged


def sharing_applies(
    ctx: BatchContext, item: WorkItem, shared: SharedEmails, in_batch: Sequence[int]
) -> bool:
    """Apply the profile's shared e-mail rule to one item of a batch (the generators of
    both profile types call this first); False when the rule finished the item."""
    verdict = shared.verdict(item.entity, remote=item.entity.remote_id)
    if verdict.kind == "flag":
        item.finish(
            Outcome.AMBIGUOUS, verdict.message, sharing=[e.person_key for e in verdict.others]
        )
        if not ctx.dry_run:
            flag_group(verdict, item.entity, exclude=in_batch)
        return False
    if verdict.kind == "secondary":
        owner = verdict.owner.person_key if verdict.owner else None
        item.finish(Outcome.SKIPPED, verdict.message, secondary_of=owner)
        return False
    return True


def sharing_note(profile: Profile, entity: ContactEntity) -> str | None:
    """The explain page's line about a shared e-mail (None when the person is alone)."""
    verdict = SharedEmails(profile, [entity]).verdict(entity, remote=entity.remote_id)
    if verdict.kind == "alone":
        return None
    if verdict.kind == "owner":
        return (
            f"Shares the e-mail {entity.email_key} with {labels(verdict.others)}; this person "
            f"owns the remote contact (rule '{sharing_settings(profile.settings)[0]}')."
        )
    if verdict.kind == "decided":
        decision = decision_of(entity)
        return (
            f"Shares the e-mail {entity.email_key} with {labels(verdict.others)}; "
            f"{decision.get('by') or 'a person'} decided: {decision.get('choice')} "
            f"{decision.get('remote') or ''} ({decision.get('at') or ''})."
        )
    return verdict.message
