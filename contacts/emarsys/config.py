"""The type-specific settings of an ``emarsys_contact_sync`` profile: defaults, validation,
config-as-code conversion and the schedule arithmetic built on them.

Pure functions over ``Profile.settings`` (a dict): no database, no network.

Settings keys (all loadable from YAML, see :data:`CONFIG_KEYS`):

* ``sync_mode`` — ``realtime_failsafe`` (webhook + frequent poll, failures retried daily at
  the background runtime) or ``background_only`` (one daily run at the background runtime);
* ``background_runtime`` — ``HH:MM`` (the server's ``TIME_ZONE``);
* ``poll_interval_minutes`` — the incremental Magento poll in realtime-failsafe mode;
* ``export_types`` — ``customers`` | ``subscribers`` | ``both``;
* ``customers_list`` / ``subscribers_list`` — Emarsys contact list names (initial export);
* ``optin_map`` — Magento subscriber status → Emarsys Opt-In value (``""`` = not sent);
* ``field_mapping`` — rows ``{magento, emarsys, clear_when_empty?, choices?}``;
* ``webhook_secret`` — the HMAC secret Magento signs change notifications with.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from typing import Any

from contacts.services import sharing

REALTIME_FAILSAFE = "realtime_failsafe"
BACKGROUND_ONLY = "background_only"
SYNC_MODES = (REALTIME_FAILSAFE, BACKGROUND_ONLY)
EXPORT_TYPES = ("customers", "subscribers", "both")
# The Emarsys application types a custom field can be created with through the API.
CREATABLE_TYPES = ("shorttext", "longtext", "largetext", "numeric", "date", "url")
# Friendly names accepted in config files, stored as the Emarsys type they stand for.
TYPE_ALIASES = {"text": "longtext", "number": "numeric"}
FIELD_TYPES = {**{t: t for t in CREATABLE_TYPES}, **TYPE_ALIASES}
OPTIN_VALUES = (1, 2, "")
MAGENTO_STATUSES = ("1", "2", "3", "4")

DEFAULT_OPTIN_MAP: dict[str, int | str] = {"1": 1, "3": 2, "2": "", "4": ""}
DEFAULT_FIELD_MAPPING: list[dict[str, Any]] = [
    {"magento": "firstname", "emarsys": 1},
    {"magento": "lastname", "emarsys": 2},
    {"magento": "dob", "emarsys": 4},
    {"magento": "gender", "emarsys": 5},
    {"magento": "default_billing.street", "emarsys": 10},
    {"magento": "default_billing.city", "emarsys": 11},
    {"magento": "default_billing.postcode", "emarsys": 13},
    {"magento": "default_billing.country_id", "emarsys": 14},
    {"magento": "default_billing.telephone", "emarsys": 15},
    {"magento": "default_billing.company", "emarsys": 18},
]

CONFIG_KEYS = (
    "sync_mode",
    "background_runtime",
    "poll_interval_minutes",
    "export_types",
    "customers_list",
    "subscribers_list",
    "optin_map",
    "field_mapping",
    "webhook_secret",
    *sharing.CONFIG_KEYS,
)

_RUNTIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def default_settings() -> dict[str, Any]:
    """A fresh copy of the defaults."""
    return {
        "sync_mode": REALTIME_FAILSAFE,
        "background_runtime": "02:00",
        "poll_interval_minutes": 5,
        "export_types": "customers",
        "customers_list": "Magento customers",
        "subscribers_list": "Magento subscribers",
        "optin_map": dict(DEFAULT_OPTIN_MAP),
        "field_mapping": [dict(row) for row in DEFAULT_FIELD_MAPPING],
        "webhook_secret": "",
        "shared_email": sharing.FLAG,
        "website_priority": [],
    }


def effective(settings: dict[str, Any] | None) -> dict[str, Any]:
    """The profile's settings over the defaults (missing keys take the default)."""
    return {**default_settings(), **(settings or {})}


def types_of(value: str) -> tuple[str, ...]:
    """``both`` → ``("customers", "subscribers")``; one type → itself."""
    return ("customers", "subscribers") if value == "both" else (value,)


# -- validation ---------------------------------------------------------------------------


def validate(settings: dict[str, Any]) -> dict[str, list[str]]:
    """Field-keyed errors of the settings (keys as in :data:`CONFIG_KEYS`)."""
    s = effective(settings)
    errors: dict[str, list[str]] = {}

    def add(key: str, message: str) -> None:
        errors.setdefault(key, []).append(message)

    if s["sync_mode"] not in SYNC_MODES:
        add("sync_mode", f"Choose one of {', '.join(SYNC_MODES)}; got {s['sync_mode']!r}.")
    if not isinstance(s["background_runtime"], str) or not _RUNTIME.match(s["background_runtime"]):
        add("background_runtime", "Enter a time of day as HH:MM (24 h), e.g. 02:00.")
    poll = s["poll_interval_minutes"]
    if isinstance(poll, bool) or not isinstance(poll, int) or not 1 <= poll <= 60:
        add("poll_interval_minutes", "Enter a whole number of minutes from 1 to 60.")
    if s["export_types"] not in EXPORT_TYPES:
        add("export_types", f"Choose one of {', '.join(EXPORT_TYPES)}.")
    else:
        for kind in types_of(s["export_types"]):
            key = f"{kind}_list"
            if not str(s.get(key) or "").strip():
                add(key, f"Enter the Emarsys contact list the {kind} are exported into.")
    for key, message in _optin_map_errors(s["optin_map"]):
        add(key, message)
    for message in mapping_errors(s["field_mapping"]):
        add("field_mapping", message)
    for key, messages in sharing.sharing_validate(s).items():
        for message in messages:
            add(key, message)
    secret = s["webhook_secret"]
    if not isinstance(secret, str):
        add("webhook_secret", "The webhook secret is a string.")
    elif secret and len(secret) < 16:
        add("webhook_secret", "Use at least 16 characters (a random string).")
    return errors


def _optin_map_errors(value: Any) -> list[tuple[str, str]]:
    if not isinstance(value, dict):
        return [("optin_map", 'A mapping like {"1": 1, "3": 2, "2": "", "4": ""}.')]
    out = []
    for status, target in value.items():
        if str(status) not in MAGENTO_STATUSES:
            out.append(("optin_map", f"Unknown Magento subscriber status {status!r} (1–4)."))
        if target not in OPTIN_VALUES and str(target) not in ("1", "2"):
            out.append(
                ("optin_map", f'Status {status}: Opt-In must be 1, 2 or ""; got {target!r}.')
            )
        elif str(status) == "3" and str(target) == "1":
            out.append(
                (
                    "optin_map",
                    "Unsubscribed (3) cannot be sent as opted in (1): a person who unsubscribed "
                    "never becomes an opt-in without subscribing again.",
                )
            )
    return out


def mapping_errors(rows: Any) -> list[str]:
    """Problems of a ``field_mapping`` list, one message per row problem."""
    if not isinstance(rows, list):
        return ["The field mapping is a list of {magento, emarsys} rows."]
    errors = []
    for n, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            errors.append(f"Row {n}: expected {{magento: …, emarsys: …}}.")
            continue
        if not str(row.get("magento") or "").strip():
            errors.append(f"Row {n}: 'magento' names the Magento attribute.")
        target = row.get("emarsys")
        if isinstance(target, dict):
            if not str(target.get("name") or "").strip():
                errors.append(f"Row {n}: a new Emarsys field needs a 'name'.")
            kind = str(target.get("type") or "text").lower()
            if kind not in FIELD_TYPES:
                errors.append(
                    f"Row {n}: type {kind!r} cannot be created through the API "
                    f"(use {', '.join(sorted(set(FIELD_TYPES)))}; choice fields are made "
                    "in Emarsys)."
                )
        elif not str(target if target is not None else "").strip().isdigit():
            errors.append(f"Row {n}: 'emarsys' is a field id or {{name, type}}.")
        elif str(target).strip() in ("31", "3"):
            what = (
                "Opt-In (31) is synced two-way"
                if str(target).strip() == "31"
                else ("E-mail (3) is always synced")
            )
            errors.append(f"Row {n}: {what} and cannot be a mapping target.")
        if "choices" in row and not isinstance(row["choices"], dict):
            errors.append(f"Row {n}: 'choices' maps Magento values to Emarsys choice ids.")
    return errors


# -- config as code -------------------------------------------------------------------------


def from_config(values: dict[str, Any]) -> dict[str, Any]:
    """YAML keys → settings; ids and numbers are normalised to what the code expects."""
    out = default_settings()
    out.update({k: v for k, v in values.items() if k in CONFIG_KEYS})
    if isinstance(out.get("optin_map"), dict):
        out["optin_map"] = {
            str(k): (int(v) if str(v) in ("1", "2") else "") for k, v in out["optin_map"].items()
        }
    out.update(sharing.sharing_from_config(values))
    if isinstance(out.get("field_mapping"), list):
        out["field_mapping"] = [_with_emarsys_type(row) for row in out["field_mapping"]]
    if isinstance(out.get("poll_interval_minutes"), str) and out["poll_interval_minutes"].isdigit():
        out["poll_interval_minutes"] = int(out["poll_interval_minutes"])
    if out.get("background_runtime") is not None and not isinstance(out["background_runtime"], str):
        # YAML 1.1 reads an unquoted 02:00 as the sexagesimal integer 120.
        minutes = int(out["background_runtime"])
        out["background_runtime"] = f"{minutes // 60:02d}:{minutes % 60:02d}"
    return out


def _with_emarsys_type(row: Any) -> Any:
    """A new-field row's friendly type (``text``) stored as the Emarsys type it means."""
    if isinstance(row, dict) and isinstance(row.get("emarsys"), dict):
        target = dict(row["emarsys"])
        kind = str(target.get("type") or "longtext").lower()
        target["type"] = TYPE_ALIASES.get(kind, kind)
        return {**row, "emarsys": target}
    return row


def to_config(settings: dict[str, Any]) -> dict[str, Any]:
    """Settings → the YAML keys (cached ids and other internals are left out)."""
    s = effective(settings)
    return {key: s[key] for key in CONFIG_KEYS}


# -- schedules ------------------------------------------------------------------------------


def runtime(settings: dict[str, Any]) -> time:
    """The background runtime as a ``time`` (02:00 when invalid)."""
    match = _RUNTIME.match(str(effective(settings)["background_runtime"]))
    return time(int(match.group(1)), int(match.group(2))) if match else time(2, 0)


def daily_cron(settings: dict[str, Any]) -> str:
    """The cron expression of the daily background runtime."""
    at = runtime(settings)
    return f"{at.minute} {at.hour} * * *"


def drift_cron(settings: dict[str, Any]) -> str:
    """The daily drift check: an hour after the background runtime (after the back-sync
    and the reconcile)."""
    at = runtime(settings)
    return f"{at.minute} {(at.hour + 1) % 24} * * *"


def poll_cron(settings: dict[str, Any]) -> str:
    """Every ``poll_interval_minutes`` (hourly at 60)."""
    minutes = effective(settings)["poll_interval_minutes"]
    minutes = minutes if isinstance(minutes, int) and 1 <= minutes <= 60 else 5
    return "0 * * * *" if minutes == 60 else f"*/{minutes} * * * *"


def next_runtime(settings: dict[str, Any], now: datetime) -> datetime:
    """The next background runtime strictly after ``now`` (in ``now``'s time zone)."""
    at = runtime(settings)
    candidate = now.replace(hour=at.hour, minute=at.minute, second=0, microsecond=0)
    return candidate if candidate > now else candidate + timedelta(days=1)
