"""Sending a batch to Emarsys without ever duplicating a contact.

Order of work for one batch:

1. contacts we already know (``remote_id``) are updated **by internal id** — an e-mail
   change therefore updates the same contact; a 2008 (deleted in Emarsys) sends the person
   through resolution again;
2. the others are resolved before anything is created: by the "Magento Customer ID" field,
   then the "Magento Subscriber ID" field (a crash after an upsert lost nothing), then by
   e-mail (a contact that already exists in Emarsys is adopted, not duplicated);
3. what is still unknown is upserted keyed by e-mail (``create_if_not_exists``).

Calls carry ≤ 1,000 contacts and ≤ 8 MB; transient errors are retried with backoff inside
the run and then deferred (``Outcome.RETRY``); per-contact errors inside HTTP 200 fail just
that contact with Emarsys' replyCode and text. Every contact of every call gets a
:class:`~contacts.models.DeliveryAttempt`.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from connectors.emarsys.client import EmarsysClient
from connectors.emarsys.contacts import split_batches
from connectors.emarsys.models import ContactResult
from connectors.errors import ConnectorError, PermanentError, RateLimited, TransientError
from connectors.http import call_with_retries
from contacts.emarsys import config
from contacts.emarsys.fields import Schema, is_placeholder
from contacts.emarsys.mapping import EMAIL, Content, diff
from contacts.models import ContactEntity, DeliveryAttempt
from profiles.pipeline import BatchContext, Outcome, WorkItem

logger = logging.getLogger("contactsync.emarsys_contact_sync")
T = TypeVar("T")
BY_ID = "id"


def _pause(seconds: float) -> None:
    time.sleep(seconds)  # looked up at call time, so tests can patch it


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

    def _retrying(self, fn: Callable[[], T]) -> T:
        return call_with_retries(fn, sleep=self.sleep, max_rate_limit_wait=120.0)

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
        self._resolve(fresh)
        found = [i for i in fresh if not i.done and i.remote_id]
        for item in self._send(found, key=BY_ID):
            item.finish(Outcome.FAILED, "Emarsys found the contact, then said it does not exist.")
        self._send(self._one_per_email([i for i in fresh if not i.done]), key=EMAIL)
        self._lists(items)
        self._remember(items)

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
            transient = isinstance(exc, TransientError)
            outcome = Outcome.RETRY if transient else Outcome.FAILED
            for item in items:
                item.finish(outcome, f"Emarsys: {exc.message}", http_status=exc.status)
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

    def _resolve(self, items: list[WorkItem]) -> None:
        """Find existing Emarsys contacts of people we have no id for (sets ``remote_id``)."""
        identity = self.schema.identity
        steps: list[tuple[str, Callable[[ContactEntity], Any]]] = [
            (identity.customer_field, lambda e: e.customer_id),
            (identity.subscriber_field, lambda e: e.subscriber_id),
            (EMAIL, lambda e: (e.email or "").strip().lower() or None),
        ]
        for key_field, value_of in steps:
            open_items = [i for i in items if not i.done and not i.remote_id]
            by_value = {str(value_of(i.entity)): i for i in open_items if value_of(i.entity)}
            if not by_value or is_placeholder(key_field):
                continue
            try:
                rows = self._lookup(key_field, list(by_value))
            except TransientError as exc:
                # Creating now could duplicate a contact we failed to see: try later.
                for item in by_value.values():
                    item.finish(Outcome.RETRY, f"Emarsys lookup failed: {exc.message}")
                return
            except PermanentError as exc:
                # e.g. the custom key field is not indexed in this account (2015)
                logger.warning("lookup by field %s skipped: %s", key_field, exc)
                continue
            for value, item in by_value.items():
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
            ids = [str(i.remote_id or i.entity.remote_id) for i in members]
            try:
                self._list_add(name, ids)
            except ConnectorError as exc:
                self.ctx.log(
                    f"Adding {len(members)} contact(s) to list '{name}' failed: {exc}",
                    level="error",
                )
                continue
            for item in members:
                item.context.setdefault("lists_done", []).append(kind)

    def _list_add(self, name: str, ids: list[str]) -> None:
        list_id = self._list_id(name)
        self._retrying(lambda: self.api.add_to_contact_list(list_id, ids, key_id=BY_ID))

    def _list_id(self, name: str) -> str:
        cache: dict[str, str] = self.ctx.shared.setdefault("list_ids", {})
        if name not in cache:
            found = self._retrying(lambda: self.api.find_contact_list(name))
            if found is None:
                created = self._retrying(lambda: self.api.create_contact_list(name, key_id=BY_ID))
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
            if item.outcome in (Outcome.CREATED, Outcome.UPDATED):
                metadata["sent"] = item.context["content"].to_send(known=True)
            done = item.context.get("lists_done")
            if done:
                metadata["lists"] = [k for k in metadata.get("lists") or [] if k not in done]
            if metadata != before:
                item.entity.metadata = metadata
                changed.append(item.entity)
        ContactEntity.objects.bulk_update(changed, ["metadata"], batch_size=500)
