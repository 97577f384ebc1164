"""Emarsys → Magento: opt-in changes made in Emarsys, applied to Magento once a day.

The change export (``contact/getchanges``) lists contacts whose opt-in (or e-mail) changed
in Emarsys — our own upserts included. Each is decided by the two-way rule
(:mod:`contacts.emarsys.consent`) against the opt-in both systems last agreed on, with
Magento's side read fresh first: an echo of what we sent changes nothing, a change made in
Emarsys is written to Magento, and when Magento changed too the later (or, when the order
cannot be known, the safer) value wins everywhere.

The cursor only moves past a window whose every change was applied or recorded: a contact
that is being exported right now, or whose Magento write failed, keeps it where it was.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.utils import timezone

from connectors.errors import ConnectorError
from connectors.http import call_with_retries
from connectors.magento.client import MagentoClient
from connectors.magento.subscribers import CustomerFlagSource, SubscriberSource
from contacts.emarsys import consent
from contacts.emarsys.collect import subscriber_source, subscribers_refresh
from contacts.emarsys.magento_optin import (
    entity_optin_save,
    magento_optin_write,
    magento_side,
    mirror_of,
    optin_map,
)
from contacts.models import ContactEntity
from contacts.services.mirror import customer_upsert
from profiles.models import Profile, QueueStatus, Run, RunEvent, RunStatus, RunTrigger
from profiles.services.connections import emarsys_client, magento_client

logger = logging.getLogger("contactsync.emarsys_contact_sync")

CURSOR_STATE = "emarsys_optin_since"


@dataclass
class OptInSyncResult:
    """What one opt-in pass did (also recorded as a finished Run)."""

    checked: int = 0
    applied: int = 0  # written to Magento
    queued: int = 0  # Magento's value wins: queued to be sent to Emarsys
    unchanged: int = 0  # our own echo, or both already agree
    unknown: int = 0  # not a contact of this profile, or no opt-in value
    deferred: int = 0  # being exported right now: looked at again next time
    failed: int = 0
    lines: list[tuple[str, str]] = field(default_factory=list)  # (level, message)
    run: Run | None = None


@dataclass
class Magento:
    """The Magento side of one pass: client, subscriber source, and whether customers must
    be read fresh (the ``customers`` source: a subscription change does not touch a
    customer's ``updated_at``, so the mirror may be behind)."""

    api: MagentoClient
    source: SubscriberSource
    fresh_customers: bool


def magento_for(profile: Profile) -> Magento:
    assert profile.source_client is not None
    api = magento_client(profile.source_client)
    source = subscriber_source(profile.source_client, api)
    return Magento(api, source, isinstance(source, CustomerFlagSource))


def optin_apply(
    *,
    profile: Profile,
    magento: Magento,
    entity: ContactEntity,
    remote: Any,
    result: OptInSyncResult,
    sleep: Callable[[float], None] | None = None,
) -> None:
    """Decide one contact whose Emarsys opt-in is ``remote`` and act on the decision."""
    if entity.queue_status == QueueStatus.PROCESSING:
        result.deferred += 1  # its batch decides with Emarsys' value; the cursor stays
        return
    customer, subscriber = mirror_of(profile, entity)
    if magento.fresh_customers and customer is not None and subscriber is None:
        try:
            raw = call_with_retries(
                partial(magento.api.get_customer, customer.magento_id), sleep=sleep
            )
        except ConnectorError as exc:
            result.failed += 1
            result.lines.append(("error", f"{entity}: Magento could not be read: {exc}"))
            return
        customer = customer_upsert(customer.store, raw)
    side = magento_side(profile, customer, subscriber)
    base = consent.Base.of(entity.metadata)
    decision = consent.resolve(base, side, remote, optin_map(profile))
    if decision.write_status is not None:
        status = decision.write_status
        try:
            call_with_retries(
                partial(
                    magento_optin_write,
                    api=magento.api,
                    source=magento.source,
                    entity=entity,
                    customer=customer,
                    subscriber=subscriber,
                    status=status,
                ),
                sleep=sleep,
            )
        except ConnectorError as exc:
            entity_optin_save(entity, consent.seen(base, remote, side))
            result.failed += 1
            result.lines.append(("error", f"{entity}: opt-in not written to Magento: {exc}"))
            return
        if not entity_optin_save(entity, decision.base):
            result.deferred += 1
            return
        result.applied += 1
        word = "subscribed" if status == consent.SUBSCRIBED else "unsubscribed"
        note = f" {decision.note}" if decision.note else ""
        result.lines.append(("info", f"{entity}: {word} in Magento (changed in Emarsys).{note}"))
        return
    if decision.send is not None:
        # Magento's value wins (newer, or the safer one): the export sends it, after
        # reading Emarsys' value once more.
        ContactEntity.objects.filter(pk=entity.pk).exclude(
            queue_status=QueueStatus.PROCESSING
        ).update(queue_status=QueueStatus.PENDING, next_attempt_at=None)
        result.queued += 1
        note = decision.note or "Magento changed since the last sync"
        result.lines.append(
            (
                "info",
                f"{entity}: Magento's opt-in ('{consent.word(decision.send)}') is "
                f"queued for Emarsys. {note}",
            )
        )
        return
    if entity_optin_save(entity, decision.base):
        result.unchanged += 1
    else:
        result.deferred += 1


def emarsys_optin_sync(
    *,
    profile: Profile,
    since: datetime | None = None,
    trigger: str = RunTrigger.SCHEDULE,
    poll_interval: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> OptInSyncResult:
    """Fetch opt-in changes since the last sync and apply them (see the module docstring)."""
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
        magento = magento_for(profile)
        if not magento.fresh_customers:
            # Magento's subscription changes since the last poll, into the mirror (and
            # queued for the export), so each decision sees Magento as it is now.
            subscribers_refresh(profile=profile, source=magento.source)
    except ConnectorError as exc:
        result.failed += 1
        result.lines.append(("error", f"Opt-in sync could not start: {exc}"))
        result.run = optin_record(profile, trigger, started, result, job="optin_sync")
        return result
    entities = {
        e.remote_id: e
        for e in ContactEntity.objects.filter(
            profile=profile, remote_id__in=[c.contact_id for c in changes]
        )
    }
    for change in changes:
        result.checked += 1
        entity = entities.get(change.contact_id)
        if entity is None or change.opt_in is None:
            result.unknown += 1
            continue
        remote = consent.OPTED_IN if change.opt_in else consent.OPTED_OUT
        optin_apply(profile=profile, magento=magento, entity=entity, remote=remote, result=result)
    # Past this window only when all of it was applied or recorded; else the next sync
    # reads the same window again (from this one's start, however long ago that is).
    done = not result.failed and not result.deferred
    state = {**Profile.objects.only("state").get(pk=profile.pk).state}
    state[CURSOR_STATE] = (started if done else since).isoformat()
    Profile.objects.filter(pk=profile.pk).update(state=state)
    profile.state = state
    if result.deferred:
        result.lines.append(
            (
                "warning",
                f"{result.deferred} contact(s) were being exported: the next opt-in sync "
                "reads this window again.",
            )
        )
    result.run = optin_record(profile, trigger, started, result, job="optin_sync")
    return result


JOB_TITLES = {
    "optin_sync": "Opt-in sync (Emarsys → Magento)",
    "reconcile": "Reconcile (Magento ⇄ Emarsys)",
}


def optin_record(
    profile: Profile,
    trigger: str,
    started: datetime,
    result: OptInSyncResult,
    *,
    job: str,
    extra: str = "",
) -> Run:
    """The pass as a finished Run in the history (never an active one: it cannot block)."""
    done = result.applied + result.queued + result.unchanged
    if result.failed and not done:
        status = RunStatus.FAILED
    elif result.failed or result.deferred:
        status = RunStatus.PARTIAL
    else:
        status = RunStatus.SUCCESS
    summary = (
        f"{JOB_TITLES[job]}: {extra}{result.checked} contact(s) checked, "
        f"{result.applied} applied to Magento, {result.queued} queued for Emarsys, "
        f"{result.unchanged} already in step, {result.unknown} not ours or without a value, "
        f"{result.deferred} deferred, {result.failed} failed."
    )
    run = Run.objects.create(
        profile=profile,
        trigger=trigger,
        status=status,
        scope={"job": job},
        created_at=started,
        started_at=started,
        finished_at=timezone.now(),
        collected=result.checked,
        updated=result.applied + result.queued,
        unchanged=result.unchanged,
        skipped=result.unknown,
        failed=result.failed,
        retried=result.deferred,
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
