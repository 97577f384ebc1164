"""The Emarsys record of one contact, read live (the explain page's "Fetch from Emarsys").

One ``contact/getdata`` call keyed on the contact's Emarsys internal id, asking for the
profile's mapped fields, e-mail, names, opt-in and the two Magento key fields. Field names
come from the field list cached in the client's configuration data (no extra API call);
fields the cache does not know are shown by id only.
"""

from __future__ import annotations

from typing import Any

from connectors.errors import ConfigurationError, NotFound
from contacts.emarsys import config
from contacts.emarsys.fields import CACHE_KEY, CUSTOMER_ID_FIELD, SUBSCRIBER_ID_FIELD
from contacts.models import ContactEntity
from profiles.models import Profile
from profiles.services.connections import emarsys_client

BASE_FIELDS = ("1", "2", "3", "31")  # first name, last name, e-mail, opt-in


def _cached_names(profile: Profile) -> dict[str, str]:
    """Field id → name from the client's cached Emarsys field list (may be empty)."""
    assert profile.client is not None
    cache = (profile.client.configuration_data or {}).get(CACHE_KEY) or {}
    names: dict[str, str] = {}
    for item in cache.get("fields") or []:
        if isinstance(item, dict) and item.get("id") is not None:
            names[str(item["id"])] = str(item.get("name") or "")
    return names


def _field_ids(profile: Profile, names: dict[str, str]) -> list[str]:
    """The base fields, the Magento key fields and the mapped fields (ids known only)."""
    by_name = {name.casefold(): fid for fid, name in names.items() if name}
    wanted: list[str] = list(BASE_FIELDS)
    for key_field in (CUSTOMER_ID_FIELD, SUBSCRIBER_ID_FIELD):
        if key_field.casefold() in by_name:
            wanted.append(by_name[key_field.casefold()])
    for row in config.effective(profile.settings)["field_mapping"]:
        target = row.get("emarsys") if isinstance(row, dict) else None
        if isinstance(target, dict):
            found = by_name.get(str(target.get("name") or "").strip().casefold())
            if found:
                wanted.append(found)
        elif target is not None:
            wanted.append(str(target).strip())
    return list(dict.fromkeys(f for f in wanted if f.isdigit()))


def _label(field_id: str, names: dict[str, str]) -> str:
    name = names.get(field_id)
    return f"{name} ({field_id})" if name else field_id


def emarsys_remote_record(*, profile: Profile, entity: ContactEntity) -> dict[str, Any]:
    """The contact's current Emarsys values: ``{"<name> (<field id>)": value}``.

    Keys are the bare field id when the cached field list has no name for it; ``id`` and
    ``uid`` are Emarsys' own. Raises :class:`~connectors.errors.ConnectorError` — also
    :class:`~connectors.errors.NotFound` when Emarsys has no contact with this id.
    """
    if profile.client is None:
        raise ConfigurationError(f"Profile '{profile.name}' has no Emarsys client.")
    if not entity.remote_id:
        raise ConfigurationError("This contact has no Emarsys internal id yet.")
    names = _cached_names(profile)
    api = emarsys_client(profile.client)
    result = api.get_contacts([entity.remote_id], key_id="id", fields=_field_ids(profile, names))
    row = next((r for r in result.rows if str(r.get("id")) == str(entity.remote_id)), None)
    if row is None:
        raise NotFound(f"Emarsys has no contact with internal id {entity.remote_id}.")
    record: dict[str, Any] = {}
    for key, value in row.items():
        record[key if key in ("id", "uid") else _label(key, names)] = value
    return record
