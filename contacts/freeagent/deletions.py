"""The FreeAgent side of the deletion policies (see :mod:`contacts.services.propagate`).

``hide`` sets ``status: Hidden``; ``delete`` sends ``DELETE`` and, when FreeAgent keeps the
contact (403: it has invoices, estimates or bills), hides it instead. A contact already
gone (404) counts as done. Refused credentials stop the pass (raised); any other failure
is that contact's, recorded, and tried again at the next pass.
"""

from __future__ import annotations

import logging
from typing import Any

from connectors.errors import AuthError, ConnectorError, NotFound
from contacts.freeagent.cache import remote_contacts_store
from contacts.models import DeletionOutcome, RemoteContact
from profiles.models import Client

logger = logging.getLogger(__name__)


def freeagent_deletions_apply(client: Client, policy: str, records: list[Any]) -> None:
    from profiles.services.connections import freeagent_client

    api = freeagent_client(client)
    answered: list[dict[str, Any]] = []
    removed: list[str] = []
    for record in records:
        url = record.remote_id
        try:
            if policy == "delete":
                try:
                    api.delete_contact(url)
                    _done(record, DeletionOutcome.DELETED, 200, "")
                    removed.append(url)
                    continue
                except AuthError as exc:
                    if exc.status != 403:
                        raise
                    keeps = "FreeAgent keeps it (invoices, estimates or bills): hidden instead"
                    answered.append(api.hide_contact(url))
                    _done(record, DeletionOutcome.HIDDEN, 403, keeps)
                    continue
            answered.append(api.hide_contact(url))
            _done(record, DeletionOutcome.HIDDEN, 200, "")
        except NotFound:
            _done(record, DeletionOutcome.GONE, 404, "")
            removed.append(url)
        except AuthError as exc:
            if exc.status == 401:
                raise  # the credentials: the pass stops, the rest stays pending
            _done(record, DeletionOutcome.FAILED, exc.status, str(exc)[:500])
        except ConnectorError as exc:
            _done(record, DeletionOutcome.FAILED, exc.status, str(exc)[:500])
    if removed:
        RemoteContact.objects.filter(client=client, url__in=removed).delete()
    if answered:
        remote_contacts_store(client, answered)


def _done(record: Any, outcome: str, status: int | None, answer: str) -> None:
    record.outcome = outcome
    record.remote_status = status
    record.remote_answer = answer
