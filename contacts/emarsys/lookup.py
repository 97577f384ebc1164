"""Resolution: finding the Emarsys contacts of people we have no internal id for.

By the "Magento Customer ID" field, then the "Magento Subscriber ID" field, then by e-mail
(see :mod:`contacts.emarsys.upsert` for where each runs); a contact found is adopted, not
duplicated, unless it is ambiguous.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from connectors.emarsys.envelope import reply_code_of
from connectors.errors import AuthError, ConnectorError
from contacts.emarsys.calls import BatchCalls
from contacts.emarsys.fields import is_placeholder
from contacts.emarsys.mapping import EMAIL, OPT_IN
from contacts.models import ContactEntity
from profiles.pipeline import Outcome, WorkItem

logger = logging.getLogger("contactsync.emarsys_contact_sync")

# getdata by a key field Emarsys has no index for ("no index on column"): that lookup
# cannot be made, so it is skipped. Any other error defers the contacts.
NOT_SEARCHABLE = frozenset({2015})


class Resolution(BatchCalls):
    """Sets ``remote_id`` on the items whose Emarsys contact already exists."""

    def _lookup(self, key_field: str, values: list[str]) -> dict[str, list[dict[str, Any]]]:
        """getdata rows by key value (lower-cased for e-mail)."""
        identity = self.schema.identity
        wanted = [identity.customer_field, identity.subscriber_field, EMAIL, OPT_IN]
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
        item.context.pop("decision", None)  # decided again with Emarsys' opt-in
        item.context["remote_optin"] = row.get(OPT_IN, "")
