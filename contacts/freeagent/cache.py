"""The FreeAgent contacts cache: incremental collection and e-mail lookups."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Max
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from connectors.freeagent.client import FreeAgentClient
from contacts.models import RemoteContact
from contacts.people import email_key
from profiles.models import Client
from profiles.services.bulk import rows_insert

# Incremental fetches start where the previous fetch *started* (by our clock), minus this
# margin for clock skew (NTP keeps servers well within it) and FreeAgent's one-second
# timestamps. Not from the newest contact we hold: our own writes move that mark and would
# hide contacts others created meanwhile.
OVERLAP = timedelta(seconds=15)
# Inside one run the cache is read again at most this often. What our own workers create
# is in the cache the moment it is linked (under the per-e-mail create lock), so a re-read
# only looks for contacts made outside this tool — and every re-read also lists our own
# writes since the last one: a read per batch would cost as many requests as the creates
# themselves at 100 contacts a batch. Every run reads once at its first batch.
REFRESH_EVERY = timedelta(seconds=60)
WATERMARK_KEY = "freeagent_contacts_fetched_at"
CHUNK = 500  # ids per IN (...) list
STORE_CHUNK = 100  # contacts written per statement (one FreeAgent page)


@dataclass
class CacheRefresh:
    fetched: int = 0
    full: bool = False
    skipped: bool = False  # read recently enough in this run (see REFRESH_EVERY)
    removed: int = 0  # cached contacts FreeAgent no longer has (a full read only)
    requeued: int = 0  # contacts of our profiles re-evaluated because of what changed


def _remote_time(value: Any) -> datetime | None:
    if not value:
        return None
    return parse_datetime(str(value))


def _row(client: Client, contact: dict[str, Any], now: datetime) -> RemoteContact:
    return RemoteContact(
        client=client,
        url=str(contact["url"]),
        email_key=email_key(contact.get("email")),
        status=str(contact.get("status") or "Active"),
        data=contact,
        remote_updated_at=_remote_time(contact.get("updated_at")),
        collected_at=now,
    )


def remote_contacts_store(client: Client, contacts: list[dict[str, Any]]) -> None:
    """Insert or update cached contacts from FreeAgent's JSON (one prepared statement)."""
    now = timezone.now()
    by_url = {str(c["url"]): c for c in contacts if c.get("url")}  # the last one wins
    rows_insert(
        RemoteContact,
        [_row(client, contact, now) for contact in by_url.values()],
        unique_fields=["client", "url"],
        update_fields=["email_key", "status", "data", "remote_updated_at", "collected_at"],
    )


def remote_contact_store(client: Client, contact: dict[str, Any]) -> None:
    """Insert or update one cached contact from FreeAgent's JSON."""
    remote_contacts_store(client, [contact])


def remote_contacts_collect(
    *,
    client: Client,
    api: FreeAgentClient,
    full: bool = False,
    since: datetime | None = None,
    requeue: bool = True,
    reuse_since: datetime | None = None,
    run_id: int | None = None,
) -> CacheRefresh:
    """Fetch FreeAgent contacts into the cache: everything the first time (or ``full``),
    otherwise those updated since the previous fetch started (see :data:`OVERLAP`).

    An explicit ``since`` (reconciling one create) fetches that window only and leaves the
    watermark alone. ``requeue`` False (the drift check, which only reports) leaves the
    contacts of our profiles as they are. ``reuse_since`` (a run's start): a cache read
    since then and less than :data:`REFRESH_EVERY` ago is not read again. ``run_id`` (a
    batch's run): contacts that run already decided are not queued for it again — the
    next run decides them (else a run would re-claim its own ambiguous contacts for ever).
    """
    started = timezone.now()
    moves_watermark = since is None
    if since is None and not full:
        mark = _watermark(client)
        # Read in this run, and recently: an empty account too (it stays a full read while
        # the cache is empty, so must not be read again batch after batch).
        read_in_this_run = reuse_since is not None and mark is not None and mark >= reuse_since
        if read_in_this_run and mark is not None and started - mark < REFRESH_EVERY:
            return CacheRefresh(skipped=True)
        if mark is not None and RemoteContact.objects.filter(client=client).exists():
            since = mark - OVERLAP
    result = CacheRefresh(full=since is None)
    seen: set[str] = set()
    keys: set[str] = set()
    page: list[dict[str, Any]] = []
    for contact in api.list_contacts(view="all", sort="updated_at", updated_since=since):
        page.append(contact)
        seen.add(str(contact["url"]))
        keys.add(email_key(contact.get("email")))
        result.fetched += 1
        if len(page) >= STORE_CHUNK:
            remote_contacts_store(client, page)
            page = []
    remote_contacts_store(client, page)
    gone_urls: list[str] = []
    if result.full:
        # A complete listing is the truth: what it lacks was deleted in FreeAgent.
        cached = RemoteContact.objects.filter(client=client).values_list("url", flat=True)
        gone_urls = [url for url in cached.iterator(chunk_size=2000) if url not in seen]
        for start in range(0, len(gone_urls), CHUNK):
            result.removed += RemoteContact.objects.filter(
                client=client, url__in=gone_urls[start : start + CHUNK]
            ).delete()[0]
    if requeue:
        result.requeued = _requeue_affected(
            client, None if result.full else keys, gone_urls, run_id=run_id
        )
    if moves_watermark:
        _watermark_save(client, started)
    return result


def _requeue_affected(
    client: Client, keys: set[str] | None, gone_urls: list[str], *, run_id: int | None = None
) -> int:
    """Contacts whose picture changed are decided again by the next run: an ambiguity
    whose remote duplicates are gone clears on its own (``keys`` None: after a full read,
    every ambiguous one), and a link to a deleted contact is noticed now rather than when
    its customer next changes."""
    from contacts.models import ContactEntity
    from profiles.models import QueueStatus, SyncStatus

    entities = ContactEntity.objects.filter(profile__client=client).exclude(
        queue_status=QueueStatus.PROCESSING
    )
    if run_id is not None:
        entities = entities.exclude(run_id=run_id)
    again = {"queue_status": QueueStatus.PENDING, "next_attempt_at": None}
    ambiguous = entities.filter(status=SyncStatus.AMBIGUOUS)
    if keys is None:
        count = ambiguous.update(**again)
    else:
        wanted = sorted(k for k in keys if k)
        count = sum(
            ambiguous.filter(email_key__in=wanted[i : i + CHUNK]).update(**again)
            for i in range(0, len(wanted), CHUNK)
        )
    for start in range(0, len(gone_urls), CHUNK):
        count += entities.filter(remote_id__in=gone_urls[start : start + CHUNK]).update(**again)
    return count


def _watermark(client: Client) -> datetime | None:
    fresh = Client.objects.only("configuration_data").get(pk=client.pk)
    value = (fresh.configuration_data or {}).get(WATERMARK_KEY)
    return parse_datetime(value) if value else None


def _watermark_save(client: Client, moment: datetime) -> None:
    fresh = Client.objects.only("configuration_data").get(pk=client.pk)
    data = {**(fresh.configuration_data or {}), WATERMARK_KEY: moment.isoformat()}
    Client.objects.filter(pk=client.pk).update(configuration_data=data)
    client.configuration_data = data


def remote_contacts_by_email(client: Client, email: str) -> list[RemoteContact]:
    """Active cached contacts with this e-mail (case- and whitespace-insensitive)."""
    return remote_contacts_by_emails(client, [email]).get(email_key(email), [])


def remote_contacts_by_emails(client: Client, emails: list[str]) -> dict[str, list[RemoteContact]]:
    """Active cached contacts by e-mail key for many e-mails: one query per 500 keys."""
    keys = sorted({k for k in map(email_key, emails) if k})
    found: dict[str, list[RemoteContact]] = {}
    for start in range(0, len(keys), CHUNK):
        rows = (
            RemoteContact.objects.filter(client=client, email_key__in=keys[start : start + CHUNK])
            .exclude(status="Hidden")
            .order_by("pk")
        )
        for row in rows:
            found.setdefault(row.email_key, []).append(row)
    return found


def remote_contact_get(client: Client, url: str) -> RemoteContact | None:
    return RemoteContact.objects.filter(client=client, url=url).first()


def cache_age_text(client: Client) -> str:
    newest = RemoteContact.objects.filter(client=client).aggregate(m=Max("collected_at"))["m"]
    if newest is None:
        return "never collected"
    minutes = int((timezone.now() - newest).total_seconds() // 60)
    return f"collected {minutes} minute(s) ago"
