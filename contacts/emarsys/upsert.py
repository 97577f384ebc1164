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
from collections.abc import Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from django.conf import settings as django_settings

from connectors.deadline import in_task, lock_ttl, lock_wait
from connectors.emarsys.contacts import split_batches
from connectors.emarsys.models import ContactResult
from connectors.errors import AuthError, ConnectorError, RateLimited, TransientError
from connectors.locks import process_lock
from contacts.emarsys.calls import BY_ID
from contacts.emarsys.consent import STATE_KEY
from contacts.emarsys.consent_calls import ConsentCalls
from contacts.emarsys.lists import ListAdds
from contacts.emarsys.lookup import Resolution
from contacts.emarsys.mapping import EMAIL, OPT_IN, diff
from contacts.emarsys.reevaluate import LISTED
from contacts.models import ContactEntity, DeliveryAttempt
from profiles.pipeline import Outcome, WorkItem
from profiles.services.bulk import rows_insert, rows_update

logger = logging.getLogger("contactsync.emarsys_contact_sync")

# The create lock: held for the e-mail lookup, the updates of what it found and the
# creates (three calls). Its TTL (which only matters when a holder dies with a Redis lock)
# is longer than it can ever be held: inside it, a call is only started when its worst case
# (see Upserter.call_worst_case) still ends LOCK_SLACK before the TTL; what does not fit
# is deferred. In a batch task it lives for the task's hard time limit and a little more
# (see connectors.deadline.lock_ttl): a killed worker's lock frees soon after its death.
LOCK_TTL = 900.0
LOCK_SLACK = 60.0  # the database writes done under the lock, and clock slop
LOCK_WAIT = 120.0  # how long a batch waits for another one's create phase


def _lock_dir() -> str:
    path = Path(django_settings.VAR_DIR) / "locks"
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


def create_lock_name(client_pk: Any) -> str:
    return f"emarsys-create:{client_pk}"


class Upserter(Resolution, ListAdds, ConsentCalls):
    """Writes one batch (see the module docstring)."""

    # -- the batch -----------------------------------------------------------------------------

    def write(self, items: Sequence[WorkItem]) -> None:
        """Send the batch's open items; every one ends with an outcome."""
        todo = [i for i in items if not i.done]
        known = [i for i in todo if i.entity.remote_id]
        fresh = [i for i in todo if not i.entity.remote_id]
        vanished = self._send(self._prepare_updates(known), key=BY_ID)
        for item in vanished:
            item.details["vanished_remote_id"] = item.entity.remote_id
            self._forget_remote(item)
        fresh += vanished
        identity = self.schema.identity
        self._resolve(fresh, [identity.customer_field, identity.subscriber_field])
        self._send_found([i for i in fresh if not i.done and i.remote_id])
        self._create([i for i in fresh if not i.done])
        self._lists(items)
        self._write_back(items)
        self._remember(items)

    def _send_found(self, found: list[WorkItem]) -> None:
        self._guard_emails(found)
        for item in self._send([i for i in found if not i.done], key=BY_ID):
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
        ttl = lock_ttl(LOCK_TTL)
        with ExitStack() as stack:
            try:
                stack.enter_context(
                    process_lock(
                        create_lock_name(self.ctx.profile.client.pk),
                        redis_url=django_settings.REDIS_URL or None,
                        lock_dir=_lock_dir(),
                        timeout=lock_wait(LOCK_WAIT),
                        ttl=ttl,
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
            # In a task the lock outlives the task's hard limit, so outlives its holder;
            # on the command line each call must fit in what is left of the TTL.
            self.deadline = None if in_task() else time.monotonic() + ttl - LOCK_SLACK
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
        rows_update(ContactEntity, linked, ["remote_id"])

    # -- sending ---------------------------------------------------------------------------------

    def _contact(self, item: WorkItem, key: str) -> dict[str, Any]:
        item.payload = self._fields(item, key)
        if key == BY_ID:
            return {BY_ID: item.remote_id or item.entity.remote_id, **item.payload}
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
                self.ctx.progress(items)
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
            if isinstance(exc, RateLimited):  # a wait, not a failure: no attempt used up
                outcome = Outcome.DEFERRED
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
            self._forget_remote(item)
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
        rows_insert(DeliveryAttempt, rows)

    # -- dry run, bookkeeping -------------------------------------------------------------------

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

    def _remember(self, items: Sequence[WorkItem]) -> None:
        """Keep what Emarsys now has (updates send what differs from it), the agreed
        opt-in, and list progress."""
        if self.ctx.dry_run:
            return
        changed = []
        for item in items:
            metadata = dict(item.entity.metadata or {})
            before = dict(metadata)
            if item.context.get("written"):  # also when its list add failed afterwards
                sent = {**(metadata.get("sent") or {}), **(item.payload or {})}
                sent.pop(OPT_IN, None)  # the agreed opt-in is kept apart (below)
                metadata["sent"] = sent
            decision = item.context.get("decision")
            if decision is not None and item.outcome in (
                Outcome.CREATED,
                Outcome.UPDATED,
                Outcome.UNCHANGED,
            ):
                metadata[STATE_KEY] = decision.base.as_json()
            done = item.context.get("lists_done")
            if done:
                metadata["lists"] = [k for k in metadata.get("lists") or [] if k not in done]
                metadata[LISTED] = {**(metadata.get(LISTED) or {}), **item.context["listed"]}
            if metadata != before:
                item.entity.metadata = metadata
                changed.append(item.entity)
        rows_update(ContactEntity, changed, ["metadata"])
