"""Celery tasks of the contacts app: thin adapters that pass ids to services.
Names are explicit and stable (beat entries store them)."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from connectors.errors import ConnectorError
from profiles.models import Profile, RunTrigger

logger = logging.getLogger("contactsync.emarsys_contact_sync")


@shared_task(name="contacts.emarsys_realtime_sync", ignore_result=True)
def emarsys_realtime_sync(profile_id: int, event: dict[str, Any]) -> None:
    """Sync the person named by a Magento change notification (realtime-failsafe)."""
    from contacts.emarsys.services import emarsys_realtime_sync as sync

    profile = (
        Profile.objects.select_related("source_client", "client").filter(pk=profile_id).first()
    )
    if profile is None:
        logger.warning("notification for missing profile %s ignored", profile_id)
        return
    try:
        sync(profile=profile, event=event)
    except ConnectorError as exc:
        # Not retried here: the incremental poll reads the same change from Magento.
        # Never the event itself: a subscriber row carries the e-mail address.
        logger.warning(
            "profile=%s realtime sync of %s failed: %s: %s",
            profile_id,
            _event_summary(event),
            type(exc).__name__,
            exc,
        )


def _event_summary(event: Any) -> str:
    """The kind and ids of a notification, for logs (no e-mail, no other fields)."""
    if not isinstance(event, dict):
        return "a malformed notification"
    kind = str(event.get("event") or "?")[:40]
    row = event.get("subscriber")
    if isinstance(row, dict):
        ids = f"subscriber_id={row.get('subscriber_id')!r} customer_id={row.get('customer_id')!r}"
    else:
        ids = f"customer_id={event.get('customer_id')!r}"
    return f"{kind} ({ids[:120]})"


@shared_task(name="contacts.emarsys_optin_sync", ignore_result=True)
def emarsys_optin_sync(profile_id: int) -> None:
    """Daily at the background runtime: Emarsys opt-in changes → Magento, then the
    reconcile pass over every subscription on both sides."""
    from contacts.emarsys.optin import emarsys_optin_sync as sync
    from contacts.emarsys.reconcile import emarsys_reconcile

    profile = (
        Profile.objects.select_related("source_client", "client").filter(pk=profile_id).first()
    )
    if profile is None or not profile.status:
        logger.info("opt-in sync of profile %s skipped (missing or disabled)", profile_id)
        return
    sync(profile=profile, trigger=RunTrigger.SCHEDULE)
    emarsys_reconcile(profile=profile, trigger=RunTrigger.SCHEDULE)


@shared_task(name="contacts.emarsys_optin_job", ignore_result=True)
def emarsys_optin_job(profile_id: int) -> None:
    """The opt-in back-sync on demand (the admin's button)."""
    from contacts.emarsys.optin import emarsys_optin_sync as sync

    profile = (
        Profile.objects.select_related("source_client", "client").filter(pk=profile_id).first()
    )
    if profile is None:
        logger.warning("opt-in sync of missing profile %s skipped", profile_id)
        return
    sync(profile=profile, trigger=RunTrigger.BUTTON)


@shared_task(name="contacts.emarsys_reconcile", ignore_result=True)
def emarsys_reconcile(profile_id: int) -> None:
    """The reconcile pass on demand (the admin's button)."""
    from contacts.emarsys.reconcile import emarsys_reconcile as reconcile

    profile = (
        Profile.objects.select_related("source_client", "client").filter(pk=profile_id).first()
    )
    if profile is None:
        logger.warning("reconcile of missing profile %s skipped", profile_id)
        return
    reconcile(profile=profile, trigger=RunTrigger.BUTTON)


@shared_task(name="contacts.drift_check", ignore_result=True)
def drift_check(profile_id: int) -> None:
    """Daily: compare the profile's linked contacts with the remote system and report."""
    from contacts.services.drift import drift_check as check
    from profiles.services.pause import profile_paused_by

    profile = (
        Profile.objects.select_related("source_client", "client").filter(pk=profile_id).first()
    )
    if profile is None or not profile.status or profile_paused_by(profile) is not None:
        logger.info("drift check of profile %s skipped (missing, disabled or paused)", profile_id)
        return
    check(profile=profile, repair=False, trigger=RunTrigger.SCHEDULE)


@shared_task(name="contacts.drift_check_now", ignore_result=True)
def drift_check_now(profile_id: int, repair: bool = False) -> None:
    """The admin's *Check now* / *Check and repair*."""
    from contacts.services.drift import drift_check as check

    profile = (
        Profile.objects.select_related("source_client", "client").filter(pk=profile_id).first()
    )
    if profile is None:
        return
    check(profile=profile, repair=repair, trigger=RunTrigger.BUTTON)


@shared_task(name="contacts.magento_deletions", ignore_result=True)
def magento_deletions() -> int:
    """Notice the customers deleted in Magento, every store once (daily)."""
    from contacts.services.deletions import stores_deletions_detect

    return sum(report.marked for report in stores_deletions_detect())


@shared_task(name="contacts.deletions_propagate", ignore_result=True)
def deletions_propagate(profile_id: int, trigger: str = RunTrigger.APPROVAL) -> None:
    """A profile's deletion pass: after a person approved held deletions (the admin)."""
    from contacts.services.propagate import deletions_propagate as propagate

    profile = Profile.objects.select_related("client").filter(pk=profile_id).first()
    if profile is None:
        return
    try:
        propagate(profile, trigger=trigger)
    except ConnectorError as exc:
        logger.warning("profile=%s deletion pass not finished: %s", profile_id, exc)
