"""Profile type ``freeagent_contact_export``: Magento customers → FreeAgent contacts (seed 000).

Customer Collection → Contact Resolution → Contact Data Generation (generator "Contact
Data", sort 10) → API Export (processor "Contact Creation", sort 40) → Status Update &
Logging (post-processor "Queue & Log", sort 100).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from django.db import DatabaseError
from django.db.models import Q

from connectors.deadline import too_late
from connectors.errors import ConnectorError
from contacts.freeagent.cache import (
    WATERMARK_KEY,
    remote_contact_get,
    remote_contacts_collect,
)
from contacts.freeagent.export import ContactWriter, ExchangeRecorder
from contacts.freeagent.mapping import contact_payload, field_changes
from contacts.freeagent.resolve import (
    NEW_CONTACT_OPTIONS,
    BatchLookups,
    SourceMissing,
    contact_generate,
    entity_intent,
    person_for_entity,
)
from contacts.models import ContactEntity, Customer, DeliveryAttempt, RemoteContact
from contacts.services import sharing
from contacts.services.entities import Pending, entities_mark_pending, entities_rekey
from contacts.services.mirror_pages import customers_read_pages, guests_read_pages
from contacts.services.sharing import SharedEmails, sharing_applies
from profiles import registry
from profiles.models import Client, Profile, QueueStatus, Run, SyncStatus
from profiles.pipeline import BatchContext, Generator, Outcome, Processor, QueueAndLog, WorkItem
from profiles.services import runs
from profiles.services.accounts import (
    client_account_note,
    freeagent_account,
    profile_account_check,
)
from profiles.services.connections import freeagent_client, magento_client
from profiles.services.pause import items_pause

logger = logging.getLogger("contactsync.freeagent_contact_export")

TYPE_ID = "freeagent_contact_export"
# No contact is started with less time than this left before the batch's deadline: a
# create (lock, look-up, POST, link) fits in it with room to spare.
ITEM_SLACK = 60.0
DRIFT_TASK = "contacts.drift_check"
DRIFT_CRON = "30 3 * * *"  # daily, after the night's exports
LOCALES_STATE = "store_locales"


def guest_key(website_id: int | None, email_normalized: str) -> str:
    return f"guest:{website_id}:{email_normalized}"


class ContactData(Generator):
    """Generate the contact payload from Magento customer data (and resolve the contact)."""

    name = "Contact Data"
    sort_order = 10

    def process(self, ctx: BatchContext, items: Sequence[WorkItem]) -> None:
        locales = {int(k): v for k, v in (ctx.profile.state.get(LOCALES_STATE) or {}).items()}
        shared = SharedEmails(ctx.profile, [i.entity for i in items])
        in_batch = [i.entity.pk for i in items]
        lookups = BatchLookups.load(ctx.profile, [i.entity for i in items if not i.done])
        guests = guests_exported(ctx.profile.settings)
        for item in items:
            if item.done:
                continue
            if not guests and item.entity.person_key.startswith("guest:"):
                item.finish(
                    Outcome.SKIPPED,
                    "Not exported: guest checkout contacts are turned off for this profile "
                    "(Export guest checkout contacts).",
                )
                continue
            if not sharing_applies(ctx, item, shared, in_batch):
                continue
            contact_generate(
                profile=ctx.profile,
                item=item,
                store_locales=locales,
                dry_run=ctx.dry_run,
                lookups=lookups,
            )


class ContactCreation(Processor):
    """Create or update the contact in FreeAgent via the API."""

    name = "Contact Creation"
    sort_order = 40

    def process(self, ctx: BatchContext, items: Sequence[WorkItem]) -> None:
        writer: ContactWriter = ctx.shared["writer"]
        if not ctx.dry_run:
            writer.prepare(items)
        try:
            self._write(ctx, writer, items)
        except BaseException:
            writer.in_flight_wait(items)
            # The links and history of what was sent before the batch stopped; never in
            # the way of the error that stopped it (a time limit may have struck inside a
            # query). A link not written is reconciled from its intent.
            with contextlib.suppress(DatabaseError):
                writer.flush()
            with contextlib.suppress(DatabaseError):
                writer.attempts_flush()
            raise
        writer.flush()
        writer.attempts_flush()
        if not ctx.dry_run:  # (after an exception the intents stay: reconciled next time)
            writer.intents_release(items)
        if writer.refused and ctx.profile.client is not None:
            items_pause(items, ctx.profile.client, writer.refused)

    @staticmethod
    def _write(ctx: BatchContext, writer: ContactWriter, items: Sequence[WorkItem]) -> None:
        for item in items:
            if item.done:
                continue
            if ctx.dry_run:
                action = item.context.get("action")
                outcome = Outcome.CREATED if action == "create" else Outcome.UPDATED
                item.finish(outcome, f"Dry run: would {action}; nothing was sent.")
                continue
            if too_late(ITEM_SLACK):
                item.finish(
                    Outcome.DEFERRED, "Deferred: this batch's time ran out before its turn."
                )
                continue
            writer.write(item)
            ctx.progress(items)


APPLIED_STATE = "applied_settings"


def contact_options(client: Any) -> dict[str, list[str]]:
    """The per-contact options FreeAgent offers, as collected on the client (empty before
    "Collect configuration data")."""
    data = (client.configuration_data or {}) if client is not None else {}
    options = data.get("contact_options") or {}
    return {k: [str(v) for v in options.get(k) or []] for k in NEW_CONTACT_OPTIONS}


def new_contacts_errors(profile: Profile) -> dict[str, list[str]]:
    """``new_contacts`` names only options FreeAgent has (those collected, when collected)."""
    chosen = (profile.settings or {}).get("new_contacts") or {}
    if not isinstance(chosen, dict):
        return {"new_contacts": ["A mapping, e.g. {charge_sales_tax: Never}."]}
    errors = []
    collected = contact_options(profile.client)
    for key, value in chosen.items():
        if key not in NEW_CONTACT_OPTIONS:
            errors.append(
                f"{key}: not an option of new contacts ({', '.join(NEW_CONTACT_OPTIONS)})."
            )
        elif value and collected.get(key) and str(value) not in collected[key]:
            errors.append(f"{key}: FreeAgent offers {', '.join(collected[key])}; got {value!r}.")
    return {"new_contacts": errors} if errors else {}


def guests_exported(settings: dict[str, Any] | None) -> bool:
    """The profile's "Export guest checkout contacts" (on unless turned off)."""
    return bool((settings or {}).get("guest_buyers", True))


def applied_settings(profile: Profile) -> dict[str, Any]:
    """The settings that decide a contact's outcome (not its payload)."""
    rule, websites = sharing.sharing_settings(profile.settings)
    return {
        "api_behaviour": profile.api_behaviour,
        "shared_email": rule,
        "website_priority": websites,
        "guest_buyers": guests_exported(profile.settings),
    }


def settings_reevaluate(profile: Profile) -> int:
    """After a change of API behaviour or the shared e-mail rule, the contacts that setting
    skipped or flagged are decided again (a skip under *Update Existing* becomes a create
    under *Create and Update*; a change held back under *Create New* is sent). The first
    call only remembers the settings. Returns how many were queued."""
    state = dict(Profile.objects.only("state").get(pk=profile.pk).state or {})
    now = applied_settings(profile)
    before = state.get(APPLIED_STATE)
    if before == now:
        return 0
    queued = 0
    if before is not None:
        affected = Q(status__in=[SyncStatus.SKIPPED, SyncStatus.AMBIGUOUS])
        if before.get("guest_buyers", True) != now["guest_buyers"]:
            # Guests turned off: those not sent yet (waiting, failed) are decided again —
            # skipped, not left failing. Turned on: the skipped ones above are sent, and
            # collection reads the guests it left alone meanwhile (its watermark waited).
            affected |= Q(person_key__startswith="guest:") & Q(remote_id="")
        queued = (
            ContactEntity.objects.filter(affected, profile=profile)
            .exclude(queue_status=QueueStatus.PROCESSING)
            .update(queue_status=QueueStatus.PENDING, next_attempt_at=None, attempts=0)
        )
    state[APPLIED_STATE] = now
    Profile.objects.filter(pk=profile.pk).update(state=state)
    profile.state = state
    return queued


class FreeAgentContactExport(registry.ProfileType):
    type_id = TYPE_ID
    label = "FreeAgent contact export (Magento → FreeAgent)"
    source_client_type = "magento"
    target_client_type = "freeagent"
    stages = [ContactData, ContactCreation, QueueAndLog]
    config_keys = (*sharing.CONFIG_KEYS, "guest_buyers", "new_contacts")

    def default_settings(self) -> dict[str, Any]:
        return {
            "shared_email": sharing.FLAG,
            "website_priority": [],
            "guest_buyers": True,
            "new_contacts": {},
        }

    deletion_policies = {
        "hide": "Hide the FreeAgent contact (status Hidden; its history stays)",
        "delete": "Delete the FreeAgent contact (hidden instead when FreeAgent keeps it: "
        "invoices, estimates or bills)",
    }

    def customers_deleted(self, profile: Profile, magento_ids: list[int]) -> int:
        from contacts.services.propagate import deletions_mark

        return deletions_mark(
            profile, ContactEntity.objects.filter(profile=profile, customer_id__in=magento_ids)
        )

    def deletion_apply(self, profile: Profile, policy: str, records: list[Any]) -> None:
        from contacts.freeagent.deletions import freeagent_deletions_apply

        assert profile.client is not None
        freeagent_deletions_apply(profile.client, policy, records)

    def dry_run_notes(self, profile: Profile) -> list[str]:
        from contacts.services.propagate import deletions_preview

        return [note for note in [deletions_preview(profile)] if note]

    def dry_run_scope(self, profile: Profile) -> Any:
        from contacts.services.dry_journal import dry_run_journal

        return dry_run_journal(profile)

    def extra_schedules(self, profile: Profile) -> list[registry.ExtraSchedule]:
        return [registry.ExtraSchedule(key="drift", cron=DRIFT_CRON, task=DRIFT_TASK, kwargs={})]

    def schedule_summary(self, profile: Profile) -> list[tuple[str, str]]:
        return [
            ("Export", registry.schedule_words(profile.cron_expression)),
            ("Drift check", registry.schedule_words(DRIFT_CRON)),
        ]

    def validate_settings(self, profile: Profile) -> dict[str, list[str]]:
        errors = sharing.sharing_validate(profile.settings)
        value = (profile.settings or {}).get("guest_buyers", True)
        if not isinstance(value, bool):
            errors["guest_buyers"] = [f"true or false; got {value!r}."]
        errors.update(new_contacts_errors(profile))
        return errors

    def settings_from_config(self, values: dict[str, Any]) -> dict[str, Any]:
        out = {**self.default_settings(), **sharing.sharing_from_config(values)}
        if "guest_buyers" in values:
            out["guest_buyers"] = values["guest_buyers"]  # validated as a boolean
        if "new_contacts" in values:
            out["new_contacts"] = values["new_contacts"]  # validated against the options
        return out

    def settings_to_config(self, settings: dict[str, Any]) -> dict[str, Any]:
        rule, websites = sharing.sharing_settings(settings)
        return {
            "shared_email": rule,
            "website_priority": websites,
            "guest_buyers": guests_exported(settings),
            "new_contacts": dict(settings.get("new_contacts") or {}),
        }

    @property
    def entity_model(self) -> type[ContactEntity]:
        return ContactEntity

    def collect(self, *, profile: Profile, run: Run | None) -> int:
        """Read changed customers and guest buyers from Magento and queue them."""
        if profile.source_client is None or profile.client is None:
            raise ConnectorError(
                f"Profile '{profile.name}' needs a Magento source client and a FreeAgent client."
            )
        # Which FreeAgent account the client reaches now (one call per run): the profile's
        # links must belong to it before anything is sent. FreeAgent unavailable or
        # refusing: the last account seen stands, and the batches report the problem.
        try:
            company = freeagent_client(profile.client).get_company()
        except ConnectorError as exc:
            logger.warning("profile=%s FreeAgent account not read: %s", profile.pk, exc)
        else:
            client_account_note(profile.client, freeagent_account(company))
        profile_account_check(profile)
        api = magento_client(profile.source_client)
        self._store_locales(profile, api)
        reevaluated = 0 if run is not None and run.dry_run else settings_reevaluate(profile)
        queued: set[str] = set()  # person keys: a repeat guest is one person
        on_error = runs.collection_error_reporter(run)
        # A page at a time: one read and one write of the entity table per Magento page.
        for customers in customers_read_pages(profile=profile, client=api, on_error=on_error):
            # A guest who registered keeps their FreeAgent contact.
            entities_rekey(
                profile=profile,
                moves=[
                    (
                        guest_key(c.website_id, c.email_normalized),
                        f"customer:{c.magento_id}",
                        {"customer_id": c.magento_id},
                    )
                    for c in customers
                ],
            )
            queued |= entities_mark_pending(
                profile=profile, people=[self._customer_pending(c) for c in customers]
            )
        guest_pages = (
            guests_read_pages(profile=profile, client=api, on_error=on_error)
            if guests_exported(profile.settings)
            else ()  # turned off: not read, and their watermark waits for them
        )
        for guests in guest_pages:
            # The registered customer of the same e-mail and website is the contact.
            registered = set(
                Customer.objects.filter(
                    store=profile.source_client,
                    email_normalized__in=sorted({g.email_normalized for g in guests}),
                ).values_list("email_normalized", "website_id")
            )
            queued |= entities_mark_pending(
                profile=profile,
                people=[
                    Pending(
                        person_key=guest_key(g.website_id, g.email_normalized),
                        source_hash=g.source_hash,
                        email=g.email,
                        metadata={
                            "source": "guest",
                            "website_id": g.website_id,
                            "store_id": g.magento_store_id,
                            "orders": g.order_count,
                            "last_order": g.last_order_increment_id,
                        },
                    )
                    for g in guests
                    if (g.email_normalized, g.website_id) not in registered
                ],
            )
        return reevaluated + len(queued)

    @staticmethod
    def _customer_pending(customer: Customer) -> Pending:
        return Pending(
            person_key=f"customer:{customer.magento_id}",
            source_hash=customer.source_hash,
            email=customer.email,
            customer_id=customer.magento_id,
            metadata={
                "source": "customer",
                "group_id": customer.group_id,
                "website_id": customer.website_id,
                "store_id": customer.magento_store_id,
                "created_at": customer.magento_created_at.isoformat()
                if customer.magento_created_at
                else None,
            },
        )

    @staticmethod
    def _store_locales(profile: Profile, api: Any) -> None:
        try:
            configs = api.store_configs()
        except ConnectorError:
            return  # locale is optional; keep what we had
        locales = {str(c["id"]): c.get("locale") for c in configs if c.get("locale")}
        state = {**(profile.state or {}), LOCALES_STATE: locales}
        Profile.objects.filter(pk=profile.pk).update(state=state)
        profile.state = state

    def explain(self, *, profile: Profile, entity: Any) -> dict[str, Any]:
        """Source, mapped payload, last sent, cached remote record and the field diff."""
        assert profile.client is not None
        from contacts.services.propagate import deletion_note

        notes: list[str] = [note for note in [deletion_note(entity)] if note]
        try:
            person, raw = person_for_entity(profile, entity)
        except SourceMissing as exc:
            return {"source": None, "errors": {"source": str(exc)}, "notes": notes}
        locales = {int(k): v for k, v in (profile.state.get(LOCALES_STATE) or {}).items()}
        locale = locales.get(person.store_id) if person.store_id is not None else None
        mapped = contact_payload(person, store_locale=locale)
        remote = remote_contact_get(profile.client, entity.remote_id) if entity.remote_id else None
        if entity.remote_id and remote is None:
            notes.append("The linked FreeAgent contact is not in the local cache yet.")
        last = (
            DeliveryAttempt.objects.filter(entity=entity, outcome__in=["created", "updated"])
            .order_by("-created_at", "-pk")
            .first()
        )
        shared = sharing.sharing_note(profile, entity)
        if shared:
            notes.append(shared)
        intent = entity_intent(entity)
        if intent:
            notes.append(
                f"A create was started at {intent.get('at')} without its result being "
                "recorded; the next run reconciles it with FreeAgent before any new create."
            )
        return {
            "source": raw,
            "payload": mapped.payload if mapped.ok else None,
            "errors": mapped.errors,
            "last_sent": (last.request or {}).get("body") if last else None,
            "last_sent_at": last.created_at if last else None,
            "remote": remote.data if remote else None,
            "changes": field_changes(mapped.payload, remote.data if remote else None)
            if mapped.ok
            else [],
            "notes": notes,
        }

    def forget_remote(self, *, profile: Profile) -> None:
        """The contacts cache and unfinished creates belong to the old account."""
        assert profile.client is not None
        RemoteContact.objects.filter(client=profile.client).delete()
        fresh = Client.objects.only("configuration_data").get(pk=profile.client.pk)
        data = {k: v for k, v in (fresh.configuration_data or {}).items() if k != WATERMARK_KEY}
        Client.objects.filter(pk=profile.client.pk).update(configuration_data=data)
        for entity in ContactEntity.objects.filter(
            profile=profile, metadata__has_key="create_intent"
        ):
            metadata = {k: v for k, v in entity.metadata.items() if k != "create_intent"}
            ContactEntity.objects.filter(pk=entity.pk).update(metadata=metadata)

    def prepare_batch(self, ctx: BatchContext) -> None:
        """Build the FreeAgent client and refresh the contacts cache (incrementally) so
        resolution sees the contacts created outside this tool — even if no one ran
        `collect`. Our own creates are in the cache as soon as they are linked."""
        client = ctx.profile.client
        assert client is not None
        profile_account_check(ctx.profile)  # no id from another account, ever
        recorder = ExchangeRecorder()
        reader = freeagent_client(client, on_exchange=recorder)
        writer = freeagent_client(client, on_exchange=recorder, max_attempts=1)
        # Once per run, then at most every REFRESH_EVERY: see contacts.freeagent.cache.
        remote_contacts_collect(
            client=client, api=reader, reuse_since=ctx.run.started_at, run_id=ctx.run.pk
        )
        recorder.take()
        ctx.shared["writer"] = ContactWriter(
            profile=ctx.profile, run=ctx.run, api=writer, reader=reader, recorder=recorder
        )


registry.register(FreeAgentContactExport())
