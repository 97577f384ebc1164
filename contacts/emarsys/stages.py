"""The pipeline stages of ``emarsys_contact_sync``.

Generator "Contact Data" (10) builds each person's Emarsys fields from the mirror and skips
the unchanged; processor "Contact Upsert" (40) writes the batch (:mod:`.upsert`);
post-processor "Queue & Log" (100) is the framework's, with the failsafe queue: a transient
failure always waits for the next background runtime (up to *Maximum retry attempts*).
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.utils import timezone

from contacts.emarsys import config
from contacts.emarsys.collect import STORES_STATE
from contacts.emarsys.fields import Schema
from contacts.emarsys.mapping import (
    EMAIL,
    Content,
    customer_content,
    subscriber_content,
)
from contacts.emarsys.upsert import Upserter
from contacts.models import Customer, Subscriber
from profiles.pipeline import BatchContext, Generator, Outcome, Processor, QueueAndLog, WorkItem


def person_content(
    *,
    customer: Customer | None,
    subscriber: Subscriber | None,
    customer_id: int | None,
    schema: Schema,
    settings: dict[str, Any],
    stores: dict[str, Any],
) -> Content | None:
    """The Emarsys fields of one person (None when Magento no longer has them)."""
    types = config.types_of(settings["export_types"])
    optin_map = settings["optin_map"]
    if customer is not None and ("customers" in types or subscriber is None):
        return customer_content(
            customer.raw,
            rows=schema.rows,
            identity=schema.identity,
            optin_map=optin_map,
            subscriber_id=subscriber.subscriber_id if subscriber else None,
            subscriber_status=subscriber.subscriber_status if subscriber else None,
            choices=schema.choices,
            stores=stores,
        )
    if subscriber is not None:
        return subscriber_content(
            email=subscriber.email,
            status=subscriber.subscriber_status,
            subscriber_id=subscriber.subscriber_id,
            identity=schema.identity,
            optin_map=optin_map,
            firstname=subscriber.firstname,
            lastname=subscriber.lastname,
            customer_id=customer_id,
        )
    return None


class ContactData(Generator):
    """Build the contact's fields; unchanged since the last sync → no API call at all."""

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
        for warning in schema.warnings:
            ctx.log(warning, level="warning")
        for item in open_items:
            entity = item.entity
            content = person_content(
                customer=customers.get(entity.customer_id),
                subscriber=subscribers.get(entity.subscriber_id),
                customer_id=entity.customer_id,
                schema=schema,
                settings=settings,
                stores=stores,
            )
            if content is None:
                item.finish(
                    Outcome.SKIPPED,
                    "No longer in Magento (deleted); the Emarsys contact is kept as it is.",
                )
                continue
            if not content.fields.get(EMAIL):
                item.finish(Outcome.FAILED, "The Magento record has no e-mail address.")
                continue
            item.context["content"] = content
            item.payload = content.to_send(known=bool(entity.remote_id))
            item.payload_hash = content.digest()
            if content.warnings:
                item.details["warnings"] = content.warnings
            if entity.remote_id and item.payload_hash == entity.last_payload_hash:
                item.finish(Outcome.UNCHANGED, "No change since the last sync.")


class ContactUpsert(Processor):
    """Create or update the batch's contacts in Emarsys (≤ 1,000 per call)."""

    name = "Contact Upsert"
    sort_order = 40

    def process(self, ctx: BatchContext, items: Sequence[WorkItem]) -> None:
        upserter: Upserter = ctx.shared["upserter"]
        upserter.write(items)


class FailsafeQueueAndLog(QueueAndLog):
    """ "Queue & Log" with the failsafe queue: transient failures are always kept for a
    retry at the next background runtime, up to the profile's maximum attempts."""

    def process(self, ctx: BatchContext, items: Sequence[WorkItem]) -> None:
        profile = copy.copy(ctx.profile)
        profile.enable_retry_on_failure = True  # the failsafe queue is the mode's promise
        super().process(dataclasses.replace(ctx, profile=profile), items)

    def retry_schedule(self, ctx: BatchContext, item: WorkItem, now: Any) -> tuple[Any, str]:
        when: datetime = config.next_runtime(ctx.profile.settings, timezone.localtime(now))
        return when, "failsafe queue: retried at the background runtime"
