"""The reconcile pass: every subscription on both sides, compared and brought into step.

Incremental reads cannot see everything: Magento does not move a customer's
``updated_at`` when their newsletter status changes (the ``customers`` source), rows
written straight into ``newsletter_subscriber`` carry no change time (``sql``), and
Emarsys' change export leaves out imports. So, at the latest once a day (after the opt-in
back-sync at the background runtime) and on demand, this pass reads:

1. **Magento** — every subscription, by the client's source: customers' ``is_subscribed``
   flags (``customers``: ids and flags only, 300 per request, keyset-paged), or every
   subscriber row (``rest``: 1,000 per request; ``sql``: one keyset query per 1,000).
   Changed rows are mirrored and their people queued for export; a subscriber row that no
   longer exists counts as unsubscribed.
2. **Emarsys** — the Opt-In of every contact of the profile, ``getdata`` by internal id,
   1,000 per request; each is decided by the two-way rule (:mod:`.consent`).

Memory stays bounded: one page at a time, plus the set of subscriber ids seen (integers).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone

from connectors.errors import ConnectorError
from connectors.http import call_with_retries
from connectors.magento.client import KeysetPager
from contacts.emarsys.collect import SubscriberIndex, queue_customers, queue_subscriber
from contacts.emarsys.mapping import OPT_IN
from contacts.emarsys.optin import (
    Magento,
    OptInSyncResult,
    magento_for,
    optin_apply,
    optin_record,
)
from contacts.models import ContactEntity, Customer, Subscriber
from contacts.services.entities import entities_in_chunks
from contacts.services.mirror import source_hash, subscriber_upsert
from profiles.models import Profile, RunTrigger
from profiles.services.bulk import rows_update
from profiles.services.connections import emarsys_client

logger = logging.getLogger("contactsync.emarsys_contact_sync")

CUSTOMER_FIELDS = "items[id,email,updated_at,extension_attributes[is_subscribed]],total_count"
CUSTOMER_PAGE = 300  # Magento's largest page with input limits on
SUBSCRIBER_CHUNK = 1000
EMARSYS_CHUNK = 1000


def emarsys_reconcile(
    *,
    profile: Profile,
    trigger: str = RunTrigger.BUTTON,
    sleep: Callable[[float], None] = time.sleep,
) -> OptInSyncResult:
    """Run the reconcile pass (see the module docstring); recorded as a finished Run."""
    assert profile.client is not None
    assert profile.source_client is not None
    started = timezone.now()
    result = OptInSyncResult()
    try:
        magento = magento_for(profile)
        if magento.fresh_customers:
            read, changed = _customer_flags(profile, magento, sleep)
        else:
            read, changed = _subscriber_rows(profile, magento)
    except ConnectorError as exc:
        result.failed += 1
        result.lines.append(("error", f"Magento's subscriptions could not be read: {exc}"))
        result.run = optin_record(profile, trigger, started, result, job="reconcile")
        return result
    result.lines.append(
        ("info", f"Magento: {read} subscription(s) read, {changed} changed since the last sync.")
    )
    # The Magento side is fresh now: no per-contact reads below.
    magento.fresh_customers = False
    try:
        _emarsys_optins(profile, magento, result, sleep)
    except ConnectorError as exc:
        result.failed += 1
        result.lines.append(("error", f"Emarsys' opt-ins could not be read: {exc}"))
    result.run = optin_record(
        profile,
        trigger,
        started,
        result,
        job="reconcile",
        extra=f"{read} Magento subscription(s) read, {changed} changed; ",
    )
    return result


# -- Magento ------------------------------------------------------------------------------------


def _customer_flags(
    profile: Profile, magento: Magento, sleep: Callable[[float], None]
) -> tuple[int, int]:
    """Every customer's ``is_subscribed`` against the mirror; changed ones queued."""
    store = profile.source_client
    assert store is not None
    pager = KeysetPager(
        lambda criteria: call_with_retries(
            lambda: magento.api.search_customers(criteria, fields=CUSTOMER_FIELDS), sleep=sleep
        ),
        since=None,
        id_field="entity_id",
        id_key="id",
        page_size=CUSTOMER_PAGE,
        overlap_seconds=0,
    )
    read = changed = 0
    index = SubscriberIndex(store)
    for page in _pages(iter(pager), CUSTOMER_PAGE):
        read += len(page)
        flags = {
            int(c["id"]): (c.get("extension_attributes") or {}).get("is_subscribed") for c in page
        }
        stale = [
            c
            for c in Customer.objects.filter(store=store, magento_id__in=list(flags))
            if flags[c.magento_id] is not None and c.is_subscribed != flags[c.magento_id]
        ]
        for customer in stale:
            flag = bool(flags[customer.magento_id])
            raw = dict(customer.raw)
            raw["extension_attributes"] = {
                **(raw.get("extension_attributes") or {}),
                "is_subscribed": flag,
            }
            customer.raw, customer.is_subscribed = raw, flag
            customer.source_hash = source_hash(raw)
        with transaction.atomic():
            rows_update(Customer, stale, ["raw", "is_subscribed", "source_hash"])
        if stale:  # one look-up of their subscriptions for the page
            queue_customers(profile=profile, customers=stale, index=index)
        changed += len(stale)
    return read, changed


def _subscriber_rows(profile: Profile, magento: Magento) -> tuple[int, int]:
    """Every subscriber row against the mirror; changed ones mirrored and queued, rows
    Magento no longer has counted as unsubscribed."""
    store = profile.source_client
    assert store is not None
    seen: set[int] = set()
    read = changed = 0
    for page in _pages(magento.source.iter_subscribers(None), SUBSCRIBER_CHUNK):
        read += len(page)
        ids = [int(r["subscriber_id"]) for r in page]
        seen.update(ids)
        mirrored = {
            s.subscriber_id: s
            for s in Subscriber.objects.filter(store=store, subscriber_id__in=ids)
        }
        for row in page:
            known = mirrored.get(int(row["subscriber_id"]))
            if known is not None and _same_subscription(known, row):
                continue
            subscriber = subscriber_upsert(store, row)
            queue_subscriber(profile=profile, subscriber=subscriber)
            changed += 1
    mirrored_ids = Subscriber.objects.filter(store=store).values_list("subscriber_id", flat=True)
    gone = [i for i in mirrored_ids.iterator(chunk_size=SUBSCRIBER_CHUNK) if i not in seen]
    for start in range(0, len(gone), SUBSCRIBER_CHUNK):
        for subscriber in Subscriber.objects.filter(
            store=store, subscriber_id__in=gone[start : start + SUBSCRIBER_CHUNK]
        ):
            if (subscriber.raw or {}).get("deleted") and subscriber.subscriber_status == 3:
                continue
            data = {**subscriber.raw, "status": 3, "deleted": True, "change_status_at": None}
            queue_subscriber(profile=profile, subscriber=subscriber_upsert(store, data))
            changed += 1
    return read, changed


def _same_subscription(known: Subscriber, row: dict[str, Any]) -> bool:
    return (
        known.subscriber_status == int(row["status"])
        and (known.customer_magento_id or None) == (row.get("customer_id") or None)
        and known.email == str(row.get("email") or "").strip()
        and not (known.raw or {}).get("deleted")
    )


def _pages(rows: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    page: list[dict[str, Any]] = []
    for row in rows:
        page.append(row)
        if len(page) >= size:
            yield page
            page = []
    if page:
        yield page


# -- Emarsys ------------------------------------------------------------------------------------


def _emarsys_optins(
    profile: Profile, magento: Magento, result: OptInSyncResult, sleep: Callable[[float], None]
) -> None:
    """Every linked contact's Emarsys Opt-In, decided against the agreed base."""
    assert profile.client is not None
    api = emarsys_client(profile.client)
    linked = ContactEntity.objects.filter(profile=profile).exclude(remote_id="")
    for chunk in entities_in_chunks(linked, EMARSYS_CHUNK):
        ids = [e.remote_id for e in chunk]
        rows = call_with_retries(
            partial(api.get_contacts, ids, key_id="id", fields=[OPT_IN]), sleep=sleep
        ).rows
        values = {str(r.get("id")): r.get(OPT_IN, "") for r in rows}
        for entity in chunk:
            result.checked += 1
            remote = values.get(str(entity.remote_id))
            if remote is None or str(remote).strip() == "":
                result.unknown += 1  # gone from Emarsys, or no decision there
                continue
            optin_apply(
                profile=profile, magento=magento, entity=entity, remote=remote, result=result
            )
