"""Services of the Emarsys contact sync: the initial export and the realtime sync of the
people named by a Magento change notification. Tasks, views and commands call these."""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction

from connectors.errors import ConfigurationError, ConnectorError, NotFound
from connectors.magento.subscribers import normalise_row
from contacts.emarsys import config
from contacts.emarsys.collect import (
    INITIAL_EXPORT_STATE,
    queue_customer,
    queue_subscriber,
    subscriber_source,
)
from contacts.emarsys.identity import customer_key, subscriber_key
from contacts.models import ContactEntity, Customer, Subscriber, SubscriberStatus
from contacts.services.mirror import customer_upsert, magento_time, subscriber_upsert
from profiles.models import Profile, QueueStatus, Run, RunTrigger
from profiles.services import runs
from profiles.services.connections import magento_client
from profiles.services.pause import profile_paused_by

logger = logging.getLogger("contactsync.emarsys_contact_sync")

EVENTS = ("customer.saved", "customer.deleted", "subscriber.saved", "subscriber.deleted")


def emarsys_initial_export(
    *,
    profile: Profile,
    types: str,
    foreground: bool,
    trigger: str = RunTrigger.BUTTON,
    dry_run: bool = False,
    progress: runs.ProgressCallback | None = None,
) -> Run:
    """Export all customers, all subscribers or both, each into its named contact list.

    Starts a run at once (on the workers, or here when ``foreground``); its collection reads
    everything of the requested types and queues each person with its list. Raises
    :class:`~profiles.services.runs.RunAlreadyActive` when the profile is running.
    """
    if types not in config.EXPORT_TYPES:
        raise ConfigurationError(f"types must be one of {', '.join(config.EXPORT_TYPES)}")
    _state_set(profile, INITIAL_EXPORT_STATE, list(config.types_of(types)))
    try:
        return runs.run_start(
            profile=profile,
            trigger=trigger,
            dry_run=dry_run,
            foreground=foreground,
            progress=progress,
            scope={"initial": types},
        )
    except runs.RunAlreadyActive:
        _state_set(profile, INITIAL_EXPORT_STATE, None)
        raise


def _state_set(profile: Profile, key: str, value: Any) -> None:
    state = dict(Profile.objects.only("state").get(pk=profile.pk).state or {})
    if value is None:
        state.pop(key, None)
    else:
        state[key] = value
    Profile.objects.filter(pk=profile.pk).update(state=state)
    profile.state = state


def emarsys_realtime_sync(*, profile: Profile, event: dict[str, Any]) -> Run | None:
    """Apply one Magento change notification: refresh the mirror, queue the person and —
    in realtime-failsafe mode — sync them right now in a small run of just them.

    A profile whose schedule is disabled (``status`` off: the merchant is reviewing or
    testing it) never starts a run here: the person is only queued, for the first run
    after it is enabled again (or one started by hand).

    If another run is active the person simply stays queued for it or the next one; a
    failure lands in the failsafe queue like any other.
    """
    if profile.source_client is None:
        raise ConfigurationError(f"Profile '{profile.name}' has no Magento source client.")
    kind = str(event.get("event") or "")
    if kind not in EVENTS:
        raise ConfigurationError(f"Unknown event {kind!r} (expected one of {', '.join(EVENTS)}).")
    store = profile.source_client
    api = magento_client(store)
    keys: list[str] = []
    if kind.startswith("customer."):
        customer_id = int(event["customer_id"])
        keys.append(customer_key(customer_id))
        customer = _customer_refresh(profile, api, customer_id, deleted=kind.endswith("deleted"))
        if customer is not None:
            queue_customer(profile=profile, customer=customer)
    else:
        data = normalise_row(dict(event["subscriber"]))
        subscriber, applied = _subscriber_refresh(profile, data, deleted=kind.endswith("deleted"))
        if not applied:
            # A late (or replayed) notification: the mirror already holds a newer status,
            # which was queued when it arrived. Applying this one would undo it.
            logger.info(
                "profile=%s subscriber %s: notification of %s ignored, the mirror already "
                "has the newer change of %s.",
                profile.pk,
                subscriber.subscriber_id,
                data.get("change_status_at"),
                subscriber.magento_updated_at,
            )
            return None
        if data["customer_id"] and not _flag_source(profile, api):
            keys.append(customer_key(int(data["customer_id"])))
        elif data["customer_id"]:
            # The customer's is_subscribed flag is the subscription: read it fresh.
            customer = _customer_refresh(profile, api, int(data["customer_id"]), deleted=False)
            if customer is not None:
                queue_customer(profile=profile, customer=customer)
            keys.append(customer_key(int(data["customer_id"])))
        queue_subscriber(profile=profile, subscriber=subscriber)
        keys.append(subscriber_key(subscriber.subscriber_id))
    ids = list(
        ContactEntity.objects.filter(
            profile=profile, person_key__in=keys, queue_status=QueueStatus.PENDING
        ).values_list("pk", flat=True)
    )
    settings = config.effective(profile.settings)
    if not ids or settings["sync_mode"] != config.REALTIME_FAILSAFE:
        return None  # nothing changed, or the daily background run will send it
    if not profile.status:
        logger.info("profile=%s is disabled: %s queued, not synced (%s).", profile.pk, kind, keys)
        return None
    if profile_paused_by(profile) is not None:
        logger.info("profile=%s is paused (credentials refused): %s queued.", profile.pk, kind)
        return None
    try:
        return runs.run_start(
            profile=profile, trigger=RunTrigger.WEBHOOK, entity_ids=ids, foreground=True
        )
    except runs.RunAlreadyActive as exc:
        logger.info("profile=%s %s The contact stays queued for it.", profile.pk, exc)
        return None


def _flag_source(profile: Profile, api: Any) -> bool:
    from connectors.magento.subscribers import CustomerFlagSource

    assert profile.source_client is not None
    return isinstance(subscriber_source(profile.source_client, api), CustomerFlagSource)


def _customer_refresh(
    profile: Profile, api: Any, customer_id: int, *, deleted: bool
) -> Customer | None:
    """The customer's mirror row, fresh from Magento (None once deleted there)."""
    assert profile.source_client is not None
    if not deleted:
        try:
            return customer_upsert(profile.source_client, api.get_customer(customer_id))
        except NotFound:
            pass
    Customer.objects.filter(store=profile.source_client, magento_id=customer_id).delete()
    # The profile's deletion policy decides (contacts.services.propagate): under "ignore"
    # the person is queued so the generator sees the deletion (kept in Emarsys, or re-sent
    # as a subscriber when they still are one); otherwise a pending deletion, sent by the
    # pass below (the approval brake may hold it).
    from contacts.services.propagate import deletions_propagate, rules_of
    from profiles import registry

    registry.get(profile.type).customers_deleted(profile, [customer_id])
    if rules_of(profile).propagates:
        try:
            deletions_propagate(profile, trigger=RunTrigger.WEBHOOK)
        except ConnectorError as exc:  # it stays pending: the daily pass sends it
            logger.warning(
                "profile=%s deletion of customer %s waits: %s", profile.pk, customer_id, exc
            )
    return None


def _subscriber_refresh(
    profile: Profile, data: dict[str, Any], *, deleted: bool
) -> tuple[Subscriber, bool]:
    """Upsert the subscriber from the notification; a deleted row counts as unsubscribed
    (the person asked not to be mailed; the Emarsys contact itself is kept).

    Returns the mirror row and whether the notification was applied: one older than what
    the mirror holds (Celery does not keep order, Magento retries) is not (see
    :func:`_stale`).
    """
    assert profile.source_client is not None
    if deleted:
        data = {**data, "status": 3, "deleted": True}
    if data.get("subscriber_id") is None:
        raise ConfigurationError("A subscriber notification needs subscriber.subscriber_id.")
    data.setdefault("change_status_at", None)
    with transaction.atomic():
        # Locked, so two notifications of one subscriber are compared one after the other.
        existing = (
            Subscriber.objects.select_for_update()
            .filter(store=profile.source_client, subscriber_id=int(data["subscriber_id"]))
            .first()
        )
        if existing is not None and _stale(existing, data):
            return existing, False
        return subscriber_upsert(profile.source_client, data), True


def _stale(stored: Subscriber, data: dict[str, Any]) -> bool:
    """True when the notification ``data`` is older than the mirror row ``stored``.

    Compared on Magento's ``change_status_at``. Within the same second, a deletion stays
    final and a "subscribed" never overrides an opt-out (when in doubt, do not mail).
    A notification without a time cannot be ordered and is applied.
    """
    incoming = magento_time(data.get("change_status_at"))
    current = stored.magento_updated_at
    if incoming is None or current is None:
        return False
    if incoming != current:
        return incoming < current
    if (stored.raw or {}).get("deleted") and not data.get("deleted"):
        return True
    return (
        int(data["status"]) == SubscriberStatus.SUBSCRIBED
        and stored.subscriber_status != SubscriberStatus.SUBSCRIBED
    )
