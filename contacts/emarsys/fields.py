"""The Emarsys side of the mapping: field ids, the two key fields, choices — resolved
through the API and cached in the Emarsys client's configuration data.

"Magento Customer ID" and "Magento Subscriber ID" are created (numeric) when the account
lacks them; mapping rows that name a new field (``{name, type}``) are created likewise.
Dry runs create nothing: a missing field shows as ``new:<name>`` in the payload.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from connectors.emarsys.client import EmarsysClient
from connectors.emarsys.envelope import reply_code_of
from connectors.emarsys.models import Choice, Field
from connectors.errors import ConnectorError
from connectors.http import call_with_retries
from contacts.emarsys import config
from contacts.emarsys.mapping import CHOICE_TYPES, Identity, Row
from profiles.models import Client, Profile

logger = logging.getLogger("contactsync.emarsys_contact_sync")

CACHE_KEY = "emarsys_contact_sync"
CUSTOMER_ID_FIELD = "Magento Customer ID"
SUBSCRIBER_ID_FIELD = "Magento Subscriber ID"
FIELDS_TTL_SECONDS = 3600.0
CHOICES_TTL_SECONDS = 24 * 3600.0
NEW_PREFIX = "new:"
FIELD_EXISTS = 9002  # "A field with this name already exists" (another worker won a race)
READ_ONLY = frozenset({"0", "27", "28", "29", "30", "32", "33", "34", "36", "47", "48"})


@dataclass
class Schema:
    """Everything a batch needs to turn people into Emarsys field values."""

    identity: Identity
    rows: list[Row]
    choices: dict[str, list[Choice]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """False in a dry run that would have to create fields first."""
        ids = (self.identity.customer_field, self.identity.subscriber_field)
        return not any(i.startswith(NEW_PREFIX) for i in ids)


T = TypeVar("T")


def retried(fn: Callable[[], T]) -> T:
    """Schema calls are retried like contact writes: one 503 never defers a batch."""
    return call_with_retries(fn, max_attempts=4, max_rate_limit_wait=120.0)


# Emarsys' system fields by id, as its documentation and UI name them (the account's own
# fields come from the list collected on the client).
SYSTEM_FIELD_NAMES = {
    "0": "Interests",
    "1": "First Name",
    "2": "Last Name",
    "3": "E-Mail",
    "4": "Date of Birth",
    "5": "Gender",
    "6": "Marital Status",
    "9": "Title",
    "10": "Address",
    "11": "City",
    "12": "State",
    "13": "ZIP",
    "14": "Country",
    "15": "Phone",
    "16": "Fax",
    "18": "Company",
    "25": "URL",
    "31": "Opt-In",
    "35": "Registration Language",
    "37": "Mobile",
    "46": "Salutation",
}


def field_labels(client: Client | None) -> dict[str, str]:
    """Emarsys field id → "Name (#id)": the system fields and those collected on ``client``
    (what a dry run, the CLI and drift reports show instead of bare ids)."""
    labels = {fid: f"{name} (#{fid})" for fid, name in SYSTEM_FIELD_NAMES.items()}
    for known in ((client.configuration_data or {}).get("fields") or []) if client else []:
        if isinstance(known, dict) and known.get("id") is not None:
            fid = str(known["id"])
            labels[fid] = f"{known.get('name') or 'Field'} (#{fid})"
    return labels


def is_placeholder(field_id: str) -> bool:
    return field_id.startswith(NEW_PREFIX)


class _Cache:
    """Read-modify-write of the client's cached Emarsys data (only our key)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.data: dict[str, Any] = dict((client.configuration_data or {}).get(CACHE_KEY) or {})
        self.dirty = False

    def save(self) -> None:
        if not self.dirty:
            return
        fresh = Client.objects.only("configuration_data").get(pk=self.client.pk)
        data = {**(fresh.configuration_data or {}), CACHE_KEY: self.data}
        Client.objects.filter(pk=self.client.pk).update(configuration_data=data)
        self.client.configuration_data = data


class _Fields:
    def __init__(self, api: EmarsysClient, cache: _Cache, *, create: bool) -> None:
        self.api = api
        self.cache = cache
        self.create = create
        cached = cache.data.get("fields")
        fresh = time.time() - float(cache.data.get("fields_at") or 0) < FIELDS_TTL_SECONDS
        self.fields = [Field(**f) for f in cached] if cached and fresh else None
        self.refreshed = False

    def _load(self) -> list[Field]:
        if self.fields is None:
            self._refresh()
        assert self.fields is not None
        return self.fields

    def _refresh(self) -> None:
        self.fields = retried(self.api.list_fields)
        self.refreshed = True
        self.cache.data["fields"] = [f.__dict__ for f in self.fields]
        self.cache.data["fields_at"] = time.time()
        self.cache.dirty = True

    def by_id(self, field_id: str) -> Field | None:
        found = next((f for f in self._load() if f.id == field_id), None)
        if found is None and not self.refreshed:
            self._refresh()
            found = next((f for f in self._load() if f.id == field_id), None)
        return found

    def _named(self, name: str) -> Field | None:
        folded = name.casefold()
        return next((f for f in self._load() if f.name.casefold() == folded), None)

    def by_name(self, name: str) -> Field | None:
        found = self._named(name)
        if found is None and not self.refreshed:
            self._refresh()
            found = self._named(name)
        return found

    def ensure(self, name: str, application_type: str) -> Field:
        """The field called ``name``; created when missing (a placeholder in dry runs)."""
        found = self.by_name(name)
        if found is not None:
            return found
        if not self.create:
            return Field(id=f"{NEW_PREFIX}{name}", name=name, application_type=application_type)
        try:
            # A retried create that did land answers "already exists": handled below.
            new_id = retried(partial(self.api.create_field, name, application_type))
        except ConnectorError as exc:
            if not _already_exists(exc):
                raise
            # Another batch created it between our look and our create: use theirs.
            self._refresh()
            found = self._named(name)
            if found is None:
                raise
            logger.info("Emarsys field %r was created meanwhile (id %s)", name, found.id)
            return found
        logger.info("created Emarsys field %r (%s) as id %s", name, application_type, new_id)
        created = Field(id=new_id, name=name, application_type=application_type)
        self._load().append(created)
        self.cache.data["fields"] = [f.__dict__ for f in self._load()]
        self.cache.dirty = True
        return created


def _already_exists(exc: ConnectorError) -> bool:
    """Emarsys' answer to creating a field whose name is taken (9002, or its wording)."""
    return reply_code_of(exc) == FIELD_EXISTS or "already exists" in exc.message.casefold()


def schema_resolve(*, profile: Profile, api: EmarsysClient, create: bool = True) -> Schema:
    """Resolve the profile's mapping against the Emarsys account (see module docstring)."""
    assert profile.client is not None
    cache = _Cache(profile.client)
    fields = _Fields(api, cache, create=create)
    identity = Identity(
        customer_field=fields.ensure(CUSTOMER_ID_FIELD, "numeric").id,
        subscriber_field=fields.ensure(SUBSCRIBER_ID_FIELD, "numeric").id,
    )
    settings = config.effective(profile.settings)
    rows: list[Row] = []
    warnings: list[str] = []
    for n, raw in enumerate(settings["field_mapping"], start=1):
        target = raw.get("emarsys")
        if isinstance(target, dict):
            kind = config.FIELD_TYPES.get(str(target.get("type") or "text").lower(), "longtext")
            found: Field | None = fields.ensure(str(target["name"]).strip(), kind)
        else:
            found = fields.by_id(str(target).strip())
        if found is None:
            warnings.append(f"Mapping row {n}: Emarsys has no field {target!r}; row ignored.")
            continue
        if found.id in READ_ONLY:
            warnings.append(f"Mapping row {n}: field {found.id} is read-only; row ignored.")
            continue
        rows.append(
            Row(
                magento=str(raw["magento"]).strip(),
                field_id=found.id,
                field_type=found.application_type,
                clear_when_empty=bool(raw.get("clear_when_empty")),
                choices={str(k): str(v) for k, v in (raw.get("choices") or {}).items()},
            )
        )
    choices = {
        row.field_id: choices_for(api, cache, row.field_id)
        for row in rows
        if row.field_type in CHOICE_TYPES and not is_placeholder(row.field_id)
    }
    cache.save()
    return Schema(identity=identity, rows=rows, choices=choices, warnings=warnings)


def choices_for(api: EmarsysClient, cache: _Cache, field_id: str) -> list[Choice]:
    """The choices of a choice field, from the cache (a day) or the choices API."""
    entry = (cache.data.get("choices") or {}).get(field_id)
    if entry and time.time() - float(entry.get("at") or 0) < CHOICES_TTL_SECONDS:
        return [Choice(**c) for c in entry["items"]]
    found = retried(partial(api.field_choices, field_id))
    cache.data.setdefault("choices", {})[field_id] = {
        "at": time.time(),
        "items": [c.__dict__ for c in found],
    }
    cache.dirty = True
    return found
