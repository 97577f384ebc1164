"""Processor "Contact Creation": the writes to FreeAgent, crash-safe and duplicate-free.

* **Create** records its intent on the entity *before* the POST — the intents of a whole
  batch in one statement before its first POST — and the new contact's URL right after it,
  in its own short transaction. If a worker dies in between, the next batch that holds the
  contact finds the intent, reconciles against FreeAgent (one incremental read of the
  contacts cache, whose reads chain without gaps; then by e-mail) and links instead of
  creating again. A POST that times out is reconciled (the contacts updated since it was
  sent) before it is ever re-sent. Creates for one e-mail are serialised across workers.
* **Update** sends only the changed fields (PUT is idempotent, so it is retried freely).
* Transient failures are retried with backoff inside the run; 429 waits never use up an
  attempt; what still fails becomes ``Outcome.RETRY`` for the retry policy of the profile.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from connectors.deadline import lock_ttl, lock_wait
from connectors.errors import (
    AuthError,
    ConnectorError,
    NotFound,
    RateLimited,
    TransientError,
    ValidationError,
)
from connectors.freeagent.client import FreeAgentClient
from connectors.freeagent.countries import country_kept
from connectors.http import DEFAULT_TIMEOUT, Exchange, call_with_retries, iter_backoff
from connectors.locks import locks_try, process_lock
from contacts.freeagent.cache import (
    remote_contact_store,
    remote_contacts_by_email,
    remote_contacts_by_emails,
    remote_contacts_collect,
    remote_contacts_store,
)
from contacts.freeagent.mapping import field_changes, field_diff
from contacts.models import ContactEntity, DeliveryAttempt, RemoteContact
from contacts.people import email_key
from contacts.services.sharing import decision_of
from profiles.models import ApiBehaviour, Client, Profile, Run
from profiles.pipeline import Outcome, WorkItem
from profiles.services.bulk import rows_insert, rows_update

T = TypeVar("T")

MAX_ATTEMPTS = 4
# After this many contacts in a row failed transiently, the rest of the batch is deferred
# at once instead of hammering an API that is down (a circuit breaker).
BREAKER_THRESHOLD = 5
MAX_RATE_LIMIT_WAIT = 300.0
# How far before a recorded intent to look for a contact that may have been created.
INTENT_SLACK = timedelta(seconds=5)
# The create lock outlives the longest it can be held (rate-limit waits and retries
# included), so it never expires under a live holder.
LOCK_TTL = MAX_RATE_LIMIT_WAIT + 300
# How long a worker waits for another worker's create of the same e-mail before deferring.
LOCK_WAIT = 30.0
# A create whose POST was sent but never answered (the batch was stopped while it was in
# flight) is not reconciled before this: FreeAgent may still be processing it, and a look
# too early would find nothing and create the contact a second time. Twice the longest
# a request may take (connect + read timeouts).
IN_FLIGHT_SECONDS = 2 * sum(DEFAULT_TIMEOUT)
# Plain creates (see ContactWriter._groupable) are sent in groups: the group's create locks
# taken together, one look in the cache for all of them, their links written together
# after the POSTs — a few statements a group instead of four a contact. Crash safety is the
# intent's (written before any POST of the batch), as for a crash between a POST and its
# link. A group holds its locks no longer than GROUP_HOLD: the next contact opens a new one.
GROUP = 100  # (the default batch: one group a batch)
GROUP_HOLD = 120.0


class ExchangeRecorder:
    """Collects the request/response summaries of the current item (for DeliveryAttempt):
    the writes and what failed — never a successful read, whose body (a page of 100
    contacts) no attempt keeps: a cache refresh reading back 40,000 contacts held 60 MB
    of them until the batch began."""

    def __init__(self) -> None:
        self.exchanges: list[Exchange] = []

    def __call__(self, exchange: Exchange) -> None:
        if _recorded(exchange):
            self.exchanges.append(exchange)

    def take(self) -> list[Exchange]:
        taken, self.exchanges = self.exchanges, []
        return taken


def _retrying(fn: Callable[[], T], sleep: Callable[[float], None]) -> T:
    return call_with_retries(
        fn, max_attempts=MAX_ATTEMPTS, max_rate_limit_wait=MAX_RATE_LIMIT_WAIT, sleep=sleep
    )


class ContactWriter:
    """Performs one batch's creates and updates against FreeAgent."""

    def __init__(
        self,
        *,
        profile: Profile,
        run: Run,
        api: FreeAgentClient,
        reader: FreeAgentClient | None = None,
        recorder: ExchangeRecorder,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self.profile = profile
        self.run = run
        self.api = api  # single attempt per call: creates must never be re-sent blindly
        self.reader = reader or api  # retries its own idempotent reads
        self.recorder = recorder
        self.sleep = sleep or (lambda seconds: time.sleep(seconds))
        assert profile.client is not None
        self.client: Client = profile.client
        self.broken = ""  # why the breaker opened, if it did
        self.refused = ""  # FreeAgent refused the credentials (the profile pauses)
        self.transient_streak = 0
        self.attempts: list[DeliveryAttempt] = []  # written by attempts_flush
        self.groupable: list[WorkItem] = []  # the batch's plain creates, in order
        self.groupable_at: dict[int, int] = {}  # id(item) → its index in groupable
        self.group: _Group | None = None
        self.cached: list[dict[str, Any]] = []  # contacts FreeAgent answered, to cache

    # -- the batch ---------------------------------------------------------------------------

    def prepare(self, items: Sequence[WorkItem]) -> None:
        """Before the batch's first POST: one cache read for every earlier create of its
        contacts that was never recorded (a crash between a POST and its link), then the
        intents of its creates, written in one statement. An earlier intent is kept as it
        is: it still says since when FreeAgent may hold a contact of ours never linked."""
        creates = [i for i in items if not i.done and i.context.get("action") == "create"]
        if not creates:
            return
        earlier = False
        for item in creates:
            previous = (item.entity.metadata or {}).get("create_intent") or {}
            item.context["previous_email"] = str(previous.get("email") or "")
            earlier = earlier or bool(previous.get("at"))
        if earlier:
            # The cache's incremental reads chain (each starts where the last complete one
            # started, less an overlap), so one read now holds every contact FreeAgent has
            # made before it — those of the unrecorded POSTs included: a few pages, not a
            # listing of everything since the earliest intent (a window that only grows
            # while FreeAgent fails it).
            try:
                remote_contacts_collect(client=self.client, api=self.reader)
            except ConnectorError as exc:
                self._unreconciled(creates, exc)
                creates = [i for i in creates if not i.done]
            finally:
                self.recorder.take()
        now = timezone.now().isoformat()
        fresh = []
        for item in creates:
            entity: ContactEntity = item.entity
            if (entity.metadata or {}).get("create_intent"):
                continue
            email = str((item.payload or {}).get("email", ""))
            entity.metadata = {
                **(entity.metadata or {}),
                "create_intent": {"at": now, "email": email},
            }
            item.context["fresh_intent"] = True
            fresh.append(entity)
        rows_update(ContactEntity, fresh, ["metadata"])
        self.groupable = self._groupable(creates)
        self.groupable_at = {id(item): i for i, item in enumerate(self.groupable)}

    def _groupable(self, creates: Sequence[WorkItem]) -> list[WorkItem]:
        """The creates that may be sent in a group: a fresh intent (no earlier create to
        reconcile), an e-mail no other create of the batch has, and not a person's choice
        of a contact of its own (that look needs the links of the batch written first)."""
        keys = [email_key(str((i.payload or {}).get("email", ""))) for i in creates]
        twice = {k for k in keys if keys.count(k) > 1}
        return [
            item
            for item, key in zip(creates, keys, strict=True)
            if key
            and key not in twice
            and not item.done
            and item.context.get("fresh_intent")
            and not item.context.get("previous_email")
            and decision_of(item.entity).get("choice") != "separate"
        ]

    def _unreconciled(self, creates: Sequence[WorkItem], exc: ConnectorError) -> None:
        """FreeAgent could not be read: contacts with an earlier unrecorded create wait."""
        for item in creates:
            if not item.context.get("previous_email") and not (
                (item.entity.metadata or {}).get("create_intent")
            ):
                continue
            text = f"FreeAgent could not be read to reconcile an earlier create: {exc}"
            if isinstance(exc, RateLimited):
                item.retry_after = exc.retry_after
                item.finish(Outcome.DEFERRED, text, http_status=429)
            else:
                item.finish(Outcome.RETRY, text, http_status=exc.status)

    @staticmethod
    def in_flight_wait(items: Sequence[WorkItem]) -> None:
        """The batch stopped (a time limit, an error): a contact whose POST was sent and
        never answered waits :data:`IN_FLIGHT_SECONDS` before it is looked for and sent."""
        for item in items:
            if item.context.get("posted") and not item.done:
                item.retry_after = max(item.retry_after or 0.0, IN_FLIGHT_SECONDS)

    # -- groups of creates ----------------------------------------------------------------

    def _group_for(self, item: WorkItem) -> _Group | None:
        """The open group that holds ``item``'s lock, else the next group opened at
        ``item`` when it is groupable. None: the slow path (:meth:`_create`), which may
        wait for a lock — never while a group holds others, so no two workers ever wait
        on each other's groups."""
        group = self.group
        busy = False  # the open group tried its lock and another worker held it
        if group is not None and not group.expired():
            if id(item) in group.items:
                return group
            busy = id(item) in group.tried
        self.flush()
        start = self.groupable_at.get(id(item))
        if start is None or busy:
            return None
        members = [i for i in self.groupable[start:] if not i.done][:GROUP]
        self.group = _Group.open(self, members)
        if id(item) in self.group.items:
            return self.group
        self.flush()
        return None

    def flush(self) -> None:
        """Write the open group's links and the contacts FreeAgent answered with into the
        cache (one transaction), then release the group's locks. Called before a group
        opens or a create takes the slow path, and at the end of the batch whatever ended
        it."""
        group, self.group = self.group, None
        cached, self.cached = self.cached, []
        try:
            if cached or (group is not None and group.entities):
                with transaction.atomic():
                    if group is not None:
                        rows_update(ContactEntity, group.entities, ["remote_id", "metadata"])
                    remote_contacts_store(self.client, cached)
        finally:
            if group is not None:
                group.release()

    def intents_release(self, items: Sequence[WorkItem]) -> None:
        """After the batch: the intents of creates never started (deferred, failed before
        the POST) are taken back in one statement, so no later batch reconciles them."""
        unused = []
        for item in items:
            entity: ContactEntity = item.entity
            if not item.context.get("fresh_intent") or item.context.get("posted"):
                continue
            if (entity.metadata or {}).get("create_intent"):
                entity.metadata = {k: v for k, v in entity.metadata.items() if k != "create_intent"}
                unused.append(entity)
        rows_update(ContactEntity, unused, ["metadata"])

    # -- one item ----------------------------------------------------------------------------

    def write(self, item: WorkItem) -> None:
        action = item.context.get("action")
        if self.broken:
            item.finish(Outcome.RETRY, self.broken)
            return
        try:
            if action == "create":
                self._create(item)
            elif action == "update":
                self._update(item)
        except ValidationError as exc:
            fields = "; ".join(f"{k}: {', '.join(v)}" for k, v in exc.field_errors.items())
            item.finish(
                Outcome.FAILED,
                f"FreeAgent rejected the contact: {exc.message}"
                + (f" ({fields})" if fields and fields not in exc.message else ""),
                http_status=exc.status,
                field_errors=exc.field_errors,
            )
        except RateLimited as exc:
            # A wait, not a failure: back in the queue, no attempt used up.
            item.retry_after = exc.retry_after
            item.finish(Outcome.DEFERRED, f"FreeAgent rate limit: {exc.message}", http_status=429)
        except AuthError as exc:
            item.finish(
                Outcome.RETRY,
                f"FreeAgent refused the credentials ({exc.message}); reconnect the client.",
                http_status=exc.status,
            )
        except TransientError as exc:
            item.finish(Outcome.RETRY, f"FreeAgent is unavailable: {exc}", http_status=exc.status)
        except ConnectorError as exc:
            item.finish(Outcome.FAILED, f"FreeAgent error: {exc}", http_status=exc.status)
        finally:
            self._record_attempts(item, action or "resolve")
            self._watch(item)

    def _watch(self, item: WorkItem) -> None:
        """Open the breaker on bad credentials, or on a run of transient failures."""
        status = item.details.get("http_status")
        if item.outcome == Outcome.RETRY and status in (401, 403):
            self.broken = f"Not sent: {item.message}"
            self.refused = f"FreeAgent refused the credentials (HTTP {status}) — reconnect."
        elif item.outcome == Outcome.RETRY:
            self.transient_streak += 1
            if self.transient_streak >= BREAKER_THRESHOLD:
                self.broken = (
                    f"Not sent: FreeAgent failed {self.transient_streak} contacts in a row "
                    f"(last: {item.message}); the rest of this batch waits for a later run."
                )
        else:
            self.transient_streak = 0

    # -- create --------------------------------------------------------------------------------

    def _create(self, item: WorkItem) -> None:
        group = self._group_for(item)
        if group is not None:
            self._create_in_group(item, group)
            return
        entity: ContactEntity = item.entity
        payload = dict(item.payload or {})
        email = str(payload.get("email", ""))
        lock = _lock_name(self.client, item)
        # Everything from the last look to the link being written happens under the lock,
        # so no other worker can create the same e-mail in between.
        with process_lock(
            lock,
            redis_url=settings.REDIS_URL or None,
            lock_dir=_lock_dir(),
            timeout=lock_wait(LOCK_WAIT),
            ttl=lock_ttl(LOCK_TTL),
        ):
            previous = self._catch_up_unfinished_create(item)
            existing = remote_contacts_by_email(self.client, email)
            if decision_of(entity).get("choice") == "separate":
                # Its own contact: only one nobody of this profile is linked to can be it
                # (an earlier create of ours whose link was never written).
                taken = set(
                    ContactEntity.objects.filter(
                        profile=self.profile, remote_id__in=[m.url for m in existing]
                    ).values_list("remote_id", flat=True)
                )
                existing = [m for m in existing if m.url not in taken]
            if previous and email_key(previous) != email_key(email):
                existing += [
                    m
                    for m in remote_contacts_by_email(self.client, previous)
                    if m.url not in {e.url for e in existing}
                ]
            if len(existing) == 1:
                how = (
                    "an earlier create that was never recorded"
                    if previous
                    else "created meanwhile by another worker"
                )
                self._adopt(item, existing[0].data, how=how)
                return
            if len(existing) > 1:
                _ambiguous(item, email, len(existing))
                return
            intent_at = self._intent_record(item, email)
            item.context["posted"] = True
            created, contact = self._post(payload, email, intent_at)
            if created:
                self._created(item, contact, payload)
            else:
                self._adopt(item, contact, how="reconciled after an unanswered create")

    def _create_in_group(self, item: WorkItem, group: _Group) -> None:
        """A plain create whose lock the group holds: the group's look in the cache, the
        POST, and its link left to the group (written before the locks are released)."""
        payload = dict(item.payload or {})
        email = str(payload.get("email", ""))
        existing = group.matches.get(email_key(email), [])
        if len(existing) == 1:
            self._adopt(item, existing[0].data, how="already in FreeAgent", group=group)
            return
        if len(existing) > 1:
            _ambiguous(item, email, len(existing))
            return
        item.context["posted"] = True
        created, contact = self._post(payload, email, timezone.now())
        if not created:
            self._adopt(item, contact, how="reconciled after an unanswered create", group=group)
            return
        group.link(item.entity, str(contact["url"]))
        self.cached.append(contact)
        self._created_finish(item, contact, payload)

    def _post(
        self, payload: dict[str, Any], email: str, intent_at: Any
    ) -> tuple[bool, dict[str, Any]]:
        """POST the contact; returns (True, created) or (False, the contact found by
        reconciliation after a create that got no answer)."""
        delays = iter_backoff()
        attempts = 0
        waited = 0.0
        while True:
            try:
                return True, self.api.create_contact(payload)
            except RateLimited as exc:
                # A 429 was not processed: safe to send again, and it costs no attempt.
                if waited + exc.retry_after > MAX_RATE_LIMIT_WAIT:
                    raise
                waited += exc.retry_after
                self.sleep(exc.retry_after)
            except TransientError:
                # The POST may or may not have created the contact: look before re-sending.
                attempts += 1
                found = self._reconcile(email, intent_at)
                if found is not None:
                    return False, found
                if attempts >= MAX_ATTEMPTS:
                    raise
                self.sleep(next(delays))

    def _reconcile(self, email: str, since: Any) -> dict[str, Any] | None:
        remote_contacts_collect(client=self.client, api=self.reader, since=since - INTENT_SLACK)
        matches = remote_contacts_by_email(self.client, email)
        return matches[0].data if len(matches) == 1 else None

    def _catch_up_unfinished_create(self, item: WorkItem) -> str:
        """If an earlier create of this entity was never recorded (a crash between the POST
        and the link), read the cache up to now (its reads chain, so that contact is in
        it) — done for the whole batch by :meth:`prepare` when it ran. Returns the e-mail that
        create used ("" when there was none)."""
        if "previous_email" in item.context:
            return str(item.context["previous_email"])
        entity: ContactEntity = item.entity
        previous = (entity.metadata or {}).get("create_intent") or {}
        if not previous.get("at"):
            return ""
        remote_contacts_collect(client=self.client, api=self.reader)  # as prepare() does
        return str(previous.get("email") or "")

    def _intent_record(self, item: WorkItem, email: str) -> Any:
        """The intent before a POST: already written for the batch (:meth:`prepare`), or
        written now (a create decided inside the processor, e.g. of a deleted contact)."""
        entity: ContactEntity = item.entity
        recorded = (entity.metadata or {}).get("create_intent") or {}
        if item.context.get("fresh_intent") and recorded.get("email") == email:
            return timezone.now()  # a POST that gets no answer is reconciled from here
        now = timezone.now()
        metadata = {
            **(entity.metadata or {}),
            "create_intent": {"at": now.isoformat(), "email": email},
        }
        with transaction.atomic():
            ContactEntity.objects.filter(pk=entity.pk).update(metadata=metadata)
        entity.metadata = metadata
        return now

    def _created(self, item: WorkItem, contact: dict[str, Any], payload: dict[str, Any]) -> None:
        self._link(item.entity, str(contact["url"]), contact)
        self._created_finish(item, contact, payload)

    def _created_finish(
        self, item: WorkItem, contact: dict[str, Any], payload: dict[str, Any]
    ) -> None:
        url = str(contact["url"])
        item.remote_id = url
        message = "Created in FreeAgent."
        if not country_kept(payload.get("country"), contact.get("country")):
            message += (
                f" Note: FreeAgent stored the country as {contact.get('country')!r}, "
                f"not {payload.get('country')!r}."
            )
        item.finish(Outcome.CREATED, message, url=url)

    def _adopt(
        self, item: WorkItem, remote: dict[str, Any], *, how: str, group: _Group | None = None
    ) -> None:
        """Link to an existing contact instead of creating; update it if it differs. In a
        group the link is the group's to write (before its locks are released)."""
        full = item.context.get("full_payload") or item.payload or {}
        url = str(remote["url"])
        if group is None:
            self._link(item.entity, url, remote)
        else:
            group.link(item.entity, url)
            self.cached.append(remote)
        item.remote_id = url
        changes = field_diff(full, remote)
        if not changes or self.profile.api_behaviour == ApiBehaviour.CREATE:
            item.finish(Outcome.UNCHANGED, f"Linked to {url} ({how}).", url=url)
            return
        updated = _retrying(lambda: self.api.update_contact(url, changes), self.sleep)
        self.cached.append(updated)
        item.finish(Outcome.UPDATED, f"Linked to {url} ({how}) and updated.", url=url)

    def _link(self, entity: ContactEntity, url: str, contact: dict[str, Any]) -> None:
        # Written at once, in its own transaction: the link must survive a crash after it.
        metadata = {k: v for k, v in (entity.metadata or {}).items() if k != "create_intent"}
        with transaction.atomic():
            ContactEntity.objects.filter(pk=entity.pk).update(remote_id=url, metadata=metadata)
            if contact:
                remote_contact_store(self.client, contact)
        entity.remote_id = url
        entity.metadata = metadata

    # -- update --------------------------------------------------------------------------------

    def _update(self, item: WorkItem) -> None:
        url = str(item.context["target_url"])
        fields = dict(item.payload or {})
        full = item.context.get("full_payload") or fields
        if item.context.get("remote") is None:
            try:
                remote = self.reader.get_contact(url)
            except NotFound:
                self._vanished(item, url)
                return
            self.cached.append(remote)
            fields = field_diff(full, remote)
            item.details["changes"] = field_changes(full, remote)
            if not fields:
                item.remote_id = url
                item.finish(Outcome.UNCHANGED, "FreeAgent already matches.")
                return
        try:
            updated = _retrying(lambda: self.api.update_contact(url, fields), self.sleep)
        except NotFound:
            self._vanished(item, url)
            return
        self.cached.append(updated)
        item.remote_id = url
        item.finish(Outcome.UPDATED, f"Updated {', '.join(sorted(fields))}.", url=url)

    def _vanished(self, item: WorkItem, url: str) -> None:
        """The linked contact was deleted in FreeAgent: forget the link, create afresh."""
        entity: ContactEntity = item.entity
        ContactEntity.objects.filter(pk=entity.pk).update(remote_id="")
        entity.remote_id = ""
        RemoteContact.objects.filter(client=self.client, url=url).delete()
        if self.profile.api_behaviour == ApiBehaviour.UPDATE:
            item.remote_id = None
            item.finish(
                Outcome.SKIPPED,
                f"{url} no longer exists in FreeAgent; 'Update Existing' does not re-create it.",
            )
            return
        item.payload = item.context.get("full_payload") or item.payload
        item.context["action"] = "create"
        self._create(item)

    # -- bookkeeping ---------------------------------------------------------------------------

    def _record_attempts(self, item: WorkItem, action: str) -> None:
        exchanges = self.recorder.take()
        rows = [
            DeliveryAttempt(
                entity=item.entity,
                run=self.run,
                action=action,
                outcome=item.outcome.value if item.outcome else "",
                http_status=ex.status,
                duration_ms=ex.elapsed_ms,
                message=item.message if i == len(exchanges) - 1 else (ex.error or ""),
                request={"method": ex.method, "path": ex.url, "body": ex.request_body},
                response={"status": ex.status, "body": _trim(ex.response_body)},
            )
            for i, ex in enumerate(exchanges)
            if _recorded(ex)
        ]
        self.attempts.extend(rows)

    def attempts_flush(self) -> None:
        """The batch's delivery attempts, in one insert (at the end of the batch, and after
        an error that stopped it)."""
        rows, self.attempts = self.attempts, []
        if rows:
            rows_insert(DeliveryAttempt, rows)


class _Group:
    """Creates sent under locks taken together (see :data:`GROUP`)."""

    def __init__(self, stack: ExitStack, items: dict[int, WorkItem]) -> None:
        self.stack = stack
        self.items = items  # by id(): the members whose lock is held
        self.tried: set[int] = set()  # by id(): every member, held or not
        self.matches: dict[str, list[RemoteContact]] = {}
        self.entities: list[ContactEntity] = []  # linked, to be written
        self.opened = time.monotonic()

    @classmethod
    def open(cls, writer: ContactWriter, members: Sequence[WorkItem]) -> _Group:
        """Try the members' locks (a member another worker holds takes the slow path),
        then look up the e-mails of those held in one query."""
        names = {id(item): _lock_name(writer.client, item) for item in members}
        stack = ExitStack()
        try:
            held = stack.enter_context(
                locks_try(
                    names.values(),
                    redis_url=settings.REDIS_URL or None,
                    lock_dir=_lock_dir(),
                    ttl=lock_ttl(LOCK_TTL),
                )
            )
            group = cls(stack, {id(i): i for i in members if names[id(i)] in held})
            group.tried = set(names)
            emails = [str((i.payload or {}).get("email", "")) for i in group.items.values()]
            group.matches = remote_contacts_by_emails(writer.client, emails)
        except BaseException:
            stack.close()
            raise
        return group

    def link(self, entity: ContactEntity, url: str) -> None:
        entity.remote_id = url
        entity.metadata = {k: v for k, v in (entity.metadata or {}).items() if k != "create_intent"}
        self.entities.append(entity)

    def expired(self) -> bool:
        return time.monotonic() - self.opened > GROUP_HOLD

    def release(self) -> None:
        self.entities = []
        self.stack.close()


def _recorded(exchange: Exchange) -> bool:
    """A delivery attempt: a write, or a request that failed."""
    return (
        exchange.method in ("POST", "PUT", "DELETE")
        or exchange.status is None
        or exchange.status >= 400
    )


def _ambiguous(item: WorkItem, email: str, count: int) -> None:
    """Never guess which of several contacts is the person's: a person decides."""
    item.finish(
        Outcome.AMBIGUOUS, f"FreeAgent has {count} active contacts with the e-mail {email}."
    )


def _lock_name(client: Client, item: WorkItem) -> str:
    email = str((item.payload or {}).get("email", ""))
    return f"freeagent-create:{client.pk}:{email_key(email)}"


def _trim(body: Any) -> Any:
    if isinstance(body, str) and len(body) > 2000:
        return body[:2000] + "…"
    return body


def _lock_dir() -> str:
    path = Path(settings.VAR_DIR) / "locks"
    path.mkdir(parents=True, exist_ok=True)
    return str(path)
