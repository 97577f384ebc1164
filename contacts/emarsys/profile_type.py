"""Profile type ``emarsys_contact_sync``: Magento customers and subscribers → Emarsys
contacts (seed 003), opt-in changes back to Magento.

Schedules (kept in step on every profile save):

* main entry — realtime-failsafe: the incremental poll every ``poll_interval_minutes``;
  background only: once a day at ``background_runtime`` (the last 24 hours of changes);
* ``failsafe`` (realtime-failsafe only) — daily at the background runtime: a run that
  releases the failsafe queue (contacts whose sync failed) and syncs them;
* ``optin`` — daily at the background runtime: Emarsys opt-in changes → Magento (the
  back-sync), then the reconcile pass over every subscription on both sides.

The common *Schedule* and *API behaviour* settings have no effect for this type and are
neither shown nor loaded; automatic retry (the failsafe queue) is on by default.
"""

from __future__ import annotations

from typing import Any

from connectors.errors import AuthError
from contacts.emarsys import config, consent
from contacts.emarsys.collect import emarsys_collect, guest_source_message
from contacts.emarsys.fields import CACHE_KEY, schema_resolve
from contacts.emarsys.reevaluate import LISTED, reevaluation_preview
from contacts.emarsys.stages import ContactData, ContactUpsert, FailsafeQueueAndLog
from contacts.emarsys.upsert import Upserter
from contacts.models import ContactEntity, Customer, DeliveryAttempt, Subscriber
from contacts.services.sharing import sharing_note
from profiles import registry
from profiles.models import Client, Profile, QueueStatus, Run
from profiles.pipeline import BatchContext
from profiles.services.accounts import profile_account_check
from profiles.services.connections import emarsys_client

TYPE_ID = "emarsys_contact_sync"
RUN_TASK = "profiles.run_profile_scheduled"
OPTIN_TASK = "contacts.emarsys_optin_sync"
DRIFT_TASK = "contacts.drift_check"


class EmarsysContactSync(registry.ProfileType):
    type_id = TYPE_ID
    label = "Emarsys contact sync (Magento ⇄ Emarsys)"
    source_client_type = "magento"
    target_client_type = "emarsys"
    stages = [ContactData, ContactUpsert, FailsafeQueueAndLog]
    config_keys = config.CONFIG_KEYS
    field_defaults = {"enable_retry_on_failure": True, "process_batch_size": 1000}
    # Guest buyers: Emarsys has its own export types (customers, subscribers).
    unused_fields = frozenset(
        {
            "schedule_preset",
            "schedule_cron",
            "api_behaviour",
            "guest_buyers",
            "new_charge_sales_tax",
        }
    )

    @property
    def entity_model(self) -> type[ContactEntity]:
        return ContactEntity

    def collect(self, *, profile: Profile, run: Run | None) -> int:
        """Changed customers/subscribers (or everything, for an initial export)."""
        profile_account_check(profile)  # its contacts must belong to the account it reaches
        return emarsys_collect(profile=profile, run=run)

    def forget_remote(self, *, profile: Profile) -> None:
        """What was sent, the agreed opt-ins, list memberships and the field cache belong
        to the old account."""
        assert profile.client is not None
        gone = ("sent", consent.STATE_KEY, LISTED, "lists")
        for entity in ContactEntity.objects.filter(profile=profile).only("pk", "metadata"):
            metadata = {k: v for k, v in (entity.metadata or {}).items() if k not in gone}
            ContactEntity.objects.filter(pk=entity.pk).update(metadata=metadata)
        fresh = Client.objects.only("configuration_data").get(pk=profile.client.pk)
        data = {k: v for k, v in (fresh.configuration_data or {}).items() if k != CACHE_KEY}
        Client.objects.filter(pk=profile.client.pk).update(configuration_data=data)

    def prepare_batch(self, ctx: BatchContext) -> None:
        """Resolve fields (creating the key fields once) and build the upserter."""
        assert ctx.profile.client is not None
        profile_account_check(ctx.profile)  # no id from another account, ever
        api = emarsys_client(ctx.profile.client)
        try:
            schema = schema_resolve(profile=ctx.profile, api=api, create=not ctx.dry_run)
        except AuthError as exc:
            # The batch is deferred (failsafe queue) with the reason the merchant can act on.
            raise AuthError(
                f"Emarsys refused the credentials ({exc.message}); reconnect the client.",
                status=exc.status,
                method=exc.method,
                path=exc.path,
                body=exc.body,
                request_id=exc.request_id,
            ) from exc
        ctx.shared["schema"] = schema
        ctx.shared["upserter"] = Upserter(ctx=ctx, api=api, schema=schema)

    def explain(self, *, profile: Profile, entity: Any) -> dict[str, Any]:
        """The mirrored Magento customer and subscriber, and what was last sent."""
        store = profile.source_client
        customer = (
            Customer.objects.filter(store=store, magento_id=entity.customer_id).first()
            if entity.customer_id
            else None
        )
        subscriber = (
            Subscriber.objects.filter(store=store, subscriber_id=entity.subscriber_id).first()
            if entity.subscriber_id
            else None
        )
        last = (
            DeliveryAttempt.objects.filter(entity=entity, outcome__in=["created", "updated"])
            .order_by("-created_at", "-pk")
            .first()
        )
        notes = [
            "The Emarsys payload depends on the account's field list and choices; "
            "'Dry run' for this contact shows exactly what would be sent now."
        ]
        if entity.remote_id:
            notes.append(f"Emarsys internal id {entity.remote_id}: later updates key on it.")
        notes.append(optin_note(entity))
        shared = sharing_note(profile, entity)
        if shared:
            notes.append(shared)
        from contacts.services.propagate import deletion_note

        deleted = deletion_note(entity)
        if deleted:
            notes.insert(0, deleted)
        return {
            "source": {
                "customer": customer.raw if customer else None,
                "subscriber": subscriber.raw if subscriber else None,
            },
            "payload": None,
            "errors": {},
            "last_sent": (last.request or {}).get("contact") if last else None,
            "last_sent_at": last.created_at if last else None,
            "remote": None,
            "changes": [],
            "notes": notes,
        }

    def main_schedule_cron(self, profile: Profile) -> str:
        """The poll (realtime-failsafe) or the daily background run."""
        if config.effective(profile.settings)["sync_mode"] == config.BACKGROUND_ONLY:
            return config.daily_cron(profile.settings)
        return config.poll_cron(profile.settings)

    def schedule_summary(self, profile: Profile) -> list[tuple[str, str]]:
        """The beat entries this profile really has, in words."""
        settings = config.effective(profile.settings)
        at = settings["background_runtime"]
        if settings["sync_mode"] == config.BACKGROUND_ONLY:
            lines = [("Background export (last 24 hours)", f"daily at {at}")]
        else:
            lines = [
                ("Magento poll", registry.schedule_words(config.poll_cron(profile.settings))),
                ("Failsafe queue", f"daily at {at}"),
            ]
        lines.append(("Opt-in back-sync and reconcile", f"daily at {at}"))
        lines.append(("Drift check", registry.schedule_words(config.drift_cron(profile.settings))))
        return lines

    def settings_change_preview(
        self, *, profile: Profile, settings: dict[str, Any]
    ) -> tuple[int, list[str]]:
        return reevaluation_preview(profile=profile, settings=settings)

    deletion_policies = {
        "unsubscribe": "Unsubscribe in Emarsys (opt-in 2) and empty the mapped fields",
        "delete": "Delete the Emarsys contact and its history (irreversible)",
    }

    def customers_deleted(self, profile: Profile, magento_ids: list[int]) -> int:
        """Under ``ignore``, as a ``customer.deleted`` notification: the person is queued
        and the generator decides (kept in Emarsys, or sent on as the subscriber they may
        still be). Under a propagating policy, a person with nothing left in Magento gets
        a pending deletion (:mod:`contacts.emarsys.deletions`); the others are queued."""
        from contacts.emarsys.deletions import propagated_entities
        from contacts.emarsys.identity import customer_key
        from contacts.services.propagate import deletions_mark, rules_of

        entities = ContactEntity.objects.filter(
            profile=profile, person_key__in=[customer_key(i) for i in magento_ids]
        ).exclude(queue_status=QueueStatus.PROCESSING)
        if not rules_of(profile).propagates:
            return entities.update(queue_status=QueueStatus.PENDING, next_attempt_at=None)
        acted, queued = propagated_entities(profile, entities)
        marked = deletions_mark(profile, ContactEntity.objects.filter(pk__in=acted))
        return marked + ContactEntity.objects.filter(pk__in=queued).update(
            queue_status=QueueStatus.PENDING, next_attempt_at=None
        )

    def deletion_apply(self, profile: Profile, policy: str, records: list[Any]) -> None:
        from contacts.emarsys.deletions import emarsys_deletions_apply

        emarsys_deletions_apply(profile, policy, records)

    def dry_run_notes(self, profile: Profile) -> list[str]:
        from contacts.services.propagate import deletions_preview

        return [note for note in [deletions_preview(profile)] if note]

    def dry_run_scope(self, profile: Profile) -> Any:
        from contacts.services.dry_journal import dry_run_journal

        return dry_run_journal(profile)

    def webhook(self, profile: Profile, base_url: str) -> dict[str, Any] | None:
        from django.urls import reverse

        settings = config.effective(profile.settings)
        needed = settings["sync_mode"] == config.REALTIME_FAILSAFE
        secret_set = bool(settings.get("webhook_secret"))
        warning = ""
        if needed and not secret_set:
            warning = (
                "Realtime mode without a webhook secret: every notification from Magento is "
                "refused (403), so changes arrive only with the poll every "
                f"{settings['poll_interval_minutes']} minutes. Set a webhook secret below "
                "and the same one in Magento."
            )
        return {
            "url": base_url.rstrip("/")
            + reverse("contacts:emarsys_webhook", kwargs={"profile_id": profile.pk}),
            "secret_set": secret_set,
            "needed": needed,
            "warning": warning,
        }

    def field_help(self) -> dict[str, str]:
        return {
            "process_batch_size": "Contacts per batch (1–1000). Emarsys takes up to 1,000 "
            "contacts in one call: 1,000 (the default) sends each batch in one request.",
            "enable_retry_on_failure": "The failsafe queue: contacts whose sync failed for a "
            "passing reason (network, Emarsys unavailable, rate limit) are retried daily at "
            "the background runtime. Off: they are marked failed at once.",
            "retry_max_attempts": "Daily failsafe attempts before a contact is marked "
            "permanently failed.",
        }

    def extra_schedules(self, profile: Profile) -> list[registry.ExtraSchedule]:
        daily = config.daily_cron(profile.settings)
        extras = [
            registry.ExtraSchedule(key="optin", cron=daily, task=OPTIN_TASK, kwargs={}),
            registry.ExtraSchedule(
                key="drift", cron=config.drift_cron(profile.settings), task=DRIFT_TASK, kwargs={}
            ),
        ]
        if config.effective(profile.settings)["sync_mode"] == config.REALTIME_FAILSAFE:
            extras.append(
                registry.ExtraSchedule(key="failsafe", cron=daily, task=RUN_TASK, kwargs={})
            )
        return extras

    def default_settings(self) -> dict[str, Any]:
        return config.default_settings()

    def validate_settings(self, profile: Profile) -> dict[str, list[str]]:
        errors = config.validate(profile.settings)
        source = profile.source_client
        settings = config.effective(profile.settings)
        subscribers = ((source.settings or {}).get("subscribers") or {}) if source else {}
        if (
            source is not None
            and "subscribers" in config.types_of(settings["export_types"])
            and str(subscribers.get("source") or "customers") == "customers"
        ):
            errors.setdefault("export_types", []).append(guest_source_message(source, settings))
        unknown = unknown_field_rows(profile.client, settings.get("field_mapping"))
        if unknown:
            errors.setdefault("field_mapping", []).extend(unknown)
        return errors

    def settings_from_config(self, values: dict[str, Any]) -> dict[str, Any]:
        return config.from_config(values)

    def settings_to_config(self, settings: dict[str, Any]) -> dict[str, Any]:
        return config.to_config(settings)


def unknown_field_rows(client: Any, rows: Any) -> list[str]:
    """Mapping rows naming an Emarsys field id the client's collected field list does not
    hold (only when a list was collected: without one nothing can be said)."""
    fields = ((client.configuration_data or {}).get("fields") or []) if client else []
    if not fields or not isinstance(rows, list):
        return []
    known = {str(f.get("id")) for f in fields if isinstance(f, dict)}
    out = []
    for n, row in enumerate(rows, start=1):
        target = row.get("emarsys") if isinstance(row, dict) else None
        field_id = str(target).strip() if isinstance(target, (str, int)) else ""
        if field_id.isdigit() and field_id not in known:
            out.append(
                f"Row {n}: Emarsys has no field #{field_id} (not among the {len(known)} "
                f"fields collected from client '{client.name}'; collect its configuration "
                "data again if the field is new)."
            )
    return out


def optin_note(entity: Any) -> str:
    """The agreed opt-in of a contact, for the explain page."""
    base = consent.Base.of(entity.metadata)
    if not base.agreed:
        return "Opt-in: not synced yet (decided two-way at the first sync)."
    status = f"Magento status {base.status}" if base.status is not None else "Magento"
    text = f"Opt-in: both systems agreed on '{consent.word(base.value)}' ({status})."
    if base.pending is not None:
        text += (
            f" A change made in Emarsys ('{consent.word(base.pending.value)}') is waiting to "
            "be written to Magento."
        )
    return text


registry.register(EmarsysContactSync())
