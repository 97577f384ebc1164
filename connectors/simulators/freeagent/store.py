"""The FreeAgent simulator's contact store: validation, defaults, rendering, list filters.

Rendering follows the recordings: keys in the API's order, empty values omitted (never
``null``), second-precision ``.000Z`` timestamps, money as strings, ``url`` on the host
that served the request.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from connectors.freeagent.client import LOCALES as CLIENT_LOCALES
from connectors.freeagent.countries import is_freeagent_country
from connectors.freeagent.fields import BOOL_FIELDS, INT_FIELDS, WRITABLE

# Key order of a live contact (recordings), with the documented optional keys slotted in.
ORDER = (
    "url",
    "active_projects_count",
    "organisation_name",
    "first_name",
    "last_name",
    "created_at",
    "updated_at",
    "email",
    "billing_email",
    "phone_number",
    "mobile",
    "address1",
    "address2",
    "address3",
    "town",
    "region",
    "postcode",
    "contact_name_on_invoices",
    "country",
    "charge_sales_tax",
    "locale",
    "default_payment_terms_in_days",
    "sales_tax_registration_number",
    "account_balance",
    "status",
    "uses_contact_invoice_sequence",
    "emails_invoices_automatically",
    "emails_payment_reminders",
    "emails_thank_you_notes",
    "uses_contact_level_email_settings",
)
DEFAULTS: dict[str, Any] = {
    "contact_name_on_invoices": True,
    "country": "United Kingdom",
    "charge_sales_tax": "Auto",
    "locale": "en",
    "status": "Active",
    "uses_contact_invoice_sequence": False,
}
READ_ONLY_DEFAULTS: dict[str, Any] = {
    "active_projects_count": 0,
    "account_balance": "0.0",
    "emails_invoices_automatically": False,
    "emails_payment_reminders": False,
    "emails_thank_you_notes": False,
    "uses_contact_level_email_settings": False,
}
CHARGE_SALES_TAX = ("Auto", "Always", "Never")
STATUSES = ("Active", "Hidden")
LOCALES = frozenset(CLIENT_LOCALES)
ACTIVE_VIEWS = ("active", "clients", "suppliers")
EMPTY_VIEWS = ("active_projects", "completed_projects", "open_clients", "open_suppliers")


def fmt_time(epoch: float) -> str:
    """``2025-10-03T21:36:19.000Z`` — FreeAgent keeps whole seconds."""
    return datetime.fromtimestamp(int(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def parse_time(value: str) -> float:
    """Parse an ISO-8601 timestamp (``Z`` or offset; naive = UTC) to epoch seconds."""
    text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


def weak_etag(payload: Any) -> str:
    """A weak ETag over the JSON form of ``payload``."""
    raw = json.dumps(payload, sort_keys=True).encode("utf-8")
    return 'W/"' + hashlib.md5(raw, usedforsecurity=False).hexdigest() + '"'


class InvalidContact(Exception):
    """Validation failed; ``messages`` are FreeAgent-style sentences."""

    def __init__(self, messages: list[str]) -> None:
        super().__init__("; ".join(messages))
        self.messages = messages


@dataclass
class Contact:
    """A stored contact: writable attributes plus server-side bookkeeping."""

    id: int
    attrs: dict[str, Any]
    created_at: float
    updated_at: float
    extra: dict[str, Any] = field(default_factory=dict)

    def sort_name(self) -> str:
        parts = (self.attrs.get(k, "") for k in ("organisation_name", "last_name", "first_name"))
        return " ".join(p for p in parts if p).lower()

    def render(self, origin: str) -> dict[str, Any]:
        values: dict[str, Any] = {**READ_ONLY_DEFAULTS, **self.extra, **self.attrs}
        values["url"] = f"{origin}/v2/contacts/{self.id}"
        values["created_at"] = fmt_time(self.created_at)
        values["updated_at"] = fmt_time(self.updated_at)
        return {k: values[k] for k in ORDER if k in values and values[k] not in (None, "")}


def clean_fields(raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Coerce writable fields; unknown and read-only keys are ignored, as Rails does.

    Returns (changes, errors); a change of ``None`` means "clear this field".
    """
    changes: dict[str, Any] = {}
    errors: list[str] = []
    for key, value in raw.items():
        if key not in WRITABLE:
            continue
        if value is None or value == "":
            changes[key] = None
        elif key in BOOL_FIELDS:
            if isinstance(value, bool):
                changes[key] = value
            elif str(value).lower() in ("true", "1", "false", "0"):
                changes[key] = str(value).lower() in ("true", "1")
            else:
                errors.append(f"{key.replace('_', ' ').capitalize()} is not a boolean")
        elif key in INT_FIELDS:
            try:
                changes[key] = int(value)
            except (TypeError, ValueError):
                errors.append(f"{key.replace('_', ' ').capitalize()} is not a number")
        else:
            changes[key] = str(value).strip() if isinstance(value, str | int | float) else None
            if changes[key] is None:
                errors.append(f"{key.replace('_', ' ').capitalize()} is invalid")
    return changes, errors


def validate(attrs: dict[str, Any], *, reject_unknown_country: bool) -> list[str]:
    """FreeAgent's contact rules, as far as the evidence shows them."""
    errors: list[str] = []
    has_person = bool(attrs.get("first_name")) and bool(attrs.get("last_name"))
    if not attrs.get("organisation_name") and not has_person:
        errors.append("Contact must have either an organisation name or a first and last name")
    country = attrs.get("country")
    if country and reject_unknown_country and not is_freeagent_country(country):
        errors.append(f"Country {country} is not a valid country")
    if attrs.get("charge_sales_tax") not in CHARGE_SALES_TAX:
        errors.append("Charge sales tax is not included in the list")
    if attrs.get("status") not in STATUSES:
        errors.append("Status is not included in the list")
    if attrs.get("locale") not in LOCALES:
        errors.append("Locale is not included in the list")
    return errors


def apply_changes(base: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated with ``changes`` (``None`` clears a field)."""
    merged = dict(base)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def select(
    contacts: list[Contact], *, view: str, sort: str, updated_since: float | None
) -> list[Contact]:
    """Filter and order as ``GET /v2/contacts`` does. Raises ``ValueError`` on a bad view."""
    if view == "all":
        chosen = list(contacts)
    elif view == "hidden":
        chosen = [c for c in contacts if c.attrs.get("status") == "Hidden"]
    elif view in ACTIVE_VIEWS:
        chosen = [c for c in contacts if c.attrs.get("status") == "Active"]
    elif view in EMPTY_VIEWS:
        chosen = []  # the simulator has no projects, invoices or bills
    else:
        raise ValueError(view)
    if updated_since is not None:
        chosen = [c for c in chosen if c.updated_at >= int(updated_since)]
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    if key == "created_at":
        chosen.sort(key=lambda c: (int(c.created_at), c.id), reverse=descending)
    elif key == "updated_at":
        chosen.sort(key=lambda c: (int(c.updated_at), c.id), reverse=descending)
    else:
        chosen.sort(key=lambda c: (c.sort_name(), c.id), reverse=descending)
    return chosen
