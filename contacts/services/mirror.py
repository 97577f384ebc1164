"""The local mirror of Magento: one record's upsert into Customer, GuestBuyer and
Subscriber, the cursors, and the bookkeeping of records that could not be mirrored (read
again next time, reported once). The page-at-a-time readers are in
:mod:`contacts.services.mirror_pages`.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from django.db import DatabaseError, DataError, transaction
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from connectors.errors import ConnectorError, NotFound
from connectors.magento.client import MagentoClient
from contacts.models import Customer, GuestBuyer, Subscriber
from contacts.people import clean, email_key, mapping_of, person_from_customer
from contacts.text import CLEANED_KEY, clean_json
from profiles.models import Client, Profile

logger = logging.getLogger(__name__)

# Called with (what, which record, the exception) when one record cannot be mirrored.
RecordError = Callable[[str, str, Exception], None]

CUSTOMERS_CURSOR = "customers_cursor"
GUEST_ORDERS_CURSOR = "guest_orders_cursor"
SUBSCRIBERS_CURSOR = "subscribers_cursor"


def source_hash(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def magento_time(value: Any) -> datetime | None:
    """Magento's zone-less ``YYYY-MM-DD HH:MM:SS`` (UTC) as an aware datetime."""
    if not value:
        return None
    parsed = parse_datetime(str(value).replace(" ", "T"))
    if parsed is None:
        return None
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, UTC)
    return parsed


def stored_cursor(profile: Profile, key: str) -> tuple[str, int] | None:
    value = (profile.state or {}).get(key)
    if not value:
        return None
    return (str(value[0]), int(value[1]))


def cursor_save(profile: Profile, key: str, value: Any) -> None:
    """Persist one incremental cursor without overwriting the others."""
    fresh = Profile.objects.only("state").get(pk=profile.pk)
    state = dict(fresh.state or {})
    state[key] = list(value) if isinstance(value, tuple) else value
    Profile.objects.filter(pk=profile.pk).update(state=state)
    profile.state = state


def safe_record(raw: dict[str, Any]) -> dict[str, Any]:
    """The record without characters no database or API takes (NUL, control characters,
    lone surrogates); the fields that held them are listed under ``CLEANED_KEY``."""
    cleaned, paths = clean_json({k: v for k, v in raw.items() if k != CLEANED_KEY})
    if paths:
        cleaned[CLEANED_KEY] = paths
    return dict(cleaned)


def customer_fields(raw: dict[str, Any]) -> dict[str, Any]:
    """The mirror columns of one (cleaned) Magento customer; bad data raises KeyError,
    TypeError or ValueError."""
    person = person_from_customer(raw)
    return {
        "magento_id": int(raw["id"]),
        "email": person.email,
        "email_normalized": email_key(person.email),
        "firstname": person.firstname,
        "lastname": person.lastname,
        "website_id": person.website_id,
        "magento_store_id": person.store_id,
        "group_id": person.group_id,
        "company": person.company,
        "taxvat": person.taxvat,
        "is_subscribed": mapping_of(raw.get("extension_attributes")).get("is_subscribed"),
        "raw": raw,
        "source_hash": source_hash(raw),
        "magento_updated_at": magento_time(raw.get("updated_at")),
        "magento_created_at": magento_time(raw.get("created_at")),
    }


def customer_upsert(store: Client, raw: dict[str, Any]) -> Customer:
    """Insert or update the mirror row of one Magento customer."""
    fields = customer_fields(safe_record(raw))
    magento_id = fields.pop("magento_id")
    customer, _ = Customer.objects.update_or_create(
        store=store, magento_id=magento_id, defaults=fields
    )
    return customer


RETRY_STATE = "mirror_retry"


def _isolated(
    on_error: RecordError | None,
    what: str,
    ident: str,
    fn: Callable[[], Any],
    *,
    profile: Profile | None = None,
    retry_key: str = "",
    record: Any = None,
) -> Any:
    """Mirror one record; a record that cannot be stored is reported, never fatal, and
    remembered (``retry_key``) so the next collection reads it again even though the
    cursor has moved past it. Read again unchanged (``record`` as it failed), it stays
    failed quietly: reported once, not on every run, until Magento changes it."""
    if known_failure(profile, retry_key, ident, record):
        return None
    try:
        with transaction.atomic():
            row = fn()
    except (DatabaseError, KeyError, TypeError, ValueError, OverflowError) as exc:
        record_failure(
            on_error, what, ident, exc, profile=profile, retry_key=retry_key, record=record
        )
        return None
    if profile is not None and retry_key:
        _retry_list_update(profile, retry_key, remove=ident)
    return row


def known_failure(profile: Profile | None, retry_key: str, ident: str, record: Any) -> bool:
    """True for a record that failed before exactly as it is now: it stays failed quietly."""
    if profile is None or not retry_key or record is None:
        return False
    failed = _failed_hashes(profile, retry_key).get(ident)
    return failed is not None and failed == source_hash(record)


def record_failure(
    on_error: RecordError | None,
    what: str,
    ident: str,
    exc: Exception,
    *,
    profile: Profile | None,
    retry_key: str,
    record: Any,
) -> None:
    """Report a record that could not be mirrored and remember it for the next read."""
    logger.warning("could not mirror %s %s: %s", what, ident, exc)
    if on_error is not None:
        on_error(what, ident, exc)
    if profile is not None and retry_key:
        # Bad data fails the same way every time: remember the record as it failed.
        # A database hiccup may pass: that one is simply tried again.
        same_again = isinstance(exc, DataError | KeyError | TypeError | ValueError | OverflowError)
        digest = source_hash(record) if record is not None and same_again else ""
        _retry_list_update(profile, retry_key, add=ident, digest=digest)


def retry_list_forget(profile: Profile, key: str, ident: str) -> None:
    """A record mirrored fine: no longer one to read again."""
    _retry_list_update(profile, key, remove=ident)


def retry_list(profile: Profile, key: str) -> list[str]:
    return _retry_list(profile, key)


def _failed_hashes(profile: Profile, key: str) -> dict[str, str]:
    return dict(((profile.state or {}).get(RETRY_STATE) or {}).get(f"{key}_failed") or {})


def _retry_list(profile: Profile, key: str) -> list[str]:
    return list(((profile.state or {}).get(RETRY_STATE) or {}).get(key) or [])


def _retry_list_update(
    profile: Profile, key: str, *, add: str = "", remove: str = "", digest: str = ""
) -> None:
    current = _retry_list(profile, key)
    hashes = _failed_hashes(profile, key)
    wanted = [i for i in current if i != remove]
    hashes.pop(remove, None)
    if add and add not in wanted:
        wanted.append(add)
    if add and digest:
        hashes[add] = digest
    if wanted == current and hashes == _failed_hashes(profile, key):
        return
    fresh = Profile.objects.only("state").get(pk=profile.pk)
    state = dict(fresh.state or {})
    retry = dict(state.get(RETRY_STATE) or {})
    retry[key] = wanted
    retry[f"{key}_failed"] = hashes
    state[RETRY_STATE] = retry
    Profile.objects.filter(pk=profile.pk).update(state=state)
    profile.state = state


def refetch(fetch: Callable[[], Any], profile: Profile, key: str, ident: str) -> Any:
    """Read one remembered record again; one that no longer exists is forgotten."""
    try:
        return fetch()
    except NotFound:
        _retry_list_update(profile, key, remove=ident)
    except ConnectorError as exc:
        logger.warning("could not re-read %s %s: %s", key, ident, exc)
    return None


def store_websites(client: MagentoClient) -> dict[int, int]:
    """store_id → website_id, for guests (orders carry only the store)."""
    try:
        return {int(s["id"]): int(s["website_id"]) for s in client.store_views()}
    except Exception:  # the mapping only refines the guest key; never fail collection on it
        return {}


def guest_merge(
    existing: GuestBuyer | None, store: Client, guest: dict[str, Any], *, website_id: int | None
) -> tuple[GuestBuyer, bool]:
    """One (cleaned) guest order merged into the guest's mirror row, in memory: the row and
    whether it changed. An older order than the one the row describes changes nothing."""
    key = email_key(guest.get("email"))
    order_id = int(guest["order_id"]) if guest.get("order_id") is not None else None
    digest = source_hash(guest)
    if existing is not None and existing.last_order_id and order_id:
        if order_id < existing.last_order_id:
            return existing, False  # an older order: the newest one describes the guest
        if order_id == existing.last_order_id and existing.source_hash == digest:
            return existing, False
    row = existing or GuestBuyer(store=store, email_normalized=key, website_id=website_id)
    if existing is not None and order_id != existing.last_order_id:
        row.order_count += 1
    row.email = clean(guest.get("email"))
    row.firstname = clean(guest.get("firstname"))
    row.lastname = clean(guest.get("lastname"))
    row.magento_store_id = guest.get("store_id")
    row.raw = guest
    row.source_hash = digest
    row.last_order_id = order_id
    row.last_order_increment_id = str(guest.get("increment_id") or "")
    row.magento_updated_at = magento_time(guest.get("updated_at"))
    return row, True


def guest_upsert(
    store: Client, guest: dict[str, Any], *, website_id: int | None
) -> GuestBuyer | None:
    """Merge one guest order into the mirror (one row per e-mail and website)."""
    guest = safe_record(guest)
    key = email_key(guest.get("email"))
    if not key:
        return None
    existing = GuestBuyer.objects.filter(
        store=store, email_normalized=key, website_id=website_id
    ).first()
    row, changed = guest_merge(existing, store, guest, website_id=website_id)
    if changed:
        row.save()
    return row


def subscriber_upsert(store: Client, data: dict[str, Any]) -> Subscriber:
    """Insert or update the mirror row of one newsletter subscriber.

    A change older than the one the mirror holds (a late or replayed notification) is
    ignored: an old "subscribed" must never overwrite a newer "unsubscribed".
    """
    fields = subscriber_fields(safe_record(data))
    subscriber_id = fields.pop("subscriber_id")
    incoming = fields["magento_updated_at"]
    existing = Subscriber.objects.filter(store=store, subscriber_id=subscriber_id).first()
    if (
        existing is not None
        and incoming is not None
        and existing.magento_updated_at is not None
        and incoming < existing.magento_updated_at
    ):
        return existing
    subscriber, _ = Subscriber.objects.update_or_create(
        store=store, subscriber_id=subscriber_id, defaults=fields
    )
    return subscriber


def subscriber_fields(data: dict[str, Any]) -> dict[str, Any]:
    """The mirror columns of one (cleaned) subscriber row; bad data raises."""
    return {
        "subscriber_id": int(data["subscriber_id"]),
        "email": clean(data.get("email")),
        "email_normalized": email_key(data.get("email")),
        "firstname": clean(data.get("firstname")),
        "lastname": clean(data.get("lastname")),
        "customer_magento_id": data.get("customer_id") or None,
        "magento_store_id": data.get("store_id"),
        "website_id": data.get("website_id"),
        "subscriber_status": int(data["status"]),
        "raw": data,
        "source_hash": source_hash(data),
        "magento_updated_at": magento_time(data.get("change_status_at")),
    }
