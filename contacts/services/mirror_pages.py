"""Reading Magento into the mirror a page at a time: one short transaction per page.

Each reader walks Magento from the profile's stored cursor (keyset on ``updated_at``,
``entity_id``) and yields the mirror rows of each page, written with one read and one
bulk insert-or-update. A page the database refuses as a whole (one value it cannot
store) is written again record by record, so only that record fails, reported and
remembered (see :mod:`contacts.services.mirror`). The cursor is saved after each page
the caller has taken, so a crash re-reads at most a page and never skips.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from django.db import DatabaseError, transaction
from django.utils import timezone

from connectors.magento.client import KeysetPager, MagentoClient
from connectors.magento.normalise import guest_from_order
from connectors.magento.subscribers import SubscriberSource
from connectors.readahead import read_ahead
from contacts.models import Customer, GuestBuyer, MirrorRecord, Subscriber
from contacts.people import email_key
from contacts.services.mirror import (
    CUSTOMERS_CURSOR,
    GUEST_ORDERS_CURSOR,
    SUBSCRIBERS_CURSOR,
    RecordError,
    _isolated,
    cursor_save,
    customer_fields,
    customer_upsert,
    guest_merge,
    guest_upsert,
    known_failure,
    record_failure,
    refetch,
    retry_list,
    retry_list_forget,
    safe_record,
    store_websites,
    stored_cursor,
    subscriber_fields,
    subscriber_upsert,
)
from profiles.models import Client, Profile
from profiles.services.bulk import rows_insert, rows_update
from profiles.services.runs import run_heartbeat_for

PAGE = 100
T = TypeVar("T")
R = TypeVar("R")
CUSTOMER_COLUMNS = [
    "email",
    "email_normalized",
    "firstname",
    "lastname",
    "website_id",
    "magento_store_id",
    "group_id",
    "company",
    "taxvat",
    "is_subscribed",
    "raw",
    "source_hash",
    "magento_updated_at",
    "magento_created_at",
    "synced_at",
]
SUBSCRIBER_COLUMNS = [
    "email",
    "email_normalized",
    "firstname",
    "lastname",
    "customer_magento_id",
    "magento_store_id",
    "website_id",
    "subscriber_status",
    "raw",
    "source_hash",
    "magento_updated_at",
    "synced_at",
]
GUEST_COLUMNS = [
    "email",
    "firstname",
    "lastname",
    "magento_store_id",
    "raw",
    "source_hash",
    "order_count",
    "last_order_id",
    "last_order_increment_id",
    "magento_updated_at",
    "synced_at",
]


# -- customers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Kind:
    """One kind of mirrored record, for :func:`_upsert_page`."""

    model: type[MirrorRecord]
    key: str  # the Magento id column, unique per store
    source_key: str  # the same id in Magento's JSON
    what: str  # for messages
    retry_key: str  # the retry list its failures go to ("": none)
    fields_of: Callable[[dict[str, Any]], dict[str, Any]]
    single: Callable[[Client, dict[str, Any]], Any]  # one record alone
    columns: list[str]
    keep_newer: bool  # a record older than the stored one changes nothing


def _keeps_stored(kind: _Kind, stored: tuple[str, Any] | None, fields: dict[str, Any]) -> bool:
    if stored is None:
        return False
    digest, updated = stored
    if digest == fields["source_hash"]:
        return True
    incoming = fields["magento_updated_at"]
    return kind.keep_newer and None not in (incoming, updated) and incoming < updated


def _upsert_page(
    kind: _Kind,
    store: Client,
    records: list[dict[str, Any]],
    *,
    profile: Profile | None,
    on_error: RecordError | None,
) -> list[Any]:
    """Mirror a page of records of ``kind``: one read of what is stored, one insert-or-
    update of what changed; their rows in page order (bad ones reported and left out)."""
    key = kind.retry_key
    prepared: dict[int, tuple[str, dict[str, Any], dict[str, Any]]] = {}
    for record in records:
        ident = str(record.get(kind.source_key))
        if known_failure(profile, key, ident, record):
            continue
        try:
            fields = kind.fields_of(safe_record(record))
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            record_failure(
                on_error, kind.what, ident, exc, profile=profile, retry_key=key, record=record
            )
            continue
        prepared.pop(fields[kind.key], None)  # read twice: the later read, in its place
        prepared[fields[kind.key]] = (ident, record, fields)
    if not prepared:
        return []
    rows_of = kind.model._default_manager.filter(store=store, **{f"{kind.key}__in": list(prepared)})
    now = timezone.now()
    try:
        with transaction.atomic():
            stored = {
                row[0]: (row[1], row[2])
                for row in rows_of.values_list(kind.key, "source_hash", "magento_updated_at")
            }
            rows_insert(
                kind.model,
                [
                    kind.model(store=store, synced_at=now, **fields)
                    for ident_key, (_ident, _record, fields) in prepared.items()
                    if not _keeps_stored(kind, stored.get(ident_key), fields)
                ],
                unique_fields=["store", kind.key],
                update_fields=kind.columns,
            )
    except DatabaseError:
        # One value the database cannot take spoils the statement: each record on its own.
        singles = (
            _isolated(
                on_error,
                kind.what,
                ident,
                partial(kind.single, store, record),
                profile=profile,
                retry_key=key,
                record=record,
            )
            for ident, record, _fields in prepared.values()
        )
        return [row for row in singles if row is not None]
    if profile is not None and key:
        for ident, _record, _fields in prepared.values():
            retry_list_forget(profile, key, ident)
    by_key = {getattr(row, kind.key): row for row in rows_of}
    return [by_key[k] for k in prepared if k in by_key]


CUSTOMERS = _Kind(
    model=Customer,
    key="magento_id",
    source_key="id",
    what="Magento customer",
    retry_key="customers",
    fields_of=customer_fields,
    single=customer_upsert,
    columns=CUSTOMER_COLUMNS,
    keep_newer=False,
)
# A subscription change older than the one the mirror holds (a late or replayed
# notification) is ignored: an old "subscribed" never overwrites a newer "unsubscribed".
SUBSCRIBERS = _Kind(
    model=Subscriber,
    key="subscriber_id",
    source_key="subscriber_id",
    what="newsletter subscriber",
    retry_key="",
    fields_of=subscriber_fields,
    single=subscriber_upsert,
    columns=SUBSCRIBER_COLUMNS,
    keep_newer=True,
)


def customers_upsert_page(
    store: Client,
    raws: list[dict[str, Any]],
    *,
    profile: Profile | None = None,
    on_error: RecordError | None = None,
) -> list[Customer]:
    """Mirror a page of Magento customers: their rows, in page order (bad ones left out)."""
    return _upsert_page(CUSTOMERS, store, raws, profile=profile, on_error=on_error)


def customers_read_pages(
    *,
    profile: Profile,
    client: MagentoClient,
    page_size: int = PAGE,
    on_error: RecordError | None = None,
) -> Iterator[list[Customer]]:
    """Customers changed since the profile's cursor, mirrored, a page at a time."""
    assert profile.source_client is not None
    store = profile.source_client
    # Customers that failed to mirror last time are read again first.
    again = []
    for ident in retry_list(profile, "customers"):
        raw = refetch(partial(client.get_customer, int(ident)), profile, "customers", ident)
        if raw is not None:
            again += customers_upsert_page(store, [raw], profile=profile, on_error=on_error)
    if again:
        yield again
    pager = client.iter_customers_changed(
        stored_cursor(profile, CUSTOMERS_CURSOR), page_size=page_size
    )
    yield from _pages(
        profile,
        CUSTOMERS_CURSOR,
        pager,
        pager,
        page_size,
        lambda page: customers_upsert_page(store, page, profile=profile, on_error=on_error),
    )


def _pages(
    profile: Profile,
    cursor_key: str,
    pager: KeysetPager,
    records: Iterable[T],
    page_size: int,
    mirror: Callable[[list[T]], list[R]],
) -> Iterator[list[R]]:
    """``records`` (read through ``pager``) mirrored ``page_size`` at a time; the cursor is
    saved once the caller has taken each page (resumed here, it has queued all so far).
    The next page is read from Magento while this one is written (:func:`read_ahead`)."""

    def chunks() -> Iterator[tuple[list[T], Any]]:
        # In the reader thread: API reads only. Each chunk carries the cursor after it.
        page: list[T] = []
        for record in records:
            page.append(record)
            if len(page) >= page_size:
                yield page, pager.cursor
                page = []
        yield page, pager.cursor

    for page, cursor in read_ahead(chunks):
        if page:
            yield mirror(page)
        if len(page) >= page_size:
            run_heartbeat_for(profile)
        if cursor is not None:
            cursor_save(profile, cursor_key, cursor)


# -- guest buyers ------------------------------------------------------------------------


def guests_upsert_page(
    store: Client,
    guests: list[tuple[dict[str, Any], int | None]],
    *,
    profile: Profile | None = None,
    on_error: RecordError | None = None,
) -> list[GuestBuyer]:
    """Merge a page of guest orders (each with its website) into the mirror: one row per
    e-mail and website, described by its newest order."""
    what, key = "guest order", "guest_orders"
    prepared: list[tuple[str, dict[str, Any], dict[str, Any], str, int | None]] = []
    for guest, website_id in guests:
        ident = str(guest.get("order_id"))
        if known_failure(profile, key, ident, guest):
            continue
        try:
            cleaned = safe_record(guest)
            if cleaned.get("order_id") is not None:
                int(cleaned["order_id"])
        except (KeyError, TypeError, ValueError, OverflowError) as exc:
            record_failure(on_error, what, ident, exc, profile=profile, retry_key=key, record=guest)
            continue
        email = email_key(cleaned.get("email"))
        if email:
            prepared.append((ident, guest, cleaned, email, website_id))
    if not prepared:
        return []
    now = timezone.now()
    rows: dict[tuple[str, int | None], GuestBuyer] = {}
    try:
        with transaction.atomic():
            for row in GuestBuyer.objects.filter(
                store=store, email_normalized__in=sorted({p[3] for p in prepared})
            ):
                rows[(row.email_normalized, row.website_id)] = row
            touched: dict[tuple[str, int | None], GuestBuyer] = {}
            for _ident, _guest, cleaned, email, website_id in prepared:
                merged, changed = guest_merge(
                    rows.get((email, website_id)), store, cleaned, website_id=website_id
                )
                rows[(email, website_id)] = merged
                if changed:
                    merged.synced_at = now
                    touched[(email, website_id)] = merged
            GuestBuyer.objects.bulk_create([r for r in touched.values() if r.pk is None])
            rows_update(
                GuestBuyer, [r for r in touched.values() if r.pk is not None], GUEST_COLUMNS
            )
    except DatabaseError:
        singles = (
            _isolated(
                on_error,
                what,
                ident,
                partial(guest_upsert, store, guest, website_id=website_id),
                profile=profile,
                retry_key=key,
                record=guest,
            )
            for ident, guest, _cleaned, _email, website_id in prepared
        )
        return list({(r.email_normalized, r.website_id): r for r in singles if r}.values())
    if profile is not None:
        for ident, *_rest in prepared:
            retry_list_forget(profile, key, ident)
    wanted = {(p[3], p[4]) for p in prepared}
    return [row for k, row in rows.items() if k in wanted]


def guests_read_pages(
    *,
    profile: Profile,
    client: MagentoClient,
    page_size: int = PAGE,
    on_error: RecordError | None = None,
) -> Iterator[list[GuestBuyer]]:
    """Guest buyers from guest orders changed since the profile's cursor, a page at a time."""
    assert profile.source_client is not None
    store = profile.source_client
    websites = store_websites(client)

    def with_website(guest: dict[str, Any]) -> tuple[dict[str, Any], int | None]:
        store_id = guest.get("store_id")
        try:
            return guest, websites.get(int(store_id)) if store_id is not None else None
        except (TypeError, ValueError):
            return guest, None

    # Guest orders that failed to mirror last time are read again first.
    again = []
    for ident in retry_list(profile, "guest_orders"):
        order = refetch(partial(client.get, f"orders/{int(ident)}"), profile, "guest_orders", ident)
        if order is not None:
            again += guests_upsert_page(
                store, [with_website(guest_from_order(order))], profile=profile, on_error=on_error
            )
    if again:
        yield again
    pager = client.iter_guest_orders_changed(
        stored_cursor(profile, GUEST_ORDERS_CURSOR), page_size=page_size
    )
    yield from _pages(
        profile,
        GUEST_ORDERS_CURSOR,
        pager,
        (with_website(guest) for guest in MagentoClient.guest_buyers(pager)),
        page_size,
        lambda page: guests_upsert_page(store, page, profile=profile, on_error=on_error),
    )


def guests_read(
    *,
    profile: Profile,
    client: MagentoClient,
    page_size: int = PAGE,
    on_error: RecordError | None = None,
) -> Iterator[GuestBuyer]:
    """:func:`guests_read_pages`, a guest at a time."""
    for page in guests_read_pages(
        profile=profile, client=client, page_size=page_size, on_error=on_error
    ):
        yield from page


# -- newsletter subscribers --------------------------------------------------------------


def subscribers_upsert_page(
    store: Client, records: list[dict[str, Any]], *, on_error: RecordError | None = None
) -> list[Subscriber]:
    """Mirror a page of subscriber rows: their rows, in page order (bad ones left out)."""
    return _upsert_page(SUBSCRIBERS, store, records, profile=None, on_error=on_error)


def subscribers_read_pages(
    *,
    profile: Profile,
    source: SubscriberSource,
    page_size: int = PAGE,
    on_error: RecordError | None = None,
) -> Iterator[list[Subscriber]]:
    """Subscribers whose status changed since the profile's cursor, a page at a time; the
    cursor (the newest change time read) is saved once all were taken."""
    assert profile.source_client is not None
    store = profile.source_client
    since = (profile.state or {}).get(SUBSCRIBERS_CURSOR)
    newest = since

    def chunks() -> Iterator[list[dict[str, Any]]]:
        # In the reader thread (read_ahead): the source's reads only.
        page: list[dict[str, Any]] = []
        for data in source.iter_subscribers(since):
            page.append(data)
            if len(page) >= page_size:
                yield page
                page = []
        yield page

    for page in read_ahead(chunks):
        for data in page:
            changed = data.get("change_status_at")
            if changed and (newest is None or str(changed) > str(newest)):
                newest = str(changed)
        if page:
            yield subscribers_upsert_page(store, page, on_error=on_error)
        if len(page) >= page_size:
            run_heartbeat_for(profile)
    if newest and newest != since:
        cursor_save(profile, SUBSCRIBERS_CURSOR, newest)
