"""Magento person → Emarsys contact fields. Pure functions: no database, no network.

The rules the peer connectors got wrong, enforced here:

* an empty Magento value is **never sent** (PUT overwrites every field it carries, so
  sending ``null``/``""`` blanks the Emarsys value) unless the row says ``clear_when_empty``;
* single-choice fields get the Emarsys **choice id** (resolved from the choice list);
* dates are ``YYYY-MM-DD``;
* Customer ID and Subscriber ID are always included; subscribers carry only first name,
  last name, e-mail and subscriber id, and once known only e-mail;
* Opt-In is not a mapped field: the content carries the Magento status, and
  :mod:`contacts.emarsys.consent` decides (two-way) whether an opt-in value is sent.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from connectors.emarsys.models import Choice
from connectors.freeagent.countries import country_name
from contacts.people import listed, mapping_of, type_problem

EMAIL = "3"
FIRST_NAME = "1"
LAST_NAME = "2"
OPT_IN = "31"
DATE_TYPES = frozenset({"date", "birthdate"})
CHOICE_TYPES = frozenset({"singlechoice", "multichoice"})
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")

# Magento's gender option ids → the labels an Emarsys Gender field offers.
GENDER_LABELS: dict[str, tuple[str, ...]] = {
    "1": ("Male", "Man"),
    "2": ("Female", "Woman"),
    "3": ("Not specified", "Other", "Unknown"),
}
COUNTRY_ALIASES: dict[str, tuple[str, ...]] = {
    "US": ("United States of America", "USA"),
    "GB": ("Great Britain", "UK"),
    "CZ": ("Czech Republic", "Czechia"),
    "KR": ("South Korea", "Korea, Republic of"),
    "RU": ("Russian Federation", "Russia"),
}
# Paths that are not customer attributes but facts about the store.
STORE_PATHS = frozenset({"store_code", "website_code", "store_name"})


@dataclass(frozen=True)
class Identity:
    """Field ids of the custom key fields "Magento Customer ID" / "Magento Subscriber ID"."""

    customer_field: str
    subscriber_field: str


@dataclass(frozen=True)
class Row:
    """One resolved mapping row: a Magento attribute path into an Emarsys field."""

    magento: str
    field_id: str
    field_type: str = "longtext"  # Emarsys application_type
    clear_when_empty: bool = False
    choices: Mapping[str, str] = field(default_factory=dict)  # explicit value → choice id


@dataclass
class Content:
    """The contact as Emarsys should have it, by field id.

    ``update_keys`` names the fields sent once the contact is known in Emarsys (``None``:
    all of them); the digest covers exactly those, so a subscriber whose names changed (they
    are never updated) counts as unchanged.
    """

    fields: dict[str, Any]
    update_keys: frozenset[str] | None = None
    warnings: list[str] = field(default_factory=list)
    # The Magento side of the opt-in (never in ``fields``: see contacts.emarsys.consent).
    status: int | None = None
    changed_at: str | None = None

    def to_send(self, *, known: bool) -> dict[str, Any]:
        """The fields of a create (``known=False``) or of an update."""
        if not known or self.update_keys is None:
            return dict(self.fields)
        return {k: v for k, v in self.fields.items() if k in self.update_keys}

    def digest(self) -> str:
        """What "unchanged" is decided on: a hash of the update shape."""
        return content_digest(self.to_send(known=True))

    def changes(self, sent: Mapping[str, Any]) -> dict[str, Any]:
        """The update fields whose value differs from what was last ``sent``."""
        return {k: v for k, v in self.to_send(known=True).items() if not same(sent.get(k), v)}


def same(a: Any, b: Any) -> bool:
    """Equal as JSON (what was stored as sent went through JSON)."""
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def content_digest(fields: Mapping[str, Any]) -> str:
    """A stable hash of field id → value."""
    text = json.dumps({str(k): v for k, v in fields.items()}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def is_empty(value: Any) -> bool:
    """None, blank strings, empty lists and dicts are "no value"."""
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple | dict):
        return not value
    return False


# -- reading Magento -------------------------------------------------------------------------


def default_address(customer: Mapping[str, Any], kind: str) -> dict[str, Any] | None:
    """The default billing/shipping address (by the customer's id pointer, else the flag)."""
    addresses = [a for a in listed(customer.get("addresses")) if isinstance(a, dict)]
    wanted = str(customer.get(kind) or "")
    for address in addresses:
        if wanted and str(address.get("id")) == wanted:
            return address
    return next((a for a in addresses if a.get(kind) is True), None)


def _flatten(value: Any) -> Any:
    """Magento shapes → one scalar: street lines joined, region objects to their name."""
    if isinstance(value, list):
        parts = [" ".join(str(v).split()) for v in value if not is_empty(v)]
        return ", ".join(parts)
    if isinstance(value, dict) and "region" in value:
        return value.get("region")
    return value


def magento_value(
    customer: Mapping[str, Any], path: str, stores: Mapping[str, Any] | None = None
) -> Any:
    """The value of ``path`` on a Magento customer.

    Paths: a customer attribute (``firstname``, ``dob``, ``taxvat`` …), an address part
    (``default_billing.city``, ``default_shipping.street`` …), ``store_code`` /
    ``website_code``, ``custom_attributes.<code>`` or just ``<code>`` of a custom attribute,
    ``extension_attributes.<name>``.
    """
    stores = stores or {}
    if path in STORE_PATHS:
        if path == "website_code":
            return (stores.get("websites") or {}).get(str(customer.get("website_id")))
        store = (stores.get("stores") or {}).get(str(customer.get("store_id"))) or {}
        return store.get("name" if path == "store_name" else "code")
    head, _, rest = path.partition(".")
    if head in ("default_billing", "default_shipping") and rest:
        address = default_address(customer, head) or {}
        return _flatten(address.get(rest))
    custom = {
        str(a.get("attribute_code")): a.get("value")
        for a in listed(customer.get("custom_attributes"))
        if isinstance(a, dict)
    }
    if head == "custom_attributes" and rest:
        return _flatten(custom.get(rest))
    if head == "extension_attributes" and rest:
        return _flatten(mapping_of(customer.get("extension_attributes")).get(rest))
    if path in customer:
        return _flatten(customer.get(path))
    return _flatten(custom.get(path))


# -- writing Emarsys ---------------------------------------------------------------------------


def _fold(text: str) -> str:
    return " ".join(text.replace(".", " ").split()).casefold()


def choice_id(
    path: str, value: Any, choices: Sequence[Choice], override: Mapping[str, str] | None = None
) -> str | None:
    """The Emarsys choice id for a Magento value, or None when nothing matches.

    Tried in order: the row's explicit ``choices`` map, the value as a label, and for
    gender option ids / ISO country codes the labels they stand for.
    """
    text = str(value).strip()
    if override and text in override:
        return str(override[text])
    candidates = [text]
    leaf = path.rsplit(".", 1)[-1]
    if leaf == "gender":
        candidates.extend(GENDER_LABELS.get(text, ()))
    if leaf in ("country_id", "country"):
        code = text.upper()
        name = country_name(code)
        candidates.extend([name] if name else [])
        candidates.extend(COUNTRY_ALIASES.get(code, ()))
    by_label = {_fold(c.choice): c.id for c in choices}
    for candidate in candidates:
        found = by_label.get(_fold(candidate))
        if found is not None:
            return found
    return None


def emarsys_value(
    value: Any, row: Row, choices: Sequence[Choice] = ()
) -> tuple[Any | None, str | None]:
    """Convert one Magento value for the row's Emarsys field: ``(value, warning)``.

    ``value`` None means "do not send". A value that cannot be converted is not sent
    either, and the warning says why.
    """
    if is_empty(value):
        return None, None
    if isinstance(value, dict):
        return None, f"{row.magento}: {type_problem(value)}; not sent."
    kind = row.field_type
    if kind in DATE_TYPES:
        text = str(value).strip()
        if not _DATE.match(text):
            return None, f"{row.magento}: {text!r} is not a date; not sent."
        try:
            date.fromisoformat(text[:10])
        except ValueError:
            return None, f"{row.magento}: {text!r} is not a real date; not sent."
        return text[:10], None
    if kind == "numeric":
        text = str(value).strip()
        try:
            number = float(text)
        except ValueError:
            return None, f"{row.magento}: {text!r} is not a number; not sent."
        return (int(number) if number.is_integer() else number), None
    if kind == "singlechoice":
        found = choice_id(row.magento, value, choices, row.choices)
        if found is None:
            return None, f"{row.magento}: no Emarsys choice of field {row.field_id} for {value!r}."
        return found, None
    if kind == "multichoice":
        items = value if isinstance(value, list) else str(value).split(",")
        ids = [choice_id(row.magento, v, choices, row.choices) for v in items if not is_empty(v)]
        if not ids or None in ids:
            return None, f"{row.magento}: no Emarsys choices of field {row.field_id} for {value!r}."
        return ids, None
    if isinstance(value, bool):
        return ("1" if value else "0"), None
    return " ".join(str(value).split()), None


def customer_status(customer: Mapping[str, Any], subscriber_status: int | None) -> int | None:
    """The subscription status of a customer: the subscriber row's, else the
    ``is_subscribed`` flag (true → 1, false → 3, absent → unknown)."""
    if subscriber_status is not None:
        return subscriber_status
    flag = mapping_of(customer.get("extension_attributes")).get("is_subscribed")
    if flag is None:
        return None
    return 1 if flag else 3


def customer_content(
    customer: Mapping[str, Any],
    *,
    rows: Sequence[Row],
    identity: Identity,
    subscriber_id: int | None = None,
    subscriber_status: int | None = None,
    subscriber_changed_at: str | None = None,
    choices: Mapping[str, Sequence[Choice]] | None = None,
    stores: Mapping[str, Any] | None = None,
) -> Content:
    """A registered customer (merged with their subscription, if any)."""
    choices = choices or {}
    fields: dict[str, Any] = {}
    warnings: list[str] = []
    for row in rows:
        raw = magento_value(customer, row.magento, stores)
        value, warning = emarsys_value(raw, row, choices.get(row.field_id, ()))
        if warning:
            warnings.append(warning)
        if value is not None:
            fields[row.field_id] = value
        elif row.clear_when_empty and is_empty(raw):
            fields[row.field_id] = ""  # explicitly asked for: blank the Emarsys value
    fields.pop(OPT_IN, None)  # opt-in is decided two-way (contacts.emarsys.consent)
    fields[EMAIL] = str(customer.get("email") or "").strip()
    fields[identity.customer_field] = int(customer["id"])
    if subscriber_id is not None:
        fields[identity.subscriber_field] = int(subscriber_id)
    else:
        fields.pop(identity.subscriber_field, None)
    status = customer_status(customer, subscriber_status)
    return Content(
        fields=fields,
        warnings=warnings,
        status=status,
        changed_at=subscriber_changed_at if subscriber_status is not None else None,
    )


def subscriber_content(
    *,
    email: str,
    status: int | None,
    subscriber_id: int,
    identity: Identity,
    firstname: str = "",
    lastname: str = "",
    customer_id: int | None = None,
    changed_at: str | None = None,
) -> Content:
    """A newsletter subscriber: names only on creation, then e-mail (and opt-in)."""
    fields: dict[str, Any] = {}
    if not is_empty(firstname):
        fields[FIRST_NAME] = firstname.strip()
    if not is_empty(lastname):
        fields[LAST_NAME] = lastname.strip()
    fields[EMAIL] = email.strip()
    fields[identity.subscriber_field] = int(subscriber_id)
    if customer_id is not None:
        fields[identity.customer_field] = int(customer_id)
    keys = {EMAIL, identity.subscriber_field, identity.customer_field}
    return Content(fields=fields, update_keys=frozenset(keys), status=status, changed_at=changed_at)


def diff(sent: Mapping[str, Any], remote: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Field by field: what would change (``{"field": {"from": …, "to": …}}``)."""
    out = {}
    for key, value in sent.items():
        before = remote.get(str(key))
        if str(before if before is not None else "") != str(value):
            out[str(key)] = {"from": before, "to": value}
    return out
