"""Plain result types returned by :class:`~connectors.emarsys.client.EmarsysClient`.

Every id is a ``str`` whatever JSON type the API used for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from connectors.emarsys.envelope import ItemError

EMAIL_FIELD = "3"
OPT_IN_FIELD = "31"
OPT_IN_TRUE = "1"
OPT_IN_FALSE = "2"


@dataclass(frozen=True)
class Field:
    """A contact field from ``GET field/translate/<lang>``."""

    id: str
    name: str
    application_type: str
    string_id: str | None = None


@dataclass(frozen=True)
class Choice:
    """A choice of a single/multi-choice field; send the ``id`` as the field value."""

    id: str
    choice: str
    bit_position: int | None = None


@dataclass(frozen=True)
class ContactList:
    """A contact list from ``GET contactlist``."""

    id: str
    name: str
    created: str | None = None


@dataclass(frozen=True)
class ContactResult:
    """What happened to one contact of an upsert.

    ``created`` comes from the id's JSON type (int = newly created, string = existing), a
    documented quirk of ``PUT contact/?create_if_not_exists=1``; None when the id could not
    be matched to the contact.
    """

    key: str
    id: str | None
    error: ItemError | None = None
    created: bool | None = None

    @property
    def ok(self) -> bool:
        """True when the contact was written."""
        return self.error is None


@dataclass
class UpsertResult:
    """Per-contact outcome of a (possibly split) batch upsert."""

    results: list[ContactResult] = field(default_factory=list)
    calls: int = 0

    @property
    def ids(self) -> list[str]:
        """Internal ids of the written contacts, in request order."""
        return [r.id for r in self.results if r.id is not None]

    @property
    def errors(self) -> list[ItemError]:
        """The per-contact failures."""
        return [r.error for r in self.results if r.error is not None]

    def by_key(self) -> dict[str, ContactResult]:
        """Results keyed by key value (the last one wins for repeated keys)."""
        return {r.key: r for r in self.results}


@dataclass
class GetDataResult:
    """``contact/getdata`` rows (field id → value, plus ``id``/``uid``) and errors."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    errors: list[ItemError] = field(default_factory=list)


@dataclass
class CheckIdsResult:
    """``contact/checkids``: key value → internal id (a list with ``get_multiple_ids``)."""

    ids: dict[str, str | list[str]] = field(default_factory=dict)
    errors: list[ItemError] = field(default_factory=list)


@dataclass
class ListWriteResult:
    """Outcome of creating a contact list or adding contacts to one."""

    list_id: str
    inserted: int | None = None
    errors: list[ItemError] = field(default_factory=list)


@dataclass(frozen=True)
class ExportStatus:
    """``GET export/<id>``: status is scheduled / in progress / ready / done / error."""

    id: str
    status: str
    file_name: str | None = None
    created: str | None = None
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        """True when the CSV can be downloaded."""
        return self.status in ("done", "ready")

    @property
    def failed(self) -> bool:
        """True when the export ended in error."""
        return self.status == "error"


@dataclass(frozen=True)
class OptInChange:
    """One contact whose opt-in changed in Emarsys (from the change export)."""

    contact_id: str
    key_value: str
    opt_in: bool | None
    row: dict[str, str] = field(default_factory=dict)
