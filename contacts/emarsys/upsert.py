"""Sending a batch to Emarsys without ever duplicating a contact.

Order of work for one batch:

1. contacts we already know (``remote_id``) are updated **by internal id** — an e-mail
   change therefore updates the same contact; a 2008 (deleted in Emarsys) sends the person
   through resolution again;
2. the others are resolved before anything is created: by the "Magento Customer ID" field,
   then the "Magento Subscriber ID" field (a crash after an upsert lost nothing), then by
   e-mail (a contact that already exists in Emarsys is adopted, not duplicated);
3. what is still unknown is upserted keyed by e-mail (``create_if_not_exists``).

Steps 2 (by e-mail) and 3 run under one create lock per Emarsys account, with the e-mail
lookup repeated inside it and the new internal ids written to the entities before it is
released: two batches that both want to create one e-mail are therefore serialised, and
the second sees the first's contact (adopted, or AMBIGUOUS for another Magento customer)
exactly as if they had run one after the other. The lock is per account, not per e-mail,
because a batch creates up to 1,000 e-mails in one call (1,000 locks per call would be
1,000 Redis round trips / open files); only the short create phase is serialised.

Calls carry ≤ 1,000 contacts and ≤ 8 MB; transient errors are retried with backoff inside
the run and then deferred (``Outcome.RETRY``); per-contact errors inside HTTP 200 fail just
that contact with Emarsys' replyCode and text. Refused credentials (401/403) defer the
contacts for the failsafe queue and open a breaker: the rest of the batch is not sent.
Every contact of every call gets a :class:`~contacts.models.DeliveryAttempt`.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings as django_settings

from connectors.emarsys.client import EmarsysClient
from connectors.emarsys.contacts import split_batches
from connectors.emarsys.envelope import reply_code_of
from connectors.emarsys.models import ContactResult
from connectors.errors import AuthError, ConnectorError, RateLimited, TransientError
from connectors.http import call_with_retries
from connectors.locks import process_lock
from contacts.emarsys import config
from contacts.emarsys.fields import Schema, is_placeholder
from contacts.emarsys.mapping import EMAIL, Content, diff
from contacts.models import ContactEntity, DeliveryAttempt
from profiles.pipeline import BatchContext, Outcome, WorkItem

logger = logging.getLogger("contactsync.emarsys_contact_sync")
T = TypeVar("T")
BY_ID = "id"

# getdata by a key field Emarsys has no index for ("no index on column"): that lookup
# cannot be made, so it is skipped. Any other error defers the contacts.
NOT_SEARCHABLE = frozenset({2015})
LIST_EXISTS = 3005  # "contact list name exists": another batch created it meanwhile

# call_with_retries, as used here: attempts per call and the longest 429 wait.
MAX_ATTEMPTS = 4
MAX_RATE_LIMIT_WAIT = 120.0
# The create lock: held for the e-mail lookup, the updates of what it found and the
# creates (three calls). Its TTL (which only matters when a holder dies with a Redis lock)
# is longer than it can ever be held: inside it, a call is only started when its worst case
# (see Upserter.call_worst_case) still ends LOCK_SLACK before the TTL; what does not fit
# is deferred. It also outlives the batch task's hard time limit.
LOCK_TTL = 900.0
LOCK_SLACK = 60.0  # the database writes done under the lock, and clock slop
LOCK_WAIT = 120.0  # how long a batch waits for another one's create phase


def _pause(seconds: float) -> None:
    time.sleep(seconds)  # looked up at call time, so tests can patch it


def _lock_dir() -> str:
    path = Path(django_settings.VAR_DIR) / "locks"
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


def create_lock_name(client_pk: Any) -> str:
    return f"emarsys-create:{client_pk}"


class Upserter:
    """Writes one batch (see the module docstring)."""

    def __init__(
        self,
        *,
        ctx: BatchContext,
        api: EmarsysClient,
        schema: Schema,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.ctx = ctx
        self.api = api
        self.schema = schema
        self.sleep = sleep or _pause
        self.settings = config.effective(ctx.profile.settings)
        self.upsert_calls = 0
        self.broken = ""  # why the breaker opened (refused credentials), if it did
        self.deadline: float | None = None  # while holding the create lock

    def _retrying(self, fn: Callable[[], T]) -> T:
        return call_with_retries(
            fn,
            sleep=self.sleep,
            max_attempts=MAX_ATTEMPTS,
            max_rate_limit_wait=MAX_RATE_LIMIT_WAIT,
        )

    def call_worst_case(self) -> float:
        """The longest one retried call can take: every attempt timing out, the backoff
        between them and the 429 waits."""
        timeout = getattr(self.api, "timeout", (5.0, 60.0))
        per_attempt = sum(timeout) if isinstance(timeout, tuple) else float(timeout)
        backoff = sum(min(30.0, 0.5 * 2**n) for n in range(MAX_ATTEMPTS - 1))
        return MAX_ATTEMPTS * per_attempt + backoff + MAX_RATE_LIMIT_WAIT

    def _may_call(self, items: Sequence[WorkItem]) -> bool:
        """False (the items deferred) when the breaker is open, or when under the create
        lock a call could outlast the lock's TTL."""
        reason = self.broken
        late = self.deadline is not None and (
            time.monotonic() + self.call_worst_case() > self.deadline
        )
        if not reason and late:
            reason = (
                "Not sent: Emarsys answered too slowly to finish this batch's creates "
                "while holding the create lock; retried later."
            )
        if not reason:
            return True
        for item in items:
            if not item.done:
                item.finish(Outcome.RETRY, reason)
        return False

    def _refused(self, exc: AuthError) -> str:
        """The message for refused credentials; opens the breaker for the rest of the batch."""
        message = (
            f"Emarsys refused the credentials ({exc.message}, HTTP {exc.status or '?'}); "
            "reconnect the client."
        )
        if not self.broken:
            self.broken = f"Not sent: {message}"
            self.ctx.log(
                f"{message} The rest of this batch is deferred to the failsafe queue.",
                level="error",
            )
        return message

    # -- the batch -----------------------------------------------------------------------------

    def write(self, items: Sequence[WorkItem]) -> None:
        """Send the batch's open items; every one ends with an outcome."""
        todo = [i for i in items if not i.done]
        known = [i for i in todo if i.entity.remote_id]
        fresh = [i for i in todo if not i.entity.remote_id]
        vanished = self._send(known, key=BY_ID)
        for item in vanished:
            item.details["vanished_remote_id"] = item.entity.remote_id
        fresh += vanished
        identity = self.schema.identity
        self._resolve(fresh, [identity.customer_field, identity.subscriber_field])
        self._send_found([i for i in fresh if not i.done and i.remote_id])
        self._create([i for i in fresh if not i.done])
        self._lists(items)
        self._remember(items)

    def _send_found(self, found: list[WorkItem]) -> None:
        for item in self._send(found, key=BY_ID):
            item.finish(Outcome.FAILED, "Emarsys found the contact, then said it does not exist.")

    # -- creating --------------------------------------------------------------------------------

    def _create(self, items: list[WorkItem]) -> None:
        """Resolve by e-mail and create what is still unknown, under the create lock."""
        if not items:
            return
        if self.ctx.dry_run:
            self._create_locked(items)
            return
        assert self.ctx.profile.client is not None
        with ExitStack() as stack:
            try:
                stack.enter_context(
                    process_lock(
                        create_lock_name(self.ctx.profile.client.pk),
                        redis_url=django_settings.REDIS_URL or None,
                        lock_dir=_lock_dir(),
                        timeout=LOCK_WAIT,
                        ttl=LOCK_TTL,
                    )
                )
            except TransientError as exc:  # LockTimeout, or Redis unavailable
                for item in items:
                    item.finish(
                        Outcome.RETRY,
                        f"Not sent: other contacts are being created in this Emarsys account "
                        f"right now ({exc.message}); retried later.",
                    )
                return
            self.deadline = time.monotonic() + LOCK_TTL - LOCK_SLACK
            try:
                self._create_locked(items)
            finally:
                self.deadline = None

    def _create_locked(self, items: list[WorkItem]) -> None:
        self._resolve(items, [EMAIL])
        self._send_found(self._one_per_contact(items))
        self._send(self._one_per_email([i for i in items if not i.done]), key=EMAIL)
        self._link(items)

    def _one_per_contact(self, items: list[WorkItem]) -> list[WorkItem]:
        """Two people of this batch found one Emarsys contact by e-mail: run one after the
        other, the second would see the first's customer id on it (see :meth:`_adopt`)."""
        owner: dict[str, WorkItem] = {}
        out = []
        for item in items:
            if item.done or not item.remote_id:
                continue
            first = owner.setdefault(item.remote_id, item)
            ours, theirs = item.entity.customer_id, first.entity.customer_id
            if first is not item and None not in (ours, theirs) and ours != theirs:
                item.remote_id = None
                item.finish(
                    Outcome.AMBIGUOUS,
                    f"The Emarsys contact {first.remote_id} with this e-mail is also that of "
                    f"{first.entity.person_key}; one e-mail cannot be two Emarsys contacts.",
                )
                continue
            out.append(item)
        return out

    def _link(self, items: list[WorkItem]) -> None:
        """Write the new internal ids at once (still under the lock): a crash before
        "Queue & Log" must not forget a contact we made."""
        if self.ctx.dry_run:
            return
        linked = []
        for item in items:
            written = item.outcome in (Outcome.CREATED, Outcome.UPDATED)
            if written and item.remote_id and item.entity.remote_id != item.remote_id:
                item.entity.remote_id = item.remote_id
                linked.append(item.entity)
        ContactEntity.objects.bulk_update(linked, ["remote_id"], batch_size=500)

    # -- sending ---------------------------------------------------------------------------------

    def _contact(self, item: WorkItem, key: str) -> dict[str, Any]:
        content: Content = item.context["content"]
        if key == BY_ID:
            remote = item.remote_id or item.entity.remote_id
            item.payload = content.to_send(known=True)
            return {BY_ID: remote, **item.payload}
        item.payload = content.to_send(known=False)
        return dict(item.payload)

    def _send(self, items: list[WorkItem], *, key: str) -> list[WorkItem]:
        """Upsert ``items`` keyed by ``key``; returns the items Emarsys did not find (2008)."""
        if not items:
            return []
        pairs = [(item, self._contact(item, key)) for item in items]
        if self.ctx.dry_run:
            self._dry_run(pairs, key)
            return []
        by_identity = {id(contact): item for item, contact in pairs}
        missing: list[WorkItem] = []
        for chunk in split_batches(
            [contact for _, contact in pairs],
            envelope={"key_id": key},
            max_count=self.api.max_batch,
            max_bytes=self.api.max_body_bytes,
        ):
            chunk_items = [by_identity[id(contact)] for contact in chunk]
            if self._may_call(chunk_items):
                missing += self._send_chunk(chunk_items, list(chunk), key)
        return missing

    def _send_chunk(self, items: list[WorkItem], contacts: list[Any], key: str) -> list[WorkItem]:
        create = key != BY_ID
        started = time.monotonic()
        self.upsert_calls += 1
        try:
            result = self._retrying(
                lambda: self.api.upsert_contacts(contacts, key_id=key, create_if_not_exists=create)
            )
        except ConnectorError as exc:
            duration = int((time.monotonic() - started) * 1000)
            if isinstance(exc, AuthError):
                outcome, message = Outcome.RETRY, self._refused(exc)
            elif isinstance(exc, TransientError):
                outcome, message = Outcome.RETRY, f"Emarsys: {exc.message}"
            else:
                outcome, message = Outcome.FAILED, f"Emarsys: {exc.message}"
            for item in items:
                item.finish(outcome, message, http_status=exc.status)
                if isinstance(exc, RateLimited):
                    item.retry_after = exc.retry_after
            self._attempts(items, contacts, key, duration, status=exc.status, error=exc)
            return []
        duration = int((time.monotonic() - started) * 1000)
        missing = []
        for item, contact_result in zip(items, result.results, strict=True):
            if self._apply(item, contact_result, key):
                missing.append(item)
        self._attempts(items, contacts, key, duration, status=200, results=result.results)
        return missing

    def _apply(self, item: WorkItem, result: ContactResult, key: str) -> bool:
        """Record one contact's result; True when an update by id found no contact."""
        error = result.error
        if error is None:
            item.remote_id = result.id or item.remote_id or item.entity.remote_id or None
            item.context["written"] = True
            created = key != BY_ID and result.created is True
            item.finish(
                Outcome.CREATED if created else Outcome.UPDATED,
                f"{'Created' if created else 'Updated'} Emarsys contact {item.remote_id or '?'}.",
            )
            return False
        if error.not_found and key == BY_ID and "vanished_remote_id" not in item.details:
            item.remote_id = None
            item.entity.remote_id = ""
            return True
        detail = {"reply_code": error.code, "reply_text": error.message}
        if error.ambiguous:
            item.finish(
                Outcome.AMBIGUOUS,
                f"Emarsys replyCode {error.code}: {error.message} — more than one contact "
                "has this key; merge them in Emarsys, then retry.",
                **detail,
            )
        else:
            item.finish(
                Outcome.FAILED, f"Emarsys replyCode {error.code}: {error.message}", **detail
            )
        return False

    def _attempts(
        self,
        items: list[WorkItem],
        contacts: list[Any],
        key: str,
        duration: int,
        *,
        status: int | None,
        results: Sequence[ContactResult] | None = None,
        error: ConnectorError | None = None,
    ) -> None:
        rows = []
        for n, (item, contact) in enumerate(zip(items, contacts, strict=True)):
            if results is not None:
                r = results[n]
                response: dict[str, Any] = {"id": r.id, "created": r.created}
                if r.error is not None:
                    response["error"] = r.error.as_dict()
            else:
                response = error.as_dict() if error is not None else {}
            rows.append(
                DeliveryAttempt(
                    entity=item.entity,
                    run=self.ctx.run,
                    action="update" if key == BY_ID else "upsert",
                    outcome=(item.outcome or Outcome.RETRY).value,
                    http_status=status,
                    duration_ms=duration,
                    message=item.message[:2000],
                    request={"key_id": key, "contact": contact},
                    response=response,
                )
            )
        DeliveryAttempt.objects.bulk_create(rows)

    # -- resolution ----------------------------------------------------------------------------

    def _lookup(self, key_field: str, values: list[str]) -> dict[str, list[dict[str, Any]]]:
        """getdata rows by key value (lower-cased for e-mail)."""
        identity = self.schema.identity
        wanted = [identity.customer_field, identity.subscriber_field, EMAIL]
        wanted = [f for f in wanted if not is_placeholder(f)]
        result = self._retrying(
            lambda: self.api.get_contacts(values, key_id=key_field, fields=wanted)
        )
        rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for row in result.rows:
            value = str(row.get(key_field) or "").strip()
            rows[value.lower() if key_field == EMAIL else value].append(row)
        return rows

    def _resolve(self, items: list[WorkItem], key_fields: list[str]) -> None:
        """Find existing Emarsys contacts of people we have no id for (sets ``remote_id``),
        by each of ``key_fields`` in turn (the two Magento id fields, then e-mail)."""
        values: dict[str, Callable[[ContactEntity], Any]] = {
            self.schema.identity.customer_field: lambda e: e.customer_id,
            self.schema.identity.subscriber_field: lambda e: e.subscriber_id,
            EMAIL: lambda e: (e.email or "").strip().lower() or None,
        }
        for key_field in key_fields:
            value_of = values[key_field]
            open_items = [i for i in items if not i.done and not i.remote_id]
            by_value: dict[str, list[WorkItem]] = defaultdict(list)
            for item in open_items:
                if value_of(item.entity):
                    by_value[str(value_of(item.entity))].append(item)
            if not by_value or is_placeholder(key_field) or not self._may_call(open_items):
                continue
            try:
                rows = self._lookup(key_field, list(by_value))
            except ConnectorError as exc:
                if reply_code_of(exc) in NOT_SEARCHABLE and not isinstance(exc, AuthError):
                    # The custom key field is not indexed in this account: this way of
                    # finding people does not exist here; the next one still applies.
                    logger.warning("lookup by field %s skipped: %s", key_field, exc)
                    continue
                if isinstance(exc, AuthError):
                    message = self._refused(exc)
                else:
                    message = (
                        f"Emarsys lookup by field {key_field} failed ({exc.message}); "
                        "not created now, so as not to duplicate a contact we could not see."
                    )
                # Every open item, not only those with a value for this field: the later
                # lookups would be skipped, and creating unseen people can duplicate them.
                for item in open_items:
                    item.finish(Outcome.RETRY, message, http_status=exc.status)
                return
            for value, sharing in by_value.items():  # several people may share an e-mail
                for item in sharing:
                    self._adopt(item, rows.get(value, []), key_field)

    def _adopt(self, item: WorkItem, rows: list[dict[str, Any]], key_field: str) -> None:
        if not rows:
            return
        if len(rows) > 1:
            ids = ", ".join(str(r.get("id")) for r in rows)
            item.finish(
                Outcome.AMBIGUOUS,
                f"{len(rows)} Emarsys contacts ({ids}) match field {key_field}; merge them in "
                "Emarsys, then retry.",
            )
            return
        row = rows[0]
        theirs = str(row.get(self.schema.identity.customer_field) or "").strip()
        ours = item.entity.customer_id
        if key_field == EMAIL and theirs and ours is not None and theirs != str(ours):
            item.finish(
                Outcome.AMBIGUOUS,
                f"The Emarsys contact {row.get('id')} with this e-mail belongs to Magento "
                f"customer {theirs}; one e-mail cannot be two Emarsys contacts.",
            )
            return
        item.remote_id = str(row["id"])
        item.details["resolved_by"] = key_field

    def _one_per_email(self, items: list[WorkItem]) -> list[WorkItem]:
        """Emarsys keeps one contact per e-mail: two new people sharing one cannot both be
        created in the same call without the second overwriting the first."""
        seen: dict[str, WorkItem] = {}
        out = []
        for item in items:
            email = str(item.context["content"].fields.get(EMAIL) or "").lower()
            if email in seen:
                item.finish(
                    Outcome.AMBIGUOUS,
                    f"{seen[email].entity.person_key} has the same e-mail; Emarsys keeps one "
                    "contact per e-mail.",
                )
                continue
            seen[email] = item
            out.append(item)
        return out

    # -- dry run, lists, bookkeeping -------------------------------------------------------------

    def _dry_run(self, pairs: list[tuple[WorkItem, dict[str, Any]]], key: str) -> None:
        remote: dict[str, dict[str, Any]] = {}
        ids = [str(c[BY_ID]) for _, c in pairs if key == BY_ID]
        if ids:
            try:
                fields = sorted({k for _, c in pairs for k in c if k != BY_ID and k.isdigit()})
                rows = self._retrying(
                    lambda: self.api.get_contacts(ids, key_id=BY_ID, fields=fields)
                )
                remote = {str(r["id"]): r for r in rows.rows}
            except ConnectorError as exc:
                logger.warning("dry run: remote values unavailable: %s", exc)
        for item, contact in pairs:
            if key == BY_ID:
                now = remote.get(str(contact[BY_ID]), {})
                item.details["diff"] = diff(item.payload or {}, now)
                item.finish(Outcome.UPDATED, f"Dry run: would update {contact[BY_ID]}.")
            else:
                item.finish(Outcome.CREATED, "Dry run: would create (keyed by e-mail).")
            item.details["key_id"] = key

    def _lists(self, items: Sequence[WorkItem]) -> None:
        """Initial export: add contacts to their named contact lists (reused or created)."""
        ok = (Outcome.CREATED, Outcome.UPDATED, Outcome.UNCHANGED)
        wanted: dict[str, list[WorkItem]] = defaultdict(list)
        for item in items:
            remote = item.remote_id or item.entity.remote_id
            if item.outcome in ok and remote:
                for kind in (item.entity.metadata or {}).get("lists") or []:
                    wanted[kind].append(item)
        for kind, members in wanted.items():
            name = str(self.settings.get(f"{kind}_list") or "").strip()
            if not name:
                continue
            if self.ctx.dry_run:
                for item in members:
                    item.details.setdefault("lists", []).append(name)
                continue
            members = [i for i in members if i.outcome in ok]  # an earlier list may have failed
            if not members or not self._may_call([]):
                self._list_failed(members, name, self.broken)
                continue
            ids = [str(i.remote_id or i.entity.remote_id) for i in members]
            try:
                self._list_add(name, ids)
            except ConnectorError as exc:
                self.ctx.log(
                    f"Adding {len(members)} contact(s) to list '{name}' failed: {exc}",
                    level="error",
                )
                reason = self._refused(exc) if isinstance(exc, AuthError) else str(exc)
                self._list_failed(members, name, reason, exc)
                continue
            for item in members:
                item.context.setdefault("lists_done", []).append(kind)

    @staticmethod
    def _list_failed(
        members: list[WorkItem], name: str, reason: str, exc: ConnectorError | None = None
    ) -> None:
        """The contacts were written but not added to their list: they are not done. A
        transient error (or refused credentials) retries them; a permanent one fails them.
        Their pending lists stay in the metadata, so the next sync adds them."""
        permanent = exc is not None and not isinstance(exc, (TransientError, AuthError))
        for item in members:
            item.finish(
                Outcome.FAILED if permanent else Outcome.RETRY,
                f"{item.message} Adding it to the Emarsys contact list '{name}' failed: {reason}",
                list=name,
                **({"http_status": exc.status} if exc is not None else {}),
            )

    def _list_add(self, name: str, ids: list[str]) -> None:
        list_id = self._list_id(name)
        self._retrying(lambda: self.api.add_to_contact_list(list_id, ids, key_id=BY_ID))

    def _list_id(self, name: str) -> str:
        cache: dict[str, str] = self.ctx.shared.setdefault("list_ids", {})
        if name not in cache:
            found = self._retrying(lambda: self.api.find_contact_list(name))
            if found is None:
                try:
                    created = self._retrying(
                        lambda: self.api.create_contact_list(name, key_id=BY_ID)
                    )
                except ConnectorError as exc:
                    if reply_code_of(exc) != LIST_EXISTS:
                        raise
                    # another batch created it between our look and our create
                    found = self._retrying(lambda: self.api.find_contact_list(name))
                    if found is None:
                        raise
                    cache[name] = found.id
                else:
                    self.ctx.log(f"Created Emarsys contact list '{name}' ({created.list_id}).")
                    cache[name] = created.list_id
            else:
                cache[name] = found.id
        return cache[name]

    def _remember(self, items: Sequence[WorkItem]) -> None:
        """Keep what Emarsys now has (the opt-in sync compares with it) and list progress."""
        if self.ctx.dry_run:
            return
        changed = []
        for item in items:
            metadata = dict(item.entity.metadata or {})
            before = dict(metadata)
            if item.context.get("written"):  # also when its list add failed afterwards
                metadata["sent"] = item.context["content"].to_send(known=True)
            done = item.context.get("lists_done")
            if done:
                metadata["lists"] = [k for k in metadata.get("lists") or [] if k not in done]
            if metadata != before:
                item.entity.metadata = metadata
                changed.append(item.entity)
        ContactEntity.objects.bulk_update(changed, ["metadata"], batch_size=500)
