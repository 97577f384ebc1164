"""Contact storage and validation of the Emarsys simulator.

Contacts are stored by internal id with a value index per field, so lookups by any key
field (e-mail, a custom "Magento Customer ID" field, ``id``/``uid``) are cheap. Values are
stored as strings (lists for multichoice), as getdata returns them. Duplicates on a
non-unique key are possible, exactly as in Emarsys, and answered with 2010.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from connectors.simulators.emarsys.data import CHOICE_TYPES, CHOICES, DATE_TYPES, FieldDef

EMAIL = 3
OPT_IN = 31
_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
INTERNAL_KEYS = ("id", "uid")


class ItemFailure(Exception):
    """One contact/key failed with an Emarsys replyCode."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class SimContact:
    """A stored contact."""

    id: int
    uid: str
    values: dict[int, Any] = field(default_factory=dict)
    created_at: float = 0.0
    changes: list[tuple[float, str]] = field(default_factory=list)  # (epoch, origin)

    def as_json(self) -> dict[str, Any]:
        """Test-friendly form: field ids as string keys."""
        return {
            "id": str(self.id),
            "uid": self.uid,
            "fields": {str(k): v for k, v in sorted(self.values.items())},
        }


def key_text(value: Any) -> str:
    """A key value as echoed in errors and used for lookups."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


class ContactStore:
    """All contacts of the simulated account."""

    def __init__(self, fields: dict[int, FieldDef], clock: Callable[[], float]) -> None:
        self.fields = fields
        self.clock = clock
        self.contacts: dict[int, SimContact] = {}
        self._index: dict[int, dict[str, set[int]]] = {}
        self._by_uid: dict[str, int] = {}
        self.next_id = 1_000_001

    # -- lookup ------------------------------------------------------------------------

    def valid_key(self, key: str) -> bool:
        """True for ``id``, ``uid`` or an existing field id."""
        return key in INTERNAL_KEYS or (key.isdigit() and int(key) in self.fields)

    def find(self, key: str, value: Any) -> list[SimContact]:
        """Contacts whose ``key`` (field id, ``id`` or ``uid``) equals ``value``."""
        text = key_text(value)
        if key == "id":
            contact = self.contacts.get(int(text)) if text.isdigit() else None
            return [contact] if contact else []
        if key == "uid":
            cid = self._by_uid.get(text)
            return [self.contacts[cid]] if cid is not None else []
        fid = int(key)
        ids = self._index.get(fid, {}).get(self._norm(fid, text), set())
        return [self.contacts[i] for i in sorted(ids)]

    def find_one(self, key: str, value: Any) -> SimContact:
        """Exactly one contact, else ItemFailure 2008 / 2010."""
        found = self.find(key, value)
        if not found:
            raise ItemFailure(
                2008, f"No contact found with the external id: {key} - {key_text(value)}"
            )
        if len(found) > 1:
            raise ItemFailure(
                2010, f"More contacts found with the external ID: {key} - {key_text(value)}"
            )
        return found[0]

    @staticmethod
    def _norm(fid: int, text: str) -> str:
        return text.lower() if fid == EMAIL else text

    # -- validation ----------------------------------------------------------------------

    def clean(self, raw: dict[str, Any], key: str) -> dict[int, Any]:
        """Validate a contact payload; return field id → stored value (None clears)."""
        values: dict[int, Any] = {}
        for name, value in raw.items():
            if name == "source_id":
                continue
            if name in INTERNAL_KEYS:
                if name == key:
                    continue
                raise ItemFailure(2007, "Cannot set id or uid on contact creation")
            if not name.isdigit() or int(name) not in self.fields:
                raise ItemFailure(2007, f"Invalid field id: {name}")
            fdef = self.fields[int(name)]
            if fdef.read_only:
                raise ItemFailure(2007, f"Invalid field id: {name}. The field is read-only")
            values[fdef.id] = self._clean_value(fdef, value, is_key=(name == key))
        return values

    def _clean_value(self, fdef: FieldDef, value: Any, *, is_key: bool) -> Any:
        if value is None or value == "":
            return None
        kind, fid = fdef.application_type, fdef.id
        if kind == "multichoice":
            if not isinstance(value, list) or not value:
                raise ItemFailure(2007, f"Invalid data format for field id: {fid}. Array expected")
            return [key_text(v) for v in value]
        if isinstance(value, list | dict):
            raise ItemFailure(2007, f"Invalid data format for field id: {fid}. Scalar expected")
        text = key_text(value)
        if fid == EMAIL and not _EMAIL_RE.match(text):
            if is_key:
                raise ItemFailure(2005, "Invalid key field value: invalid e-mail address")
            raise ItemFailure(2007, f"Invalid data format for field id: {fid}")
        if fid == OPT_IN or kind in CHOICE_TYPES:
            allowed = {cid for cid, _ in CHOICES.get(fid, ())}
            if text not in allowed:
                raise ItemFailure(2007, f"Invalid choice id for field id: {fid}")
        elif kind in DATE_TYPES:
            try:
                date.fromisoformat(text)
            except ValueError as exc:
                raise ItemFailure(2007, f"Invalid date format for field id: {fid}") from exc
            if len(text) != 10:
                raise ItemFailure(2007, f"Invalid date format for field id: {fid}")
        elif kind == "numeric":
            try:
                float(text)
            except ValueError as exc:
                raise ItemFailure(2007, f"Invalid data format for field id: {fid}") from exc
        elif kind == "voucher":
            raise ItemFailure(
                2007, "Invalid field type: voucher. The value of vouchers cannot be changed."
            )
        return text

    # -- writes ----------------------------------------------------------------------------

    def create(self, values: dict[int, Any], origin: str = "api") -> SimContact:
        """Store a new contact."""
        contact = SimContact(id=self.next_id, uid=secrets.token_hex(5), created_at=self.clock())
        self.next_id += 1
        self.contacts[contact.id] = contact
        self._by_uid[contact.uid] = contact.id
        self.write(contact, values, origin)
        return contact

    def write(
        self,
        contact: SimContact,
        values: dict[int, Any],
        origin: str = "api",
        at: float | None = None,
    ) -> bool:
        """Apply values (None clears); log a change for the change export.

        Emarsys' change export reports API writes only when they touched the e-mail or the
        opt-in, every form change (a subscriber clicking unsubscribe), and no imports.
        """
        tracked = False
        changed = False
        for fid, value in values.items():
            old = contact.values.get(fid)
            if old == value:
                continue
            changed = True
            tracked = tracked or fid in (EMAIL, OPT_IN)
            if old is not None:
                self._unindex(fid, old, contact.id)
            if value is None:
                contact.values.pop(fid, None)
            else:
                contact.values[fid] = value
                self._reindex(fid, value, contact.id)
        if changed and ((origin == "api" and tracked) or origin == "form"):
            contact.changes.append((self.clock() if at is None else at, origin))
        return changed

    def _reindex(self, fid: int, value: Any, cid: int) -> None:
        if isinstance(value, list):
            return
        self._index.setdefault(fid, {}).setdefault(self._norm(fid, str(value)), set()).add(cid)

    def _unindex(self, fid: int, value: Any, cid: int) -> None:
        if isinstance(value, list):
            return
        bucket = self._index.get(fid, {}).get(self._norm(fid, str(value)))
        if bucket is not None:
            bucket.discard(cid)

    def delete(self, contact: SimContact) -> None:
        """Hard-delete a contact."""
        for fid, value in contact.values.items():
            self._unindex(fid, value, contact.id)
        self._by_uid.pop(contact.uid, None)
        self.contacts.pop(contact.id, None)

    # -- reads -------------------------------------------------------------------------

    def row(self, contact: SimContact, fields: list[Any]) -> dict[str, Any]:
        """A getdata row: requested field values plus id and uid.

        Empty fields are left out, as in the recorded example (fields 1, 2, 3 requested,
        no "2" in the rows).
        """
        row: dict[str, Any] = {}
        for fid in fields:
            text = key_text(fid)
            if text.isdigit() and contact.values.get(int(text)) is not None:
                row[text] = contact.values[int(text)]
        row["id"] = str(contact.id)
        row["uid"] = contact.uid
        return row

    def display(self, fid: int, value: Any) -> str:
        """CSV form of a value: choice fields show the choice text."""
        if value is None:
            return ""
        labels = dict(CHOICES.get(fid, ()))
        if isinstance(value, list):
            return ",".join(labels.get(str(v), str(v)) for v in value)
        return labels.get(str(value), str(value))
