"""Emarsys → Magento: opt-in changes made in Emarsys, applied to Magento once a day.

Magento is master for every other field. The change export also lists our own upserts
(a PUT that changed the opt-in), so a row whose opt-in equals what we last sent is our
echo and is ignored. After applying a change to Magento we record it as "sent", so the
next Magento → Emarsys run finds nothing to send back (no echo the other way either).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from connectors.errors import ConnectorError
from connectors.http import call_with_retries
from connectors.magento.client import MagentoClient
from connectors.magento.subscribers import SqlSource, SubscriberSource
from contacts.emarsys import config
from contacts.emarsys.collect import subscriber_source
from contacts.emarsys.mapping import OPT_IN, content_digest, optin_value
from contacts.models import ContactEntity, Customer, Subscriber
from contacts.services.mirror import customer_upsert
from profiles.models import Profile, QueueStatus, Run, RunEvent, RunStatus, RunTrigger
from profiles.services.connections import emarsys_client, magento_client

logger = logging.getLogger("contactsync.emarsys_contact_sync")

CURSOR_STATE = "emarsys_optin_since"


@dataclass
class OptInSyncResult:
    """What one opt-in sync did (also recorded as a finished Run)."""

    checked: int = 0
    applied: int = 0
    unchanged: int = 0  # our own echo, or Magento already agrees
    unknown: int = 0  # not a contact of this profile, or no opt-in value
    failed: int = 0
    lines: list[tuple[str, str]] = field(default_factory=list)  # (level, message)
    run: Run | None = None


def emarsys_optin_sync(
    *,
    profile: Profile,
    since: datetime | None = None,
    trigger: str = RunTrigger.SCHEDULE,
    poll_interval: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> OptInSyncResult:
    """Fetch opt-in changes since the last sync and apply them to Magento."""
    assert profile.client is not None
    assert profile.source_client is not None
    started = timezone.now()
    state_since = (profile.state or {}).get(CURSOR_STATE)
    if since is None:
        since = datetime.fromisoformat(state_since) if state_since else started - timedelta(days=1)
    result = OptInSyncResult()
    try:
        changes = emarsys_client(profile.client).opt_in_changes(
            since=since, poll_interval=poll_interval, sleep=sleep
        )
    except ConnectorError as exc:
        result.failed += 1
        result.lines.append(("error", f"Fetching opt-in changes from Emarsys failed: {exc}"))
        result.run = _record(profile, trigger, started, result, error=True)
        return result
    api = magento_client(profile.source_client)
    source = subscriber_source(profile.source_client, api)
    entities = {
        e.remote_id: e
        for e in ContactEntity.objects.filter(
            profile=profile, remote_id__in=[c.contact_id for c in changes]
        )
    }
    optin_map = config.effective(profile.settings)["optin_map"]
    for change in changes:
        result.checked += 1
        entity = entities.get(change.contact_id)
        if entity is None or change.opt_in is None:
            result.unknown += 1
            continue
        _one(profile, api, source, entity, change.opt_in, optin_map, result)
    if not result.failed:
        state = {**Profile.objects.only("state").get(pk=profile.pk).state}
        state[CURSOR_STATE] = started.isoformat()
        Profile.objects.filter(pk=profile.pk).update(state=state)
        profile.state = state
    result.run = _record(profile, trigger, started, result)
    return result


def _one(
    profile: Profile,
    api: MagentoClient,
    source: SubscriberSource,
    entity: ContactEntity,
    opt_in: bool,
    optin_map: dict[str, Any],
    result: OptInSyncResult,
) -> None:
    if entity.queue_status == QueueStatus.PROCESSING:
        result.unknown += 1  # being synced right now; tomorrow's run sees it again
        return
    status = 1 if opt_in else 3
    sent = (entity.metadata or {}).get("sent") or {}
    if str(sent.get(OPT_IN, "")) == str(optin_value(status, optin_map)):
        result.unchanged += 1  # Emarsys has what we sent: our own echo
        return
    store = profile.source_client
    subscriber = (
        Subscriber.objects.filter(store=store, subscriber_id=entity.subscriber_id).first()
        if entity.subscriber_id is not None
        else None
    )
    customer = (
        Customer.objects.filter(store=store, magento_id=entity.customer_id).first()
        if entity.customer_id is not None
        else None
    )
    try:
        call_with_retries(lambda: _write(api, source, entity, customer, subscriber, status))
    except ConnectorError as exc:
        result.failed += 1
        result.lines.append(("error", f"{entity}: opt-in not written to Magento: {exc}"))
        return
    _remember(entity, subscriber, status, optin_map)
    result.applied += 1
    word = "subscribed" if opt_in else "unsubscribed"
    result.lines.append(("info", f"{entity}: {word} in Magento (changed in Emarsys)."))


def _write(
    api: MagentoClient,
    source: SubscriberSource,
    entity: ContactEntity,
    customer: Customer | None,
    subscriber: Subscriber | None,
    status: int,
) -> None:
    """Write the status through the subscriber source (customers via is_subscribed when the
    source is read-only SQL); refresh the customer mirror from what Magento answers."""
    store_id = (subscriber.magento_store_id if subscriber else None) or (
        customer.magento_store_id if customer else None
    )
    saved: dict[str, Any] | None = None
    if isinstance(source, SqlSource) and entity.customer_id:
        saved = api.set_customer_subscription(entity.customer_id, status == 1)
    else:
        source.set_status(
            email=entity.email, status=status, customer_id=entity.customer_id, store_id=store_id
        )
        if customer is not None:
            saved = api.get_customer(customer.magento_id)
    if saved and customer is not None:
        customer_upsert(customer.store, saved)


def _remember(
    entity: ContactEntity, subscriber: Subscriber | None, status: int, optin_map: dict[str, Any]
) -> None:
    """Mirror and entity now agree with Emarsys: the next export has nothing to send."""
    with transaction.atomic():
        if subscriber is not None:
            raw = {**subscriber.raw, "status": status}
            Subscriber.objects.filter(pk=subscriber.pk).update(subscriber_status=status, raw=raw)
        metadata = dict(entity.metadata or {})
        sent = dict(metadata.get("sent") or {})
        value = optin_value(status, optin_map)
        if value is None:
            sent.pop(OPT_IN, None)
        else:
            sent[OPT_IN] = value
        metadata["sent"] = sent
        ContactEntity.objects.filter(pk=entity.pk).exclude(
            queue_status=QueueStatus.PROCESSING
        ).update(metadata=metadata, last_payload_hash=content_digest(sent))


def _record(
    profile: Profile,
    trigger: str,
    started: datetime,
    result: OptInSyncResult,
    *,
    error: bool = False,
) -> Run:
    """The sync as a finished Run in the history (never an active one: it cannot block)."""
    if error or (result.failed and not result.applied):
        status = RunStatus.FAILED
    else:
        status = RunStatus.PARTIAL if result.failed else RunStatus.SUCCESS
    summary = (
        f"Opt-in sync (Emarsys → Magento): {result.checked} change(s) checked, "
        f"{result.applied} applied, {result.unchanged} already in step, "
        f"{result.unknown} not ours, {result.failed} failed."
    )
    run = Run.objects.create(
        profile=profile,
        trigger=trigger,
        status=status,
        scope={"job": "optin_sync"},
        created_at=started,
        started_at=started,
        finished_at=timezone.now(),
        collected=result.checked,
        updated=result.applied,
        unchanged=result.unchanged,
        skipped=result.unknown,
        failed=result.failed,
        summary=summary,
    )
    lines = [*result.lines, ("info", summary)]
    RunEvent.objects.bulk_create(RunEvent(run=run, level=lvl, message=msg) for lvl, msg in lines)
    for level, message in lines:
        logger.log(
            logging.ERROR if level == "error" else logging.INFO,
            "profile=%s run=%s %s",
            profile.pk,
            run.pk,
            message,
        )
    return run
