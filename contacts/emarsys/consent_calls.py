"""The export's side of the two-way opt-in, and the e-mail guard (a base of
:class:`~contacts.emarsys.upsert.Upserter`).

Before a batch sends an opt-in value, Emarsys' current value is read (one ``getdata`` per
≤ 1,000 contacts, only for contacts whose opt-in would be sent): a change made in Emarsys
since the last sync is never overwritten blindly (:func:`contacts.emarsys.consent.resolve`
decides). When Emarsys' value wins, it is written to Magento after the batch's sends.

Updates send only the fields that changed since the last sync; a contact with nothing to
send is "unchanged" without a call. An update that would give a contact an e-mail address
another Emarsys contact already holds is not sent: it is flagged as ambiguous, naming both.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from functools import partial
from typing import Any

from connectors.errors import ConnectorError
from connectors.http import call_with_retries
from contacts.emarsys import consent
from contacts.emarsys.calls import BY_ID, BatchCalls
from contacts.emarsys.magento_optin import magento_optin_write, mirror_of
from contacts.emarsys.mapping import EMAIL, OPT_IN, Content
from profiles.pipeline import Outcome, WorkItem

OK = (Outcome.CREATED, Outcome.UPDATED, Outcome.UNCHANGED)


class ConsentCalls(BatchCalls):
    """Opt-in decisions, update payloads and the e-mail guard of one batch."""

    # -- decisions ------------------------------------------------------------------------------

    def _decision(self, item: WorkItem) -> consent.Decision:
        """The item's opt-in decision (made once Emarsys' value is known, or not needed)."""
        found = item.context.get("decision")
        if found is not None:
            decision: consent.Decision = found
            return decision
        base, magento, wants = item.context["consent"]
        if not wants:
            decision = consent.Decision(
                send=None, write_status=None, base=consent.adopt(base, magento)
            )
        else:
            remote = item.context.get("remote_optin", consent.ABSENT)
            decision = consent.resolve(base, magento, remote, self.settings["optin_map"])
        item.context["decision"] = decision
        if decision.note:
            item.details["optin"] = decision.note
        return decision

    def _forget_remote(self, item: WorkItem) -> None:
        """The contact vanished from Emarsys: decide again once it is found (or created)."""
        item.context.pop("decision", None)
        item.context.pop("remote_optin", None)

    def _fields(self, item: WorkItem, key: str) -> dict[str, Any]:
        """What one contact's call carries: a create's full content; an update's changed
        fields (all of them for a contact just found, or after a reset); the opt-in when
        the decision sends it."""
        content: Content = item.context["content"]
        if key == BY_ID:
            sent = (item.entity.metadata or {}).get("sent") or {}
            full = not item.entity.remote_id or not item.entity.last_payload_hash or not sent
            fields = content.to_send(known=True) if full else content.changes(sent)
        else:
            fields = content.to_send(known=False)
        decision = self._decision(item)
        if decision.send is not None:
            fields[OPT_IN] = decision.send
        return fields

    # -- before updates -------------------------------------------------------------------------

    def _prepare_updates(self, items: list[WorkItem]) -> list[WorkItem]:
        """Read Emarsys' opt-in where one would be sent, guard e-mail changes, and finish
        the contacts with nothing to send. Returns the items still to send."""
        self._read_optins([i for i in items if not i.done and i.context["consent"][2]])
        self._guard_emails([i for i in items if not i.done])
        out = []
        for item in items:
            if item.done:
                continue
            if not self._fields(item, BY_ID):
                item.remote_id = item.remote_id or item.entity.remote_id
                item.finish(Outcome.UNCHANGED, "No change since the last sync.")
                continue
            out.append(item)
        return out

    def _read_optins(self, items: list[WorkItem]) -> None:
        """Emarsys' Opt-In of contacts known by id (one getdata per ≤ 1,000)."""
        if not items or not self._may_call(items):
            return
        ids = [str(i.remote_id or i.entity.remote_id) for i in items]
        try:
            rows = self._retrying(
                lambda: self.api.get_contacts(ids, key_id=BY_ID, fields=[OPT_IN])
            ).rows
        except ConnectorError as exc:
            why = (
                "Not sent now, so as not to overwrite a choice made in Emarsys: its opt-in "
                "could not be read first"
            )
            self._defer(items, exc, why)
            return
        values = {str(r.get("id")): r.get(OPT_IN, "") for r in rows}
        for item, cid in zip(items, ids, strict=True):
            if cid in values:
                item.context["remote_optin"] = values[cid]

    def _guard_emails(self, items: list[WorkItem]) -> None:
        """Flag updates that would put an e-mail address on a second Emarsys contact."""
        moving: dict[str, list[WorkItem]] = defaultdict(list)
        for item in items:
            if item.details.get("resolved_by") == EMAIL:
                continue  # found by this very e-mail
            email = str(self._fields(item, BY_ID).get(EMAIL) or "").strip().lower()
            if email:
                moving[email].append(item)
        if not moving or not self._may_call([i for group in moving.values() for i in group]):
            return
        try:
            rows = self._retrying(
                lambda: self.api.get_contacts(
                    list(moving), key_id=EMAIL, fields=[EMAIL, self.schema.identity.customer_field]
                )
            ).rows
        except ConnectorError as exc:
            why = "Not sent now: Emarsys could not be asked whether the new e-mail is free"
            self._defer([i for group in moving.values() for i in group], exc, why)
            return
        holders: dict[str, set[str]] = defaultdict(set)
        for row in rows:
            holders[str(row.get(EMAIL) or "").strip().lower()].add(str(row.get("id")))
        for email, group in moving.items():
            for item in group:
                ours = str(item.remote_id or item.entity.remote_id)
                others = sorted(holders.get(email, set()) - {ours})
                if others:
                    item.finish(
                        Outcome.AMBIGUOUS,
                        f"The new e-mail {email} is already that of Emarsys contact "
                        f"{', '.join(others)}; this person's contact {ours} was not changed, "
                        "so as not to make two contacts with one e-mail. Merge them in "
                        "Emarsys or correct the e-mail in Magento, then retry.",
                        emarsys_contacts=[ours, *others],
                    )

    # -- after the sends --------------------------------------------------------------------------

    def _write_back(self, items: Sequence[WorkItem]) -> None:
        """Write opt-ins Emarsys won to Magento; a failure keeps the base and remembers
        what was seen, so the back-sync tries again and a newer Magento change wins."""
        due = [
            i
            for i in items
            if i.outcome in OK
            and i.context.get("decision") is not None
            and i.context["decision"].write_status is not None
        ]
        if not due:
            return
        if self.ctx.dry_run:
            for item in due:
                status = item.context["decision"].write_status
                item.details["magento_status"] = f"would be set to {status}"
            return
        api, source = self._magento()
        for item in due:
            decision: consent.Decision = item.context["decision"]
            status = decision.write_status
            assert status is not None
            customer, subscriber = mirror_of(self.ctx.profile, item.entity)
            try:
                call_with_retries(
                    partial(
                        magento_optin_write,
                        api=api,
                        source=source,
                        entity=item.entity,
                        customer=customer,
                        subscriber=subscriber,
                        status=status,
                    ),
                    sleep=self.sleep,
                )
            except ConnectorError as exc:
                base, magento, _ = item.context["consent"]
                remote = item.context.get("remote_optin")
                item.context["decision"] = replace(
                    decision, base=consent.seen(base, remote, magento)
                )
                self.ctx.log(
                    f"{item.entity}: Emarsys' opt-in ('{consent.word(remote)}') could not be "
                    f"written to Magento: {exc}; the opt-in back-sync tries again.",
                    level="warning",
                    entity_id=item.entity.pk,
                )
                continue
            word = "subscribed" if status == consent.SUBSCRIBED else "unsubscribed"
            self.ctx.log(
                f"{item.entity}: {word} in Magento (Emarsys' opt-in stands). {decision.note}",
                entity_id=item.entity.pk,
            )

    def _magento(self) -> tuple[Any, Any]:
        from contacts.emarsys.collect import subscriber_source
        from profiles.services.connections import magento_client

        cached = self.ctx.shared.get("magento")
        if cached is None:
            store = self.ctx.profile.source_client
            assert store is not None
            api = magento_client(store)
            cached = (api, subscriber_source(store, api))
            self.ctx.shared["magento"] = cached
        return cached
