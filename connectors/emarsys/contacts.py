"""Contact calls of :class:`~connectors.emarsys.client.EmarsysClient`: upsert, getdata, checkids.

Batches are split at 1,000 contacts *and* at the JSON body size limit, and each contact's
outcome is reported as a :class:`ContactResult`: the PUT response lists ``ids`` only for
contacts that did not fail, in request order, so results are matched positionally after
removing the keys named in ``data.errors``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from connectors.emarsys.envelope import ItemError, as_id, parse_item_errors
from connectors.emarsys.models import CheckIdsResult, ContactResult, GetDataResult, UpsertResult
from connectors.errors import ValidationError

LOOKUP_BATCH = 1000  # keyValues per getdata call / external_ids per checkids call


def json_size(value: Any) -> int:
    """Bytes ``requests`` sends for ``value`` as a JSON body (same ``json.dumps`` defaults)."""
    return len(json.dumps(value).encode("utf-8"))


def key_text(value: Any) -> str:
    """A key value as Emarsys echoes it in ``data.errors`` (always a string)."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def split_batches(
    contacts: Sequence[Mapping[str, Any]],
    *,
    envelope: Mapping[str, Any],
    max_count: int,
    max_bytes: int,
) -> Iterator[list[Mapping[str, Any]]]:
    """Yield batches of at most ``max_count`` contacts whose full body fits in ``max_bytes``.

    ``envelope`` is the body without contacts (``key_id`` …); a single contact too large on
    its own raises ValidationError instead of being sent.
    """
    overhead = json_size({**envelope, "contacts": []})
    batch: list[Mapping[str, Any]] = []
    size = overhead
    for contact in contacts:
        item_size = json_size(contact) + 2  # ", " separator between items
        if overhead + item_size > max_bytes:
            raise ValidationError(
                f"emarsys: one contact is {item_size} bytes of JSON, over the "
                f"{max_bytes}-byte request limit"
            )
        if batch and (len(batch) >= max_count or size + item_size > max_bytes):
            yield batch
            batch, size = [], overhead
        batch.append(contact)
        size += item_size
    if batch:
        yield batch


class ContactsMixin:
    """Contact endpoints; mixed into EmarsysClient (which provides ``_call``)."""

    if TYPE_CHECKING:
        max_batch: int
        max_body_bytes: int

        def _call(
            self,
            method: str,
            path: str,
            *,
            json_body: Any = None,
            params: Mapping[str, Any] | None = None,
        ) -> Any: ...

    def upsert_contacts(
        self,
        contacts: Sequence[Mapping[str | int, Any]],
        *,
        key_id: str | int = "3",
        create_if_not_exists: bool = True,
        contact_list_id: str | int | None = None,
        retry_conflicts: bool = True,
    ) -> UpsertResult:
        """``PUT contact/?create_if_not_exists=1`` in as many calls as the limits need.

        ``contacts`` map field ids (str or int) to values; each must carry its ``key_id``
        value. PUT overwrites every field sent, so send only fields you own. Contacts that hit
        the documented near-simultaneous-upsert race (2009) are re-sent once when
        ``retry_conflicts``. Returns one :class:`ContactResult` per input contact, in order.
        """
        key = as_id(key_id)
        normalised = [{as_id(k): v for k, v in c.items()} for c in contacts]
        result = UpsertResult(results=[ContactResult(key="", id=None)] * len(normalised))
        sendable: list[int] = []
        for index, contact in enumerate(normalised):
            value = key_text(contact.get(key))
            if value.strip():
                sendable.append(index)
            else:
                error = ItemError(value, 2005, f"No value provided for key field: {key}")
                result.results[index] = ContactResult(key=value, id=None, error=error)
        self._upsert_into(result, normalised, sendable, key, create_if_not_exists, contact_list_id)
        if retry_conflicts and create_if_not_exists:
            conflicts = [
                i
                for i in sendable
                if (e := result.results[i].error) is not None and e.already_exists
            ]
            if conflicts:
                self._upsert_into(result, normalised, conflicts, key, True, contact_list_id)
        return result

    def _upsert_into(
        self,
        result: UpsertResult,
        contacts: list[dict[str, Any]],
        indexes: list[int],
        key: str,
        create: bool,
        contact_list_id: str | int | None,
        method: str = "PUT",
    ) -> None:
        envelope: dict[str, Any] = {"key_id": key}
        if contact_list_id is not None:
            envelope["contact_list_id"] = as_id(contact_list_id)
        # The documented forms: "contact/?create_if_not_exists=1" and plain "contact".
        path, params = ("contact/", {"create_if_not_exists": 1}) if create else ("contact", None)
        if method == "POST":
            path, params = "contact", None
        by_identity = {id(contacts[i]): i for i in indexes}
        for batch in split_batches(
            [contacts[i] for i in indexes],
            envelope=envelope,
            max_count=self.max_batch,
            max_bytes=self.max_body_bytes,
        ):
            data = self._call(
                method, path, params=params, json_body={**envelope, "contacts": batch}
            )
            result.calls += 1
            positions = [by_identity[id(contact)] for contact in batch]
            for position, outcome in zip(positions, _match_ids(batch, key, data), strict=True):
                result.results[position] = outcome

    def create_contacts(
        self, contacts: Sequence[Mapping[str | int, Any]], *, key_id: str | int = "3"
    ) -> UpsertResult:
        """``POST contact`` (create only): existing keys come back as 2009 errors."""
        key = as_id(key_id)
        normalised = [{as_id(k): v for k, v in c.items()} for c in contacts]
        result = UpsertResult(results=[ContactResult(key="", id=None)] * len(normalised))
        indexes = list(range(len(normalised)))
        self._upsert_into(result, normalised, indexes, key, False, None, method="POST")
        return result

    def create_contact(self, contact: Mapping[str | int, Any], *, key_id: str | int = "3") -> str:
        """Create one contact (single-object form); returns its id, raises on any error."""
        data = self._call("POST", "contact", json_body=_single_body(contact, key_id))
        return as_id(data["id"])

    def update_contact(
        self,
        contact: Mapping[str | int, Any],
        *,
        key_id: str | int = "3",
        create_if_not_exists: bool = False,
    ) -> str:
        """Update one contact (single-object form); returns its id, raises on any error."""
        params = {"create_if_not_exists": 1} if create_if_not_exists else None
        path = "contact/" if create_if_not_exists else "contact"
        data = self._call("PUT", path, params=params, json_body=_single_body(contact, key_id))
        return as_id(data["id"])

    def delete_contact(self, key_value: str | int, *, key_id: str | int = "3") -> None:
        """Hard-delete one contact and its history (irreversible; NotFound when absent)."""
        key = as_id(key_id)
        self._call("POST", "contact/delete", json_body={"key_id": key, key: key_text(key_value)})

    def internal_id(self, key_value: str | int, *, key_id: str | int = "3") -> str:
        """The internal id of the one contact with this key value (NotFound / 2010 raise)."""
        data = self._call("GET", f"contact/{as_id(key_id)}={key_text(key_value)}")
        return as_id(data["id"])

    def query_contacts(
        self,
        *,
        return_field: str | int,
        filters: Mapping[str | int, str] | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> list[dict[str, Any]]:
        """``GET contact/query``: rows with ``id`` (str) and the returned field's value."""
        params: dict[str, Any] = {"return": as_id(return_field)}
        params.update({as_id(k): v for k, v in (filters or {}).items()})
        if limit is not None:
            params["limit"] = limit
        if offset is not None:
            params["offset"] = offset
        data = self._call("GET", "contact/query/", params=params)
        rows = data.get("result") if isinstance(data, dict) else None
        out = []
        for row in rows if isinstance(rows, list) else []:
            clean = {str(k): v for k, v in row.items()}
            if clean.get("id") is not None:
                clean["id"] = as_id(clean["id"])
            out.append(clean)
        return out

    def get_contacts(
        self,
        key_values: Sequence[str | int],
        *,
        key_id: str | int = "3",
        fields: Sequence[str | int] = ("1", "2", "3", "31"),
    ) -> GetDataResult:
        """``contact/getdata`` in calls of 1,000 keys: field values by field id.

        Each row has ``id`` (str), ``uid`` and one entry per requested field (string keys).
        Keys that matched no contact come back in ``errors`` (2008).
        """
        result = GetDataResult()
        field_ids: list[str | int] = [int(f) if str(f).isdigit() else str(f) for f in fields]
        for chunk in _chunks([key_text(v) for v in key_values], LOOKUP_BATCH):
            data = self._call(
                "POST",
                "contact/getdata",
                json_body={"keyId": as_id(key_id), "keyValues": chunk, "fields": field_ids},
            )
            data = data if isinstance(data, dict) else {}
            rows = data.get("result")
            for row in rows if isinstance(rows, list) else []:  # `false` when nothing parsed
                if isinstance(row, dict):
                    clean = {str(k): v for k, v in row.items()}
                    if clean.get("id") is not None:
                        clean["id"] = as_id(clean["id"])
                    result.rows.append(clean)
            result.errors.extend(parse_item_errors(data.get("errors")))
        return result

    def check_ids(
        self,
        external_ids: Sequence[str | int],
        *,
        key_id: str | int = "3",
        get_multiple_ids: bool = False,
    ) -> CheckIdsResult:
        """``contact/checkids`` in calls of 1,000: key value → internal id (or ids)."""
        result = CheckIdsResult()
        for chunk in _chunks([key_text(v) for v in external_ids], LOOKUP_BATCH):
            body: dict[str, Any] = {"key_id": as_id(key_id), "external_ids": chunk}
            if get_multiple_ids:
                body["get_multiple_ids"] = 1
            data = self._call("POST", "contact/checkids", json_body=body)
            data = data if isinstance(data, dict) else {}
            ids = data.get("ids")
            for value, internal in ids.items() if isinstance(ids, dict) else []:
                if isinstance(internal, list):
                    result.ids[str(value)] = [as_id(i) for i in internal]
                else:
                    result.ids[str(value)] = as_id(internal)
            result.errors.extend(parse_item_errors(data.get("errors")))
        return result


def _chunks(values: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _match_ids(batch: list[Mapping[str, Any]], key: str, data: Any) -> list[ContactResult]:
    """Pair each contact of a batch with its error or (positionally) its returned id."""
    data = data if isinstance(data, dict) else {}
    errors: dict[str, ItemError] = {}
    for error in parse_item_errors(data.get("errors")):
        errors.setdefault(error.key, error)
    raw_ids = data.get("ids")
    if raw_ids is None and "id" in data:  # single-contact form
        raw_ids = [data["id"]]
    ids = list(raw_ids) if isinstance(raw_ids, list) else []
    keys = [key_text(contact.get(key)) for contact in batch]
    succeeded = [k for k in keys if k not in errors]
    positional = len(ids) == len(succeeded)
    out: list[ContactResult] = []
    cursor = 0
    for key_value in keys:
        if key_value in errors:
            out.append(ContactResult(key=key_value, id=None, error=errors[key_value]))
            continue
        if positional:
            raw = ids[cursor]
            cursor += 1
            created = isinstance(raw, int) and not isinstance(raw, bool)
            out.append(ContactResult(key=key_value, id=as_id(raw), created=created))
        else:
            out.append(ContactResult(key=key_value, id=None))
    return out


def _single_body(contact: Mapping[str | int, Any], key_id: str | int) -> dict[str, Any]:
    """Single-object body; ``key_id`` is omitted for e-mail, its default (as documented)."""
    body = {as_id(k): v for k, v in contact.items()}
    if as_id(key_id) != "3":
        body["key_id"] = as_id(key_id)
    return body


def _already_exists(result: ContactResult) -> bool:
    return result.error is not None and result.error.already_exists
