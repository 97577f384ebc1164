"""Contact endpoints of the Emarsys simulator (create, upsert, getdata, checkids, delete).

Faithful to the recordings: batch create answers int ids, updates of existing contacts
string ids (ints for contacts created by ``create_if_not_exists``); per-key errors sit in an
object keyed by key value, ``[]`` when empty; getdata reports an array of errors and has no
``result`` key when every key failed; single-object calls answer ``data.id`` as an int.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from connectors.simulators.emarsys.contacts import ContactStore, ItemFailure, SimContact, key_text
from connectors.simulators.kit import Request, Response

MAX_BATCH = 1000
MAX_PUT_BYTES = 8 * 1024 * 1024
MAX_POST_BYTES = 10 * 1024 * 1024


def ok(data: Any) -> Response:
    """A success envelope."""
    return Response(200, {"replyCode": 0, "replyText": "OK", "data": data})


def fail(status: int, code: int, text: str) -> Response:
    """A top-level failure: non-zero replyCode and ``data: ""``."""
    return Response(status, {"replyCode": code, "replyText": text, "data": ""})


def errors_json(errors: dict[str, dict[str, str]]) -> dict[str, dict[str, str]] | list[Any]:
    """Per-key errors; Emarsys sends ``[]`` (not ``{}``) when there are none."""
    return errors if errors else []


class ContactRoutesMixin:
    """Contact handlers; needs ``store``, ``injected`` and ``add_members`` from the app."""

    if TYPE_CHECKING:
        store: ContactStore
        lock: threading.RLock
        injected: dict[str, tuple[int, str]]

        def add_members(self, list_id: Any, contacts: list[SimContact]) -> int: ...

    def _contact_create(self, request: Request) -> Response:
        return self._contact_write(request, create=True, update=False)

    def _contact_update(self, request: Request) -> Response:
        create = request.args.get("create_if_not_exists") in ("1", "true")
        return self._contact_write(request, create=create, update=True)

    def _contact_write(self, request: Request, *, create: bool, update: bool) -> Response:
        limit = MAX_POST_BYTES if request.method == "POST" else MAX_PUT_BYTES
        if len(request.body) > limit:
            return fail(413, 1000, f"The request exceeded the maximum size of {limit // 2**20} MB")
        body = request.json()
        if not isinstance(body, dict):
            return fail(400, 10001, "Invalid JSON input.")
        key = key_text(body.get("key_id", "3")) or "3"
        if not self.store.valid_key(key):
            return fail(400, 2004, f"Invalid key field id: {key}")
        if key in ("id", "uid") and not update:
            return fail(400, 2004, "Cannot use internal ID as key on contact creation.")
        list_id = body.get("contact_list_id")
        if "contacts" not in body:  # single-contact form: errors are top-level
            # A flat object: its key_id and contact_list_id sit beside the field values.
            single = {k: v for k, v in body.items() if k not in ("key_id", "contact_list_id")}
            ids, errors = self._upsert([single], key, create=create, update=update, list_id=list_id)
            if errors:
                (detail,) = errors.values()
                ((code, text),) = detail.items()
                return fail(400, int(code), text)
            return ok({"id": int(ids[0])})
        contacts = body["contacts"]
        if not isinstance(contacts, list):
            return fail(400, 10001, "Invalid data format for contacts. Array expected")
        if len(contacts) > MAX_BATCH:
            return fail(400, 1000, "The request exceeded the maximum batch size of 1,000")
        ids, errors = self._upsert(contacts, key, create=create, update=update, list_id=list_id)
        return ok({"ids": ids, "errors": errors_json(errors)})

    def _upsert(
        self, contacts: list[Any], key: str, *, create: bool, update: bool, list_id: Any
    ) -> tuple[list[int | str], dict[str, dict[str, str]]]:
        ids: list[int | str] = []
        errors: dict[str, dict[str, str]] = {}
        for position, raw in enumerate(contacts):
            payload = raw if isinstance(raw, dict) else {}
            value = key_text(payload.get(key))
            label = value or str(position)
            try:
                if not value:
                    raise ItemFailure(2005, f"No value provided for key field: {key}")
                if value in self.injected:
                    raise ItemFailure(*self.injected.pop(value))
                values = self.store.clean({str(k): v for k, v in payload.items()}, key)
                found = self.store.find(key, value)
                if len(found) > 1:
                    raise ItemFailure(
                        2010, f"More contacts found with the external ID: {key} - {value}"
                    )
                if found and not update:
                    raise ItemFailure(2009, f"Contact with the external id already exists: {key}")
                if found:
                    contact = found[0]
                    self.store.write(contact, values)
                    ids.append(str(contact.id))  # existing contacts: string ids
                elif create and key not in ("id", "uid"):
                    contact = self.store.create(values)
                    ids.append(contact.id)  # newly created: int ids
                else:
                    raise ItemFailure(
                        2008, f"No contact found with the external id: {key} - {value}"
                    )
                if list_id is not None:
                    self.add_members(list_id, [contact])
            except ItemFailure as exc:
                errors[label] = {str(exc.code): exc.message}
        return ids, errors

    def _getdata(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict) or "keyValues" not in body:
            return fail(400, 10001, "Missing parameter: keyValues")
        values, fields = body["keyValues"], body.get("fields", [])
        if not isinstance(values, list):
            return fail(400, 10001, "keyValues must be an array")
        if not isinstance(fields, list):
            return fail(400, 10001, "Fields must be an array")
        if len(values) > MAX_BATCH:
            return fail(400, 10001, "Max. number of contacts: 1000")
        key = key_text(body.get("keyId", "id")) or "id"
        if not self.store.valid_key(key):
            return fail(400, 2004, f"Invalid key field id: {key}")
        rows: list[dict[str, Any]] = []
        errors: list[dict[str, str]] = []
        for value in values:
            found = self.store.find(key, value)
            if not found:
                errors.append(
                    {
                        "key": key_text(value),
                        "errorCode": "2008",
                        "errorMsg": f"No contact found with the external id: {key}",
                    }
                )
            rows.extend(self.store.row(contact, fields) for contact in found)
        data: dict[str, Any] = {"errors": errors}
        if rows:  # as recorded: no "result" key when every key failed
            data["result"] = rows
        return ok(data)

    def _checkids(self, request: Request) -> Response:
        body = request.json()
        external = body.get("external_ids") if isinstance(body, dict) else None
        if not isinstance(external, list):
            return fail(400, 2003, "Invalid datatype for the list of external ids. Array expected.")
        if len(external) > MAX_BATCH:
            return fail(400, 2002, "The list of external ids exceeds the maximum size.")
        key = key_text(body.get("key_id", "id")) or "id"
        if not self.store.valid_key(key):
            return fail(400, 2004, f"Invalid key field id: {key}")
        multiple = bool(body.get("get_multiple_ids"))
        ids: dict[str, Any] = {}
        errors: dict[str, dict[str, str]] = {}
        for raw in external:
            value = key_text(raw)
            found = self.store.find(key, value)
            if not found:
                errors[value] = {"2008": f"No contact found with the external id: {key}"}
            elif len(found) > 1 and not multiple:
                errors[value] = {"2010": f"More than one contact found with the external id: {key}"}
            else:
                ids[value] = [str(c.id) for c in found] if multiple else str(found[0].id)
        return ok({"ids": ids if ids else [], "errors": errors_json(errors)})

    def _internal_id(self, request: Request) -> Response:
        key = request.params["key"]
        if not self.store.valid_key(key):
            return fail(400, 2004, f"Invalid key field id: {key}")
        try:
            contact = self.store.find_one(key, request.params["value"])
        except ItemFailure as exc:
            return fail(400, exc.code, exc.message)
        return ok({"id": str(contact.id)})

    def _delete(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict):
            return fail(400, 10001, "Invalid JSON input.")
        key = key_text(body.get("key_id", "3")) or "3"
        if not self.store.valid_key(key):
            return fail(400, 2004, f"Invalid key field id: {key}")
        raw = body.get(key)
        values = raw if isinstance(raw, list) else [raw]
        if not [v for v in values if key_text(v)]:
            return fail(400, 2005, f"No value provided for key field: {key}")
        doomed = [c for v in values for c in self.store.find(key, v)]
        if not doomed:
            return fail(404, 2008, "No contact found with the specified external ID")
        for contact in doomed:
            self.store.delete(contact)
        return ok({})

    def _query(self, request: Request) -> Response:
        """``GET contact/query/?return=<field>&<field>=<value>&limit=&offset=`` (int ids)."""
        args = dict(request.args)
        returned = args.pop("return", "")
        if not returned:
            return fail(400, 2014, "No field specified to return")
        if not self.store.valid_key(returned) or returned in ("id", "uid"):
            return fail(400, 2006, f"Invalid field id: {returned}")
        try:
            limit, offset = int(args.pop("limit", 10_000)), int(args.pop("offset", 0))
        except ValueError:
            return fail(400, 2016, "Invalid limit")
        args.pop("excludeempty", None)
        filters = [(k, v) for k, v in args.items() if self.store.valid_key(k)]
        matches = sorted(self.store.contacts.values(), key=lambda c: c.id)
        for key, value in filters:
            wanted = {c.id for c in self.store.find(key, value)}
            matches = [c for c in matches if c.id in wanted]
        rows = [
            {"id": c.id, returned: c.values.get(int(returned))}
            for c in matches[offset : offset + limit]
        ]
        return ok({"result": rows})
