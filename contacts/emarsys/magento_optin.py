"""Writing an opt-in decided in Emarsys' favour to Magento, and reading the Magento side of
a contact's opt-in from the mirror. Used by the export (a conflict Emarsys wins), the daily
back-sync and the reconcile pass."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from connectors.magento.client import MagentoClient
from connectors.magento.subscribers import SqlSource, SubscriberSource
from contacts.emarsys import config, consent
from contacts.emarsys.mapping import customer_status
from contacts.models import ContactEntity, Customer, Subscriber
from contacts.services.mirror import customer_upsert
from profiles.models import Profile, QueueStatus


def magento_side(
    profile: Profile, customer: Customer | None, subscriber: Subscriber | None
) -> consent.Magento:
    """The Magento side of a contact's opt-in, as the export builds it (the subscriber row
    when there is one, else the customer's ``is_subscribed`` flag)."""
    if subscriber is not None:
        at = subscriber.magento_updated_at
        return consent.Magento(subscriber.subscriber_status, at.isoformat() if at else None)
    if customer is not None:
        return consent.Magento(customer_status(customer.raw, None), None)
    return consent.Magento(None, None)


def mirror_of(profile: Profile, entity: ContactEntity) -> tuple[Customer | None, Subscriber | None]:
    """The mirrored customer and subscriber of an entity."""
    store = profile.source_client
    customer = (
        Customer.objects.filter(store=store, magento_id=entity.customer_id).first()
        if entity.customer_id is not None
        else None
    )
    subscriber = (
        Subscriber.objects.filter(store=store, subscriber_id=entity.subscriber_id).first()
        if entity.subscriber_id is not None
        else None
    )
    return customer, subscriber


def magento_optin_write(
    *,
    api: MagentoClient,
    source: SubscriberSource,
    entity: ContactEntity,
    customer: Customer | None,
    subscriber: Subscriber | None,
    status: int,
) -> None:
    """Write the status through the subscriber source (customers through ``is_subscribed``
    when the source is read-only SQL) and bring the mirror in line with what was written.

    Raises :class:`~connectors.errors.ConnectorError` when Magento refuses or fails.
    """
    store_id = (subscriber.magento_store_id if subscriber else None) or (
        customer.magento_store_id if customer else None
    )
    saved: dict[str, Any] | None = None
    if isinstance(source, SqlSource) and entity.customer_id:
        saved = api.set_customer_subscription(entity.customer_id, status == consent.SUBSCRIBED)
    else:
        source.set_status(
            email=entity.email, status=status, customer_id=entity.customer_id, store_id=store_id
        )
        if customer is not None and subscriber is None:
            saved = api.get_customer(customer.magento_id)
    if saved and customer is not None:
        customer_upsert(customer.store, saved)
    if subscriber is not None:
        # Magento moved the row's change time too; the next read of the row brings it.
        raw = {**subscriber.raw, "status": status}
        Subscriber.objects.filter(pk=subscriber.pk).update(subscriber_status=status, raw=raw)


def entity_optin_save(entity: ContactEntity, base: consent.Base) -> bool:
    """Store the agreed opt-in on an entity that is not being processed right now (the
    processing batch records its own). Returns False when it was in flight."""
    with transaction.atomic():
        fresh = (
            ContactEntity.objects.select_for_update()
            .filter(pk=entity.pk)
            .exclude(queue_status=QueueStatus.PROCESSING)
            .only("metadata")
            .first()
        )
        if fresh is None:
            return False
        metadata = {**(fresh.metadata or {}), consent.STATE_KEY: base.as_json()}
        ContactEntity.objects.filter(pk=entity.pk).update(metadata=metadata)
        entity.metadata = metadata
    return True


def optin_map(profile: Profile) -> dict[str, Any]:
    """The profile's Magento status → Opt-In map."""
    return dict(config.effective(profile.settings)["optin_map"])
