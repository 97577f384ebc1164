"""The Emarsys side of the deletion policies (see :mod:`contacts.services.propagate`).

``unsubscribe`` sets opt-in to 2 (opted out) and empties every mapped field, keeping the
e-mail so the opt-out stands; ``delete`` hard-deletes the contact and its history. Both
address the contact by its internal id (``key_id: id``), so an e-mail changed in Emarsys
cannot make them reach someone else. A contact already gone (2008) counts as done.

Which deleted customers are acted on at all (:func:`propagated_entities`): only a person
with no live subscription left in the store and no other contact of the profile linked to
the same Emarsys contact — someone still subscribed, or sharing the contact, is queued for
the generator instead, as under ``ignore``.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from connectors.errors import AuthError, ConnectorError, NotFound
from contacts.emarsys import config
from contacts.emarsys.mapping import OPT_IN
from contacts.models import ContactEntity, DeletionOutcome, Subscriber, SubscriberStatus
from profiles.models import Profile, SyncStatus

EMAIL = "3"


def cleared_fields(profile: Profile) -> dict[str, Any]:
    """The mapped fields emptied by ``unsubscribe`` (the e-mail and opt-in excepted)."""
    rows = config.effective(profile.settings)["field_mapping"]
    fields = {str(row.get("emarsys")) for row in rows if row.get("emarsys") is not None}
    return {field: "" for field in sorted(fields - {EMAIL, OPT_IN})}


def propagated_entities(
    profile: Profile, entities: QuerySet[ContactEntity]
) -> tuple[list[int], list[int]]:
    """(entities a propagating policy acts on, entities queued for the generator)."""
    rows = list(entities.values_list("pk", "email_key", "remote_id"))
    keys = {key for _pk, key, _remote in rows if key}
    subscribed = set(
        Subscriber.objects.filter(
            store=profile.source_client,
            email_normalized__in=keys,
            subscriber_status=SubscriberStatus.SUBSCRIBED,
        ).values_list("email_normalized", flat=True)
    )
    ours = {pk for pk, _key, _remote in rows}
    shared = set(
        ContactEntity.objects.filter(
            profile=profile, remote_id__in=[r for _pk, _key, r in rows if r]
        )
        .exclude(pk__in=ours)
        .exclude(status=SyncStatus.SOURCE_DELETED)
        .values_list("remote_id", flat=True)
    )
    acted: list[int] = []
    queued: list[int] = []
    for pk, key, remote in rows:
        (queued if key in subscribed or (remote and remote in shared) else acted).append(pk)
    return acted, queued


def emarsys_deletions_apply(profile: Profile, policy: str, records: list[Any]) -> None:
    from profiles.services.connections import emarsys_client

    assert profile.client is not None
    api = emarsys_client(profile.client)
    cleared = cleared_fields(profile)
    for record in records:
        try:
            if policy == "delete":
                api.delete_contact(record.remote_id, key_id="id")
                _done(record, DeletionOutcome.DELETED, 200, "")
            else:
                body: dict[str | int, Any] = {"id": record.remote_id, OPT_IN: 2}
                body.update(cleared)
                api.update_contact(body, key_id="id")
                _done(
                    record,
                    DeletionOutcome.UNSUBSCRIBED,
                    200,
                    f"opt-in 2; {len(cleared)} mapped field(s) emptied",
                )
        except NotFound:
            _done(record, DeletionOutcome.GONE, 404, "")
        except AuthError:
            raise  # the credentials: the pass stops, the rest stays pending
        except ConnectorError as exc:
            _done(record, DeletionOutcome.FAILED, exc.status, str(exc)[:500])


def _done(record: Any, outcome: str, status: int | None, answer: str) -> None:
    record.outcome = outcome
    record.remote_status = status
    record.remote_answer = answer
