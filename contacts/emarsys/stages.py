"""The pipeline stages of ``emarsys_contact_sync``.

Generator "Contact Data" (10) builds each person's Emarsys fields from the mirror and skips
the unchanged; processor "Contact Upsert" (40) writes the batch (:mod:`.upsert`);
post-processor "Queue & Log" (100) is the framework's, with the failsafe queue: a transient
failure waits for the next background runtime (when automatic retry is on, up to
*Maximum retry attempts*).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.db.models import F
from django.utils import timezone

from contacts.emarsys import config, consent
from contacts.emarsys.collect import STORES_STATE
from contacts.emarsys.fields import Schema
from contacts.emarsys.mapping import (
    EMAIL,
    Content,
    customer_content,
    subscriber_content,
)
from contacts.emarsys.upsert import Upserter
from contacts.models import Customer, GuestBuyer, Subscriber
from contacts.services.sharing import SharedEmails, sharing_applies
from contacts.text import CLEANED_KEY, email_problem
from profiles.pipeline import BatchContext, Generator, Outcome, Processor, QueueAndLog, WorkItem
from profiles.services.pause import items_pause


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def person_content(
    *,
    customer: Customer | None,
    subscriber: Subscriber | None,
    customer_id: int | None,
    schema: Schema,
    settings: dict[str, Any],
    stores: dict[str, Any],
    guest_names: tuple[str, str] = ("", ""),
) -> Content | None:
    """The Emarsys fields of one person (None when Magento no longer has them).

    A subscriber's names come from their customer record, else (a guest) from their most
    recent order (``guest_names``): Magento's subscriber table holds none.
    """
    types = config.types_of(settings["export_types"])
    if customer is not None and ("customers" in types or subscriber is None):
        return customer_content(
            customer.raw,
            rows=schema.rows,
            identity=schema.identity,
            subscriber_id=subscriber.subscriber_id if subscriber else None,
            subscriber_status=subscriber.subscriber_status if subscriber else None,
            subscriber_changed_at=_iso(subscriber.magento_updated_at) if subscriber else None,
            choices=schema.choices,
            stores=stores,
        )
    if subscriber is not None:
        first, last = subscriber.firstname, subscriber.lastname
        if customer is not None:
            first, last = customer.firstname or first, customer.lastname or last
        else:
            first, last = first or guest_names[0], last or guest_names[1]
        return subscriber_content(
            email=subscriber.email,
            status=subscriber.subscriber_status,
            subscriber_id=subscriber.subscriber_id,
            identity=schema.identity,
            firstname=first,
            lastname=last,
            customer_id=customer_id,
            changed_at=_iso(subscriber.magento_updated_at),
        )
    return None


class GuestNames:
    """First and last name of guest subscribers, from their most recent guest order: on
    the subscriber's own website when it has one there, else on any (one query)."""

    def __init__(self, store: Any, emails: Sequence[str]) -> None:
        self.by_website: dict[tuple[str, int | None], tuple[str, str]] = {}
        self.by_email: dict[str, tuple[str, str]] = {}
        rows = (
            GuestBuyer.objects.filter(store=store, email_normalized__in=set(emails))
            .order_by(
                "email_normalized",
                F("magento_updated_at").desc(nulls_last=True),
                "-last_order_id",
                "-pk",
            )
            .values_list("email_normalized", "website_id", "firstname", "lastname")
        )
        for email, website_id, first, last in rows:
            if first or last:
                self.by_website.setdefault((email, website_id), (first, last))
                self.by_email.setdefault(email, (first, last))

    def of(self, email: str, website_id: int | None) -> tuple[str, str]:
        return self.by_website.get((email, website_id)) or self.by_email.get(email, ("", ""))


def _cleaned_fields(customer: Customer | None, subscriber: Subscriber | None) -> list[str]:
    return [
        path
        for row in (customer, subscriber)
        if row is not None
        for path in (row.raw or {}).get(CLEANED_KEY) or []
    ]


class ContactData(Generator):
    """Build the contact's fields; unchanged since the last sync → no API call at all.

    The opt-in is not part of the fields: each item carries the Magento side and the
    agreed base (:mod:`contacts.emarsys.consent`); the processor reads Emarsys' value
    before it sends an opt-in.
    """

    name = "Contact Data"
    sort_order = 10

    def process(self, ctx: BatchContext, items: Sequence[WorkItem]) -> None:
        schema: Schema = ctx.shared["schema"]
        settings = config.effective(ctx.profile.settings)
        stores = (ctx.profile.state or {}).get(STORES_STATE) or {}
        store = ctx.profile.source_client
        open_items = [i for i in items if not i.done]
        customers = {
            c.magento_id: c
            for c in Customer.objects.filter(
                store=store,
                magento_id__in=[i.entity.customer_id for i in open_items if i.entity.customer_id],
            )
        }
        subscribers = {
            s.subscriber_id: s
            for s in Subscriber.objects.filter(
                store=store,
                subscriber_id__in=[
                    i.entity.subscriber_id for i in open_items if i.entity.subscriber_id
                ],
            )
        }
        guests = GuestNames(
            store,
            [
                s.email_normalized
                for s in subscribers.values()
                if s.customer_magento_id is None and s.email_normalized
            ],
        )
        for warning in schema.warnings:
            ctx.log(warning, level="warning")
        shared = SharedEmails(ctx.profile, [i.entity for i in items])
        in_batch = [i.entity.pk for i in items]
        for item in open_items:
            entity = item.entity
            if not sharing_applies(ctx, item, shared, in_batch):
                continue
            subscriber = subscribers.get(entity.subscriber_id)
            content = person_content(
                customer=customers.get(entity.customer_id),
                subscriber=subscriber,
                customer_id=entity.customer_id,
                schema=schema,
                settings=settings,
                stores=stores,
                guest_names=guests.of(subscriber.email_normalized, subscriber.website_id)
                if subscriber is not None
                else ("", ""),
            )
            if content is None:
                item.finish(
                    Outcome.SKIPPED,
                    "No longer in Magento (deleted); the Emarsys contact is kept as it is.",
                )
                continue
            problem = email_problem(str(content.fields.get(EMAIL) or ""))
            if problem:
                item.finish(Outcome.FAILED, f"e-mail (field 3): {problem}", field="3")
                continue
            cleaned = _cleaned_fields(customers.get(entity.customer_id), subscriber)
            if cleaned:
                content.warnings.append(
                    f"Magento's {', '.join(cleaned)} held characters no system can store "
                    "(NUL, control characters, invalid Unicode); they were removed."
                )
            base = consent.Base.of(entity.metadata)
            magento = consent.Magento(content.status, content.changed_at)
            wants = consent.wants_to_send(base, magento, settings["optin_map"])
            item.context["content"] = content
            item.context["consent"] = (base, magento, wants)
            item.payload = content.to_send(known=bool(entity.remote_id))
            item.payload_hash = content.digest()
            if content.warnings:
                item.details["warnings"] = content.warnings
            if entity.remote_id and item.payload_hash == entity.last_payload_hash and not wants:
                item.context["decision"] = consent.Decision(
                    send=None, write_status=None, base=consent.adopt(base, magento)
                )
                item.finish(Outcome.UNCHANGED, "No change since the last sync.")


class ContactUpsert(Processor):
    """Create or update the batch's contacts in Emarsys (≤ 1,000 per call)."""

    name = "Contact Upsert"
    sort_order = 40

    def process(self, ctx: BatchContext, items: Sequence[WorkItem]) -> None:
        upserter: Upserter = ctx.shared["upserter"]
        upserter.write(items)
        if upserter.broken and ctx.profile.client is not None:
            # Refused credentials: the contacts wait for the reconnect, not the failsafe.
            items_pause(items, ctx.profile.client, upserter.broken.removeprefix("Not sent: "))


class FailsafeQueueAndLog(QueueAndLog):
    """ "Queue & Log" with the failsafe queue: with *Enable automatic retry on failure* on
    (the default of this type), transient failures wait for the next background runtime,
    up to *Maximum retry attempts*; with it off they fail at once with the reason."""

    def retry_schedule(self, ctx: BatchContext, item: WorkItem, now: Any) -> tuple[Any, str]:
        when: datetime = config.next_runtime(ctx.profile.settings, timezone.localtime(now))
        return when, "failsafe queue: retried at the background runtime"
