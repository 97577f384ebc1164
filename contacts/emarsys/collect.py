"""Collection: read Magento incrementally into the mirror and queue the changed people.

Runs before any batch, outside transactions (it talks to Magento). Also releases the
failsafe queue: contacts waiting for retry whose time (the background runtime) has come.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.db import DatabaseError, transaction
from django.db.models import Q
from django.utils import timezone

from connectors.errors import ConfigurationError, ConnectorError
from connectors.magento.client import MagentoClient
from connectors.magento.subscribers import (
    CustomerFlagSource,
    RestRouteSource,
    SqlSource,
    SubscriberSource,
)
from contacts.emarsys import config
from contacts.emarsys.identity import (
    combined_hash,
    customer_key,
    subscriber_key,
    subscriber_owner,
)
from contacts.emarsys.reevaluate import settings_reevaluate
from contacts.models import ContactEntity, Customer, Subscriber
from contacts.services import dry_journal
from contacts.services.entities import (
    Pending,
    entities_mark_pending,
    entities_rekey,
)
from contacts.services.mirror import (
    CUSTOMERS_CURSOR,
    SUBSCRIBERS_CURSOR,
    customer_upsert,
)
from contacts.services.mirror_pages import (
    customers_read_pages,
    guests_read,
    subscribers_read_pages,
)
from profiles.models import Client, Profile, QueueStatus, Run
from profiles.services import runs
from profiles.services.bulk import rows_update
from profiles.services.connections import magento_client

logger = logging.getLogger("contactsync.emarsys_contact_sync")

INITIAL_EXPORT_STATE = "emarsys_initial_export"
STORES_STATE = "magento_stores"


def subscriber_source(client: Client, api: MagentoClient) -> SubscriberSource:
    """The Magento client's subscriber source (``Client.settings["subscribers"]``; the SQL
    DSN, which holds a password, lives in the encrypted credentials as ``subscribers_dsn``)."""
    options = (client.settings or {}).get("subscribers") or {}
    kind = str(options.get("source") or "customers")
    if kind == "rest":
        return RestRouteSource(api)
    if kind == "sql":
        dsn = (client.credentials or {}).get("subscribers_dsn")
        if not dsn:
            raise ConfigurationError(f"Magento client '{client.name}': the SQL source needs a dsn.")
        return SqlSource(str(dsn), table_prefix=str(options.get("table_prefix") or ""))
    if kind != "customers":
        raise ConfigurationError(
            f"Magento client '{client.name}': unknown subscriber source {kind!r} "
            "(customers, rest or sql)."
        )
    return CustomerFlagSource(api)


def failsafe_release(*, profile: Profile) -> int:
    """Put contacts whose retry is due back in the queue; returns how many (a dry run
    counts them and moves nothing: it processes due retries where they are)."""
    due = ContactEntity.objects.filter(profile=profile, queue_status=QueueStatus.RETRY).filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=timezone.now())
    )
    if dry_journal.active() is not None:
        return due.count()
    return due.update(queue_status=QueueStatus.PENDING)


def stores_refresh(profile: Profile, api: MagentoClient) -> dict[str, Any]:
    """Store and website codes (for ``store_code`` / ``website_code`` mappings)."""
    try:
        stores = {
            str(s["id"]): {"code": s.get("code"), "name": s.get("name")} for s in api.store_views()
        }
        websites = {str(w["id"]): w.get("code") for w in api.websites()}
    except ConnectorError as exc:  # optional data: keep what we had
        logger.warning("profile=%s store codes not refreshed: %s", profile.pk, exc)
        return dict((profile.state or {}).get(STORES_STATE) or {})
    value = {"stores": stores, "websites": websites}
    state = {**Profile.objects.only("state").get(pk=profile.pk).state, STORES_STATE: value}
    Profile.objects.filter(pk=profile.pk).update(state=state)
    profile.state = state
    return value


def _force_many(profile: Profile, keys: Sequence[str], lists: Sequence[str]) -> None:
    """Initial export: queue these people whatever their hash, and remember their lists
    (one read and one write for a page)."""
    with transaction.atomic():
        entities = list(
            ContactEntity.objects.select_for_update()
            .filter(profile=profile, person_key__in=list(keys))
            .exclude(queue_status=QueueStatus.PROCESSING)
            .order_by("pk")
        )
        for entity in entities:
            metadata = dict(entity.metadata or {})
            metadata["lists"] = sorted(set(metadata.get("lists") or []) | set(lists))
            entity.metadata = metadata
            entity.queue_status = QueueStatus.PENDING
            entity.last_payload_hash = ""
            entity.next_attempt_at = None
            entity.attempts = 0
        rows_update(
            ContactEntity,
            entities,
            ["metadata", "queue_status", "last_payload_hash", "next_attempt_at", "attempts"],
        )


class SubscriberIndex:
    """The subscriptions of a page of customers, by customer id and (guests) by e-mail:
    one query per page (:meth:`cover`), never the store's whole subscriber table — which
    at 100,000 subscribers was a hundred megabytes read for every collection, and for
    every single notification."""

    def __init__(self, store: Client) -> None:
        self.store = store
        self.by_customer: dict[int, Subscriber] = {}
        self.guests: dict[str, Subscriber] = {}

    def cover(self, customers: Sequence[Customer]) -> None:
        """Read the subscriptions of ``customers`` (forgetting the last page's)."""
        ids = sorted({c.magento_id for c in customers})
        emails = sorted({c.email_normalized for c in customers if c.email_normalized})
        self.by_customer, self.guests = {}, {}
        if not ids and not emails:
            return
        guest = Q(customer_magento_id__isnull=True) | Q(customer_magento_id=0)
        rows = Subscriber.objects.filter(store=self.store).filter(
            Q(customer_magento_id__in=ids) | (guest & Q(email_normalized__in=emails))
        )
        for row in rows.order_by("subscriber_id"):
            if row.customer_magento_id:
                self.by_customer[row.customer_magento_id] = row  # the newest row wins
            elif row.email_normalized:
                self.guests.setdefault(row.email_normalized, row)  # the oldest guest row

    def of(self, customer: Customer) -> Subscriber | None:
        """The customer's subscription: linked by Magento, else a guest row with their
        e-mail (the same person). Only for customers of the last :meth:`cover`."""
        return self.by_customer.get(customer.magento_id) or self.guests.get(
            customer.email_normalized
        )


def queue_customer(
    *,
    profile: Profile,
    customer: Customer,
    lists: Sequence[str] = (),
    index: SubscriberIndex | None = None,
) -> str | None:
    """Queue a customer (merged with their subscription); their person key when queued."""
    queued = queue_customers(
        profile=profile,
        customers=[customer],
        index=index or SubscriberIndex(customer.store),
        lists=lists,
    )
    return customer_key(customer.magento_id) if queued else None


def queue_customers(
    *,
    profile: Profile,
    customers: Sequence[Customer],
    index: SubscriberIndex,
    lists: Sequence[str] = (),
) -> set[str]:
    """:func:`queue_customer` for a page of customers, in a few statements whatever its
    size; the person keys queued."""
    moves: list[tuple[str, str, dict[str, Any]]] = []
    people: list[Pending] = []
    index.cover(customers)
    for customer in customers:
        key = customer_key(customer.magento_id)
        subscriber = index.of(customer)
        if subscriber is not None:
            # A guest subscriber who registered keeps their Emarsys contact.
            moves.append(
                (
                    subscriber_key(subscriber.subscriber_id),
                    key,
                    {"customer_id": customer.magento_id, "subscriber_id": subscriber.subscriber_id},
                )
            )
        people.append(
            Pending(
                person_key=key,
                source_hash=combined_hash(
                    customer.source_hash, subscriber.source_hash if subscriber else None
                ),
                email=customer.email,
                customer_id=customer.magento_id,
                subscriber_id=subscriber.subscriber_id if subscriber else None,
                metadata={"source": "customer", "store_id": customer.magento_store_id},
            )
        )
    entities_rekey(profile=profile, moves=moves)
    queued = entities_mark_pending(profile=profile, people=people)
    if lists:
        _force_many(profile, [p.person_key for p in people], lists)
        queued |= {p.person_key for p in people}
    return queued


def queue_subscriber(
    *, profile: Profile, subscriber: Subscriber, lists: Sequence[str] = (), guests: bool = True
) -> str | None:
    """Queue a subscriber: into its customer's entity when it has one, else as a guest
    (unless ``guests`` is off: a customers-only profile still follows their opt-in)."""
    queued = queue_subscribers(
        profile=profile, subscribers=[subscriber], lists=lists, guests=guests
    )
    return next(iter(queued), None)


def queue_subscribers(
    *,
    profile: Profile,
    subscribers: Sequence[Subscriber],
    lists: Sequence[str] = (),
    guests: bool = True,
) -> set[str]:
    """:func:`queue_subscriber` for a page of subscribers, in a few statements whatever its
    size; the person keys queued."""
    if not subscribers:
        return set()
    store = subscribers[0].store
    by_email: dict[str, list[int]] = {}
    for email, magento_id in Customer.objects.filter(
        store=store, email_normalized__in=sorted({s.email_normalized for s in subscribers})
    ).values_list("email_normalized", "magento_id"):
        by_email.setdefault(email, []).append(magento_id)
    owners = {
        s.subscriber_id: subscriber_owner(
            linked_customer_id=s.customer_magento_id,
            email_key=s.email_normalized,
            customers_by_email=by_email,
        )
        for s in subscribers
    }
    customers = {
        c.magento_id: c
        for c in Customer.objects.filter(
            store=store, magento_id__in=[o for o in owners.values() if o is not None]
        )
    }
    moves: list[tuple[str, str, dict[str, Any]]] = []
    people: list[Pending] = []
    for subscriber in subscribers:
        owner = owners[subscriber.subscriber_id]
        customer = customers.get(owner) if owner is not None else None
        if owner is not None:
            key = customer_key(owner)
            moves.append(
                (
                    subscriber_key(subscriber.subscriber_id),
                    key,
                    {"customer_id": owner, "subscriber_id": subscriber.subscriber_id},
                )
            )
        elif not guests:
            continue
        else:
            key = subscriber_key(subscriber.subscriber_id)
        people.append(
            Pending(
                person_key=key,
                source_hash=combined_hash(
                    customer.source_hash if customer else None, subscriber.source_hash
                ),
                email=customer.email if customer else subscriber.email,
                customer_id=owner,
                subscriber_id=subscriber.subscriber_id,
                metadata={
                    "source": "customer" if owner else "subscriber",
                    "store_id": subscriber.magento_store_id,
                },
            )
        )
    entities_rekey(profile=profile, moves=moves)
    queued = entities_mark_pending(profile=profile, people=people)
    if lists:
        _force_many(profile, [p.person_key for p in people], lists)
        queued |= {p.person_key for p in people}
    return queued


def _without_cursor(profile: Profile, key: str) -> None:
    profile.state = {k: v for k, v in (profile.state or {}).items() if k != key}


def emarsys_collect(*, profile: Profile, run: Run | None) -> int:
    """Read changed customers and subscribers and queue them; see the module docstring.

    An initial export requested by :func:`contacts.emarsys.services.emarsys_initial_export`
    reads everything of the requested types and queues each person with its contact list.
    A change of the settings that shape what is sent queues the contacts it can change
    (:func:`contacts.emarsys.reevaluate.settings_reevaluate`).
    """
    if profile.source_client is None or profile.client is None:
        raise ConfigurationError(
            f"Profile '{profile.name}' needs a Magento source client and an Emarsys client."
        )
    settings = config.effective(profile.settings)
    dry_run = bool(run is not None and run.dry_run)
    api = magento_client(profile.source_client)
    source = subscriber_source(profile.source_client, api)
    flag_source = isinstance(source, CustomerFlagSource)
    wanted = config.types_of(settings["export_types"])
    if flag_source and "subscribers" in wanted:
        raise ConfigurationError(guest_source_message(profile.source_client, settings))
    initial = _take_initial_request(profile)
    types = initial or wanted
    if initial and flag_source and "subscribers" in types:
        raise ConfigurationError(guest_source_message(profile.source_client, settings))
    stores_refresh(profile, api)
    released = failsafe_release(profile=profile)
    reevaluated = 0 if dry_run else settings_reevaluate(profile=profile)
    queued: set[str | None] = set()
    if "customers" in types or flag_source:
        if initial:
            _without_cursor(profile, CUSTOMERS_CURSOR)
        index = SubscriberIndex(profile.source_client)
        # A dry run reads everything but forces nothing.
        lists = () if dry_run or "customers" not in set(initial) else ("customers",)
        for page in customers_read_pages(
            profile=profile, client=api, on_error=runs.collection_error_reporter(run)
        ):
            queued |= queue_customers(profile=profile, customers=page, index=index, lists=lists)
    if not flag_source:
        guests = "subscribers" in types
        if guests:
            # Guest subscribers' names come from their most recent order.
            for _ in guests_read(
                profile=profile, client=api, on_error=runs.collection_error_reporter(run)
            ):
                pass
        queued |= subscribers_refresh(
            profile=profile,
            source=source,
            run=run,
            guests=guests,
            initial=bool(initial) and guests,
            force_lists=not dry_run,
        )
        if "customers" not in types:
            customers_fill(profile=profile, api=api, run=run)
    queued.discard(None)
    # A person read as customer and subscriber counts once.
    return released + reevaluated + len(queued)


def subscribers_refresh(
    *,
    profile: Profile,
    source: SubscriberSource,
    run: Run | None = None,
    guests: bool | None = None,
    initial: bool = False,
    force_lists: bool = True,
) -> set[str | None]:
    """Read subscription changes since the cursor into the mirror and queue their people.

    Read for customers-only profiles too: a customer's opt-in lives here, and a
    subscription change does not touch the customer's ``updated_at``.
    """
    if guests is None:
        settings = config.effective(profile.settings)
        guests = "subscribers" in config.types_of(settings["export_types"])
    if initial:
        _without_cursor(profile, SUBSCRIBERS_CURSOR)
    queued: set[str | None] = set()
    lists = ("subscribers",) if initial and force_lists else ()
    for page in subscribers_read_pages(
        profile=profile, source=source, on_error=runs.collection_error_reporter(run)
    ):
        queued |= queue_subscribers(profile=profile, subscribers=page, lists=lists, guests=guests)
    return queued


FILL_CHUNK = 300


def customers_fill(*, profile: Profile, api: MagentoClient, run: Run | None = None) -> int:
    """Mirror the customers of registered subscribers not created in Emarsys yet (a
    subscribers-only profile reads no customers, but a subscriber is created with their
    customer's names). One request per 300; returns how many were mirrored."""
    store = profile.source_client
    assert store is not None
    mirrored = Customer.objects.filter(store=store).values("magento_id")
    wanted = [
        int(i)
        for i in ContactEntity.objects.filter(
            profile=profile, remote_id="", customer_id__isnull=False
        )
        .exclude(customer_id__in=mirrored)
        .values_list("customer_id", flat=True)
        if i is not None
    ]
    filled = 0
    for start in range(0, len(wanted), FILL_CHUNK):
        chunk = wanted[start : start + FILL_CHUNK]
        try:
            found = api.customers_by_ids(chunk)
        except ConnectorError as exc:
            # Optional data (names): the subscriber is still created, without them.
            logger.warning("profile=%s subscribers' customers not read: %s", profile.pk, exc)
            return filled
        for raw in found:
            try:
                customer_upsert(store, raw)
            except (DatabaseError, KeyError, TypeError, ValueError) as exc:
                runs.collection_error_reporter(run)("Magento customer", str(raw.get("id")), exc)
                continue
            filled += 1
    return filled


def guest_source_message(store: Client, settings: dict[str, Any]) -> str:
    """Why a profile that wants subscribers cannot have them from the ``customers`` source."""
    return (
        f"Contacts to export is '{settings['export_types']}', but the Magento client "
        f"'{store.name}' reads subscribers from 'customers' (the is_subscribed flag), which "
        "knows registered customers only: guest subscribers would be left out. Set its "
        "subscriber source to 'rest' or 'sql', or export 'customers' only."
    )


def _take_initial_request(profile: Profile) -> tuple[str, ...]:
    """The initial export types requested for this run (consumed: asked once, done once)."""
    state = dict(Profile.objects.only("state").get(pk=profile.pk).state or {})
    requested = state.pop(INITIAL_EXPORT_STATE, None)
    if not requested:
        return ()
    Profile.objects.filter(pk=profile.pk).update(state=state)
    profile.state = state
    return tuple(t for t in ("customers", "subscribers") if t in requested)
